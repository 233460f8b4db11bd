package main

import (
	"strings"
	"testing"
)

// ARM64 kernels from the command line (issue 13): profile add|set
// --kernel-arm64/--initrd-arm64, show, and render --firmware arm64, which
// names grubaa64.efi and the ARM64 kernel, or refuses a profile without one.
// (Profile validation errors exit 1 like the other profile checks.)
func TestARM64ProfileCLI(t *testing.T) {
	db := sourceDB(t)
	mustRun(t, db, "profile", "set", "linux", "--kernel", "vmlinuz", "--initrd", "initrd.img", "--force")
	steps := []struct {
		args   []string
		status int
		out    string // in stdout, or stderr when the status is not 0 or err is set
		stderr bool
	}{
		{[]string{"render", "umu20", "--firmware", "arm64"}, exitFailed, "no ARM64 kernel: node umu20 is ARM64 UEFI (firmware arm64): set one with 'profile set linux --kernel-arm64 FILE --initrd-arm64 FILE'", false},
		{[]string{"profile", "set", "linux", "--initrd-arm64", "arm64/initrd.gz", "--force"}, exitFailed, "needs its ARM64 kernel", false},
		{[]string{"profile", "set", "windows", "--kernel-arm64", "arm64/vmlinuz", "--force"}, exitFailed, "only goes with kind linux or nfsroot", false},
		{[]string{"profile", "set", "linux", "--kernel-arm64", "arm64/vmlinuz", "--initrd-arm64", "arm64/initrd.gz", "--boot-root", t.TempDir()}, exitFailed, "initrd.img, arm64/vmlinuz, arm64/initrd.gz (copy them there", false},
		{[]string{"profile", "set", "linux", "--kernel-arm64", "arm64/vmlinuz", "--initrd-arm64", "arm64/initrd.gz", "--force"}, exitOK, "", false},
		{[]string{"profile", "show", "linux"}, exitOK, "kernel (ARM64):  arm64/vmlinuz", false},
		{[]string{"profile", "show", "linux", "--json"}, exitOK, `"kernel_arm64": "arm64/vmlinuz"`, false},
		{[]string{"render", "umu20", "--firmware", "arm64"}, exitOK, "linux /arm64/vmlinuz", false},
		{[]string{"render", "umu20", "--firmware", "arm64"}, exitOK, "DHCP boot file grubaa64.efi", true},
		{[]string{"render", "umu20", "--firmware", "uefi"}, exitOK, "if [ \"$grub_cpu\" = \"arm64\" ]; then", false},
	}
	for _, s := range steps {
		out, errs, st := run(t, db, s.args...)
		if st != exitOK || s.stderr {
			out = errs
		}
		if st != s.status || !strings.Contains(out, s.out) {
			t.Errorf("node-switch %s: exit %d, want %d; output lacks %q:\n%s", strings.Join(s.args, " "), st, s.status, s.out, out)
		}
	}
}
