package qemu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/assets"
	"github.com/node-switch/node-switch/e2e/netlab"
)

// Issue 13's machines: today's firmware.
var (
	sbNode = labNode{"sb61", "52:54:00:99:00:61", "10.99.0.61", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e161"}
)

// secureBootRefusals are what OVMF, shim and the signed GRUB print when they
// refuse an image: a boot that must pass watches for them to fail fast.
var secureBootRefusals = []string{"Access Denied", "Security Violation", "bad shim signature", "Verification failed"}

// TestSecureBoot (issue 13, part 1): OVMF with Microsoft's keys enrolled
// and Secure Boot enforcing. One machine, three boots:
//  1. control: its profile names the self-built (unsigned) GRUB, and the
//     firmware refuses it, so the run proves enforcement;
//  2. moved to a profile on the default chain (signed, since bootroot init
//     installed it): shim -> Debian's signed GRUB -> Debian's signed kernel
//     served by node-switch -> the marker initramfs, the kernel saying
//     Secure Boot is on;
//  3. moved to the Windows cluster (GRUB chainloads the boot manager's
//     place on the ESP, a signed shim -> GRUB stand-in): its disk.
func TestSecureBoot(t *testing.T) {
	for _, f := range []string{ovmfCodeMS, ovmfVarsMS} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("needs %s (apt-get install ovmf)", f)
		}
	}
	for _, f := range []struct{ file, pkg string }{{assets.SignedShimX64, "shim-signed"}, {assets.SignedGRUBX64, "grub-efi-amd64-signed"}} {
		if _, err := os.Stat(f.file); err != nil {
			t.Skipf("needs %s (apt-get install %s)", f.file, f.pkg)
		}
	}
	t.Parallel()
	a := getAssets(t)
	disk, err := assets.SecureBootESPDisk()
	if err != nil {
		t.Fatal(err)
	}
	l, n := newNodeSwitchLab(t, a)
	if _, err := os.Stat(filepath.Join(n.BootRoot, "signed", "shimx64.efi")); err != nil {
		t.Fatalf("bootroot init did not install the signed chain: %v", err)
	}
	n.MustCLI(t, "profile", "add", "linux-unsigned", "--kind", "linux", "--uefi-chain", "self-built",
		"--kernel", "vmlinuz", "--initrd", "initrd.gz", "--append", consoleAppend, "--boot-root", n.BootRoot)
	n.MustCLI(t, "cluster", "add", "linux-unsigned", "--profile", "linux-unsigned")
	n.MustCLI(t, "node", "add", sbNode.Name, "--mac", sbNode.MAC, "--ip", sbNode.IP, "--cluster", "linux-unsigned")
	if out := n.MustCLI(t, "render", sbNode.Name, "--firmware", "uefi", "--boot-root", n.BootRoot); !strings.Contains(out, "# UEFI chain: self-built") ||
		!strings.Contains(out, "DHCP boot file grubx64.efi") {
		t.Errorf("render of the control does not name the self-built chain:\n%s", out)
	}
	n.Serve()

	cfg := sbNode.vm(true, disk)
	cfg.SecureBoot = true
	vm := l.StartVM(t, cfg)
	defer vm.Stop()

	res, err := vm.WaitMarker("Access Denied", append([]string{assets.Marker}, ovmfNetBootFailed)...)
	if err != nil {
		t.Fatalf("control: the unsigned GRUB was not refused: %v\n%s", err, vm.Console(3000))
	}
	if !strings.Contains(res.Line, "PXEv4") {
		t.Errorf("control: refusal %q is not of the network boot entry", res.Line)
	}
	t.Logf("secure boot: unsigned GRUB refused by the firmware after %.1fs: %s", res.Elapsed.Seconds(), res.Line)

	n.MustCLI(t, "move", sbNode.Name, "--to", "linux", "--reason", "e2e secure boot: signed chain")
	if out := n.MustCLI(t, "render", sbNode.Name, "--firmware", "uefi", "--boot-root", n.BootRoot); !strings.Contains(out, "# UEFI chain: signed") ||
		!strings.Contains(out, "DHCP boot file signed/shimx64.efi") {
		t.Errorf("render does not name the signed chain:\n%s", out)
	}
	if err := vm.Reset(); err != nil {
		t.Fatal(err)
	}
	res = wait(t, vm, n, assets.MarkerLinux, append([]string{ovmfNetBootFailed}, secureBootRefusals...)...)
	serial, _ := os.ReadFile(vm.Serial)
	if !strings.Contains(string(serial), "Secure boot enabled") {
		t.Errorf("the kernel did not report Secure Boot enabled:\n%s", vm.Console(3000))
	}
	t.Logf("secure boot: shim -> signed GRUB -> signed kernel -> marker after %.1fs", res.Elapsed.Seconds())

	n.MustCLI(t, "move", sbNode.Name, "--to", "windows", "--reason", "e2e secure boot: local disk")
	if err := vm.Reset(); err != nil {
		t.Fatal(err)
	}
	res = wait(t, vm, n, assets.MarkerWindowsUEFI, secureBootRefusals...)
	if !strings.Contains(res.Line, "EFI/Microsoft/Boot") {
		t.Errorf("chainload under Secure Boot booted %q, want the boot manager's place EFI/Microsoft/Boot", res.Line)
	}
	t.Logf("secure boot: move -> windows, reset -> disk after %.1fs", res.Elapsed.Seconds())
}

// ovmfNoIPv6 turns OVMF's IPv6 network stack off (no PXE or HTTP boot
// over IPv6): a node whose network boot entry gets no boot file then
// reaches its disk without waiting on IPv6. A real site sets the same in
// the firmware's setup (network boot: IPv4 PXE only).
var ovmfNoIPv6 = []string{"-fw_cfg", "name=opt/org.tianocore/IPv6Support,string=n"}

var localNode = labNode{"uefi62", "52:54:00:99:00:62", "10.99.0.62", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e162"}

// ovmfMenu is what OVMF prints when a boot entry returned EFI_SUCCESS: it
// then opens its boot manager menu (UiApp) instead of trying the next entry.
const ovmfMenu = `loading Boot0000 "UiApp"`

// TestUEFILocalDiskMethods (issue 13, part 2): the UEFI local-disk methods
// that leave the network, booted for real. "none": the DHCP answer carries
// no boot file, OVMF's network entries fail at once (PXE: no boot file;
// HTTP boot: a URL that is never served) and the next entry (the disk,
// \EFI\BOOT\BOOTX64.EFI) boots. "exit": GRUB loads and reads the node's
// config. Debian 12's GRUB (2.06) can only exit with EFI_SUCCESS, and
// EDK2's boot manager answers a successful return with its menu, not the
// next entry (a plain "exit" config ends there: ovmfMenu is a fail marker),
// so the config chainloads the disk's removable-media loader first: the
// disk's marker names BOOTX64.EFI. One machine, moved from one to the
// other.
func TestUEFILocalDiskMethods(t *testing.T) {
	t.Parallel()
	a := getAssets(t)
	l, n := newNodeSwitchLab(t, a)
	for _, m := range []string{"none", "exit"} {
		n.MustCLI(t, "profile", "add", "windows-"+m, "--kind", "localdisk", "--uefi-local-boot", m)
		n.MustCLI(t, "cluster", "add", "windows-"+m, "--profile", "windows-"+m)
	}
	n.MustCLI(t, "node", "add", localNode.Name, "--mac", localNode.MAC, "--ip", localNode.IP, "--cluster", "windows-none")
	// The HTTP endpoint on (serve's default): OVMF's HTTP boot entry then
	// gets a URI that fails at once instead of retrying DHCP for a minute.
	n.Serve("--http-listen", ":8080")
	cfg := localNode.vm(true, a.ESPDisk)
	cfg.Extra = ovmfNoIPv6
	vm := l.StartVM(t, cfg)
	defer vm.Stop()

	res := wait(t, vm, n, assets.MarkerWindowsUEFI, ovmfMenu)
	if !strings.Contains(res.Line, "loader=BOOTX64.EFI") {
		t.Errorf("none: booted %q, want the disk's fallback loader BOOTX64.EFI", res.Line)
	}
	t.Logf("UEFI local disk none: marker after %.1fs", res.Elapsed.Seconds())

	n.MustCLI(t, "move", localNode.Name, "--to", "windows-exit", "--reason", "e2e UEFI local disk exit")
	if err := vm.Reset(); err != nil {
		t.Fatal(err)
	}
	res = wait(t, vm, n, assets.MarkerWindowsUEFI, ovmfMenu)
	if !strings.Contains(res.Line, "loader=BOOTX64.EFI") {
		t.Errorf("exit: booted %q, want the disk's fallback loader BOOTX64.EFI", res.Line)
	}
	serial, _ := os.ReadFile(vm.Serial)
	if !strings.Contains(string(serial), "boots its local disk (cluster windows-exit)") {
		t.Errorf("exit: the disk booted without GRUB reading the node's exit config:\n%s", vm.Console(3000))
	}
	t.Logf("UEFI local disk exit: GRUB -> the disk's EFI/BOOT loader after %.1fs", res.Elapsed.Seconds())
}

var httpBootNode = labNode{"uefi63", "52:54:00:99:00:63", "10.99.0.63", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e163"}

// ovmfHTTPBootFailed is what OVMF prints when its HTTP boot entry gives up.
const ovmfHTTPBootFailed = `failed to load Boot[0-9A-F]+ "UEFI HTTPv4`

// TestUEFIHTTPBoot (issue 13, part 3): native UEFI HTTP boot with TFTP off
// on the server. The node's profile says --uefi-boot http: OVMF's PXE
// entry gets an offer with no boot file and fails at once, its HTTP entry
// asks with option 60 HTTPClient and gets the self-built GRUB by URL,
// GRUB reads the node's config over HTTP and loads kernel and initrd over
// HTTP to the marker. A capture on the bridge shows no TFTP packet at all.
func TestUEFIHTTPBoot(t *testing.T) {
	t.Parallel()
	a := getAssets(t)
	l, n := newNodeSwitchLab(t, a)
	n.MustCLI(t, "profile", "add", "linux-uefihttp", "--kind", "linux", "--uefi-boot", "http",
		"--kernel", "vmlinuz", "--initrd", "initrd.gz", "--append", consoleAppend, "--boot-root", n.BootRoot)
	n.MustCLI(t, "cluster", "add", "linux-uefihttp", "--profile", "linux-uefihttp")
	n.MustCLI(t, "node", "add", httpBootNode.Name, "--mac", httpBootNode.MAC, "--ip", httpBootNode.IP, "--cluster", "linux-uefihttp")
	out := n.MustCLI(t, "render", httpBootNode.Name, "--firmware", "uefi", "--server-ip", ServerIP, "--boot-root", n.BootRoot)
	for _, want := range []string{"DHCP boot URI http://10.99.0.1:8080/grubx64.efi", "linux (http,10.99.0.1:8080)/vmlinuz", "by native UEFI HTTP boot"} {
		if !strings.Contains(out, want) {
			t.Errorf("render does not say %q:\n%s", want, out)
		}
	}
	n.Serve("--http-listen", ":8080", "--tftp-listen", "")
	capture := l.NS.Start(nil, "tcpdump", "-i", Bridge, "-n", "-l", "-U", "udp port 69")
	if !netlab.WaitFor(30*time.Second, func() bool { return strings.Contains(capture.Output(), "listening on") }) {
		t.Fatalf("tcpdump did not start: %s", capture.Output())
	}
	cfg := httpBootNode.vm(true, "")
	cfg.Extra = ovmfNoIPv6
	vm := l.StartVM(t, cfg)
	defer vm.Stop()
	res := wait(t, vm, n, assets.MarkerLinux, ovmfHTTPBootFailed)
	capture.Stop()
	serial, _ := os.ReadFile(vm.Serial)
	if !strings.Contains(string(serial), "HTTP Boot") {
		t.Errorf("the console does not show OVMF's HTTP boot:\n%s", vm.Console(3000))
	}
	var tftp []string
	for _, line := range strings.Split(capture.Output(), "\n") {
		if strings.Contains(line, " > ") {
			tftp = append(tftp, line)
		}
	}
	if len(tftp) > 0 {
		t.Errorf("%d TFTP packets on the wire during an HTTP boot:\n%s", len(tftp), strings.Join(tftp, "\n"))
	}
	// The DHCP reply's log line names grubx64.efi too (its boot file URL):
	// only the HTTP server's own line shows the file was fetched.
	if log := n.Log(); !servedOverHTTP(log, "grubx64.efi") {
		t.Errorf("the server's log does not show grubx64.efi served over HTTP:\n%s", tail(log, 4000))
	}
	t.Logf("UEFI HTTP boot (TFTP off): marker after %.1fs", res.Elapsed.Seconds())
}

// servedOverHTTP reports whether serve's debug log has the HTTP server
// reading a path that ends in file ("http read" line, slog text format).
func servedOverHTTP(log, file string) bool {
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `msg="http read"`) {
			continue
		}
		for _, f := range strings.Fields(line) {
			if path, ok := strings.CutPrefix(f, "path="); ok && strings.HasSuffix(strings.Trim(path, `"`), "/"+file) {
				return true
			}
		}
	}
	return false
}

var ipxeNode = labNode{"ipxe64", "52:54:00:99:00:64", "10.99.0.64", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e164"}

// TestIPXEScript (issue 13, part 4): SeaBIOS's iPXE ROM is already iPXE,
// so its DHCP request (option 175) gets an "#!ipxe" script rendered from
// the node's profile by URL, and loads kernel and initrd over HTTP (TFTP
// is off on the server). Moved to a local-disk profile with --local-boot
// chain, the script's sanboot boots the disk's MBR.
func TestIPXEScript(t *testing.T) {
	t.Parallel()
	a := getAssets(t)
	l, n := newNodeSwitchLab(t, a)
	n.MustCLI(t, "profile", "add", "windows-sanboot", "--kind", "localdisk", "--local-boot", "chain")
	n.MustCLI(t, "cluster", "add", "windows-sanboot", "--profile", "windows-sanboot")
	n.MustCLI(t, "node", "add", ipxeNode.Name, "--mac", ipxeNode.MAC, "--ip", ipxeNode.IP, "--cluster", "linux")
	out := n.MustCLI(t, "render", ipxeNode.Name, "--firmware", "ipxe", "--server-ip", ServerIP, "--boot-root", n.BootRoot)
	for _, want := range []string{"DHCP boot file http://10.99.0.1:8080/ipxe.cfg-01-52-54-00-99-00-64", "#!ipxe\n# node-switch: node ipxe64",
		"kernel http://10.99.0.1:8080/vmlinuz initrd=initrd0 console=ttyS0,115200"} {
		if !strings.Contains(out, want) {
			t.Errorf("render --firmware ipxe does not say %q:\n%s", want, out)
		}
	}
	n.Serve("--http-listen", ":8080", "--tftp-listen", "")
	vm := l.StartVM(t, ipxeNode.vm(false, a.BIOSDisk))
	defer vm.Stop()
	res := wait(t, vm, n, assets.MarkerLinux)
	log := n.Log()
	if !strings.Contains(log, "path=/ipxe.cfg-01-52-54-00-99-00-64 client=10.99.0.64 node=ipxe64 rendered=true") {
		t.Errorf("the node did not read its iPXE script over HTTP:\n%s", tail(log, 4000))
	}
	if strings.Contains(log, "pxelinux") {
		t.Errorf("an iPXE client was sent pxelinux:\n%s", tail(log, 4000))
	}
	t.Logf("iPXE script (SeaBIOS iPXE ROM, TFTP off): Linux marker after %.1fs", res.Elapsed.Seconds())

	n.MustCLI(t, "move", ipxeNode.Name, "--to", "windows-sanboot", "--reason", "e2e iPXE sanboot")
	if err := vm.Reset(); err != nil {
		t.Fatal(err)
	}
	res = wait(t, vm, n, assets.MarkerWindowsBIOS)
	serial, _ := os.ReadFile(vm.Serial)
	if !strings.Contains(string(serial), "boots its local disk (cluster windows-sanboot): first disk") {
		t.Errorf("the disk booted without the iPXE script's sanboot:\n%s", vm.Console(3000))
	}
	t.Logf("iPXE script: move -> sanboot, reset -> disk's MBR after %.1fs", res.Elapsed.Seconds())
}

var arm64Node = labNode{"arm65", "52:54:00:99:00:65", "10.99.0.65", ""}

// TestARM64 (issue 13, part 3): an ARM64 UEFI machine (QEMU virt,
// Cortex-A57 under TCG, AAVMF) PXE boots with option 93 = 11 and gets the
// ARM64 GRUB bootroot init built (grubaa64.efi); its profile carries both
// kernels, and GRUB boots Debian's arm64 kernel and the arm64 marker
// initramfs. Once the node is recorded as ARM64, a profile with no ARM64
// kernel is refused it (the server logs why, render says so). Moved to a
// local-disk cluster (--uefi-local-boot exit), GRUB chainloads the disk's
// EFI/BOOT/BOOTAA64.EFI.
func TestARM64(t *testing.T) {
	RequireQEMU(t)
	netlab.Require(t, ARM64Needs...)
	if _, err := os.Stat("/usr/lib/grub/arm64-efi/efinet.mod"); err != nil {
		t.Skip("needs grub-efi-arm64-bin:arm64 (dpkg --add-architecture arm64; apt-get update; apt-get install grub-efi-arm64-bin:arm64)")
	}
	t.Parallel()
	a := getAssets(t)
	kernel, err := assets.DebianKernelARM64()
	if err != nil {
		t.Fatal(err)
	}
	initrd, err := assets.MarkerInitramfsARM64()
	if err != nil {
		t.Fatal(err)
	}
	disk, err := assets.ESPDiskARM64()
	if err != nil {
		t.Fatal(err)
	}
	l, n := newNodeSwitchLab(t, a)
	if _, err := os.Stat(filepath.Join(n.BootRoot, "grubaa64.efi")); err != nil {
		t.Fatalf("bootroot init did not build the ARM64 GRUB: %v", err)
	}
	copyFile(t, kernel, filepath.Join(n.BootRoot, "arm64", "vmlinuz"))
	copyFile(t, initrd, filepath.Join(n.BootRoot, "arm64", "initrd.gz"))
	n.MustCLI(t, "profile", "add", "linux-mixed", "--kind", "linux", "--kernel", "vmlinuz", "--initrd", "initrd.gz",
		"--kernel-arm64", "arm64/vmlinuz", "--initrd-arm64", "arm64/initrd.gz", "--append", "console=ttyAMA0", "--boot-root", n.BootRoot)
	n.MustCLI(t, "cluster", "add", "linux-mixed", "--profile", "linux-mixed")
	n.MustCLI(t, "profile", "add", "windows-exit", "--kind", "localdisk", "--uefi-local-boot", "exit")
	n.MustCLI(t, "cluster", "add", "windows-exit", "--profile", "windows-exit")
	n.MustCLI(t, "node", "add", arm64Node.Name, "--mac", arm64Node.MAC, "--ip", arm64Node.IP, "--cluster", "linux-mixed")
	if out := n.MustCLI(t, "render", arm64Node.Name, "--firmware", "arm64", "--boot-root", n.BootRoot); !strings.Contains(out, "DHCP boot file grubaa64.efi") ||
		!strings.Contains(out, "linux /arm64/vmlinuz console=ttyAMA0") {
		t.Errorf("render --firmware arm64 does not name grubaa64.efi and the ARM64 kernel:\n%s", out)
	}
	n.Serve()
	cfg := arm64Node.vm(true, disk)
	cfg.Arch, cfg.MemMiB = ArchARM64, 1024
	vm := l.StartVM(t, cfg)
	defer vm.Stop()

	res := wait(t, vm, n, assets.MarkerLinux, ovmfNetBootFailed)
	log := n.Log()
	if !strings.Contains(log, "grubaa64.efi") {
		t.Errorf("the server's log does not show grubaa64.efi served:\n%s", tail(log, 4000))
	}
	if !strings.Contains(res.Line, "console=ttyAMA0") {
		t.Errorf("marker %q: not the profile's command line", res.Line)
	}
	t.Logf("ARM64 (AAVMF, TCG): PXE option 93 = 11 -> grubaa64.efi -> Debian arm64 kernel -> marker after %.1fs", res.Elapsed.Seconds())

	// The sighting (firmware arm64) is written within the DHCP server's
	// flush interval; from then on render knows the node is ARM64.
	if !netlab.WaitFor(30*time.Second, func() bool {
		out, _ := n.CLI("node", "list", arm64Node.Name)
		return strings.Contains(out, "arm64")
	}) {
		t.Fatalf("the node's firmware was not recorded as arm64:\n%s", n.MustCLI(t, "node", "list", arm64Node.Name))
	}
	if out := n.MustCLI(t, "render", arm64Node.Name, "--boot-root", n.BootRoot); !strings.Contains(out, "# ARM64 node") {
		t.Errorf("render of the recorded ARM64 node does not pick the ARM64 kernel:\n%s", out)
	}
	n.MustCLI(t, "move", arm64Node.Name, "--to", "linux", "--reason", "e2e ARM64: profile without an ARM64 kernel")
	out, err := n.CLI("render", arm64Node.Name, "--boot-root", n.BootRoot)
	if err == nil || !strings.Contains(out, "no ARM64 kernel") || !strings.Contains(out, "--kernel-arm64") {
		t.Errorf("render of an ARM64 node on an x86-only profile: %v:\n%s", err, out)
	}
	if err := vm.Reset(); err != nil {
		t.Fatal(err)
	}
	if !netlab.WaitFor(BootTimeout, func() bool { return strings.Contains(n.Log(), "no ARM64 kernel") }) {
		t.Fatalf("the server did not log the refusal:\n%s\n--- console:\n%s", tail(n.Log(), 4000), vm.Console(3000))
	}
	t.Logf("ARM64 node on an x86-only profile: refused after %.1fs", time.Since(vm.t0).Seconds())

	n.MustCLI(t, "move", arm64Node.Name, "--to", "windows-exit", "--reason", "e2e ARM64: local disk")
	if err := vm.Reset(); err != nil {
		t.Fatal(err)
	}
	res = wait(t, vm, n, assets.MarkerWindowsUEFI, ovmfMenu)
	if !strings.Contains(res.Line, "loader=BOOTAA64.EFI") {
		t.Errorf("booted %q, want the disk's ARM64 fallback loader BOOTAA64.EFI", res.Line)
	}
	t.Logf("ARM64: move -> windows-exit, reset -> grubaa64.efi -> disk's BOOTAA64.EFI after %.1fs", res.Elapsed.Seconds())
}

// kernelPanic fails a boot whose kernel came up without its initramfs
// (the EFI stub loads only the initrds its command line names) at once.
const kernelPanic = "Kernel panic - not syncing"

var ipxeEFINode = labNode{"ipxe66", "52:54:00:99:00:66", "10.99.0.66", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e166"}

// TestIPXEEFI (issue 13, part 4, UEFI half): OVMF (Secure Boot off) whose
// profiles name iPXE's EFI binary as the UEFI boot file (--boot-file
// uefi=ipxe.efi, installed by bootroot init from Debian's ipxe). OVMF's
// PXE client loads ipxe.efi over TFTP; iPXE asks DHCP again (option 175),
// gets its "#!ipxe" script by URL and loads kernel and initrd over HTTP.
// Moved to a local-disk profile, the script's local-disk branch runs on
// ${platform} efi: it leaves iPXE with an error, so EDK2's boot manager
// tries its next entry (the HTTP entry fails at once, then the disk's
// \EFI\BOOT\BOOTX64.EFI) instead of opening its menu, which a plain
// "exit" (EFI_SUCCESS) gets: ovmfMenu is a fail marker.
func TestIPXEEFI(t *testing.T) {
	t.Parallel()
	a := getAssets(t)
	l, n := newNodeSwitchLab(t, a)
	if _, err := os.Stat(filepath.Join(n.BootRoot, "ipxe.efi")); err != nil {
		t.Skipf("bootroot init installed no ipxe.efi (apt-get install ipxe): %v", err)
	}
	n.MustCLI(t, "profile", "add", "linux-ipxe", "--kind", "linux", "--boot-file", "uefi=ipxe.efi",
		"--kernel", "vmlinuz", "--initrd", "initrd.gz", "--append", consoleAppend, "--boot-root", n.BootRoot)
	n.MustCLI(t, "cluster", "add", "linux-ipxe", "--profile", "linux-ipxe")
	n.MustCLI(t, "profile", "add", "windows-ipxe", "--kind", "localdisk", "--boot-file", "uefi=ipxe.efi")
	n.MustCLI(t, "cluster", "add", "windows-ipxe", "--profile", "windows-ipxe")
	n.MustCLI(t, "node", "add", ipxeEFINode.Name, "--mac", ipxeEFINode.MAC, "--ip", ipxeEFINode.IP, "--cluster", "linux-ipxe")
	if out := n.MustCLI(t, "render", ipxeEFINode.Name, "--firmware", "uefi", "--boot-root", n.BootRoot); !strings.Contains(out, "DHCP boot file ipxe.efi") {
		t.Errorf("render --firmware uefi does not name ipxe.efi:\n%s", out)
	}
	n.Serve("--http-listen", ":8080")
	cfg := ipxeEFINode.vm(true, a.ESPDisk)
	cfg.Extra = ovmfNoIPv6
	vm := l.StartVM(t, cfg)
	defer vm.Stop()

	res := wait(t, vm, n, assets.MarkerLinux, ovmfNetBootFailed, kernelPanic)
	log := n.Log()
	for _, want := range []string{"ipxe.efi", "path=/ipxe.cfg-01-52-54-00-99-00-66 client=10.99.0.66 node=ipxe66 rendered=true"} {
		if !strings.Contains(log, want) {
			t.Errorf("the server's log does not show %q:\n%s", want, tail(log, 4000))
		}
	}
	if strings.Contains(log, "grubx64.efi") {
		t.Errorf("a node whose UEFI boot file is ipxe.efi was sent GRUB:\n%s", tail(log, 4000))
	}
	t.Logf("iPXE EFI (OVMF PXE -> TFTP ipxe.efi -> script -> HTTP kernel): Linux marker after %.1fs", res.Elapsed.Seconds())

	n.MustCLI(t, "move", ipxeEFINode.Name, "--to", "windows-ipxe", "--reason", "e2e iPXE EFI local disk")
	if err := vm.Reset(); err != nil {
		t.Fatal(err)
	}
	res = wait(t, vm, n, assets.MarkerWindowsUEFI, ovmfMenu)
	if !strings.Contains(res.Line, "loader=BOOTX64.EFI") {
		t.Errorf("booted %q, want the disk's fallback loader BOOTX64.EFI", res.Line)
	}
	serial, _ := os.ReadFile(vm.Serial)
	if !strings.Contains(string(serial), "boots its local disk (cluster windows-ipxe)") {
		t.Errorf("the disk booted without the iPXE script's local-disk branch:\n%s", vm.Console(3000))
	}
	t.Logf("iPXE EFI: move -> local disk, reset -> disk's BOOTX64.EFI after %.1fs", res.Elapsed.Seconds())
}
