// Package sshe2e tests the SSH front door, the parallel reboot and the hooks
// against real peers: OpenSSH's ssh client and sshd, run in network
// namespaces the tests create, and (when it can run) Slurm's slurmctld.
package sshe2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
)

var admin = nodes.Actor{Name: "e2e", Channel: nodes.ChannelCLI, From: "test"}

// inventory makes a store with a linux and a windows (localdisk) cluster and
// the given nodes, named n01..., addressed base+i.
func inventory(t *testing.T, dir string, linux, windows int, base netip.Addr) string {
	t.Helper()
	path := filepath.Join(dir, "inventory.db")
	st, err := nodes.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	must(t, st.AddProfile(ctx, admin, nodes.Profile{Name: "linux", Kind: nodes.KindLinux, Kernel: "vmlinuz", Initrd: "initrd.img"}))
	must(t, st.AddProfile(ctx, admin, nodes.Profile{Name: "windows", Kind: nodes.KindLocalDisk}))
	must(t, st.AddCluster(ctx, admin, nodes.Cluster{Name: "linux", Profile: "linux"}))
	must(t, st.AddCluster(ctx, admin, nodes.Cluster{Name: "windows", Profile: "windows"}))
	ip := base
	for i := 1; i <= linux+windows; i++ {
		ip = ip.Next()
		name, cluster := fmt.Sprintf("n%02d", i), "linux"
		if i > linux {
			name, cluster = fmt.Sprintf("w%02d", i-linux), "windows"
		}
		_, err := st.AddNode(ctx, admin, nodes.Node{Name: name, MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff), IP: ip, Cluster: cluster}, "e2e")
		must(t, err)
	}
	return path
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// keygen makes an unencrypted key pair with ssh-keygen (extra args select
// type and format) and returns the private key's path.
func keygen(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	out, err := exec.Command("ssh-keygen", append([]string{"-q", "-N", "", "-C", name, "-f", path}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen %s: %v: %s", name, err, out)
	}
	return path
}

// nodeSwitch runs the binary (outside any namespace: the inventory is a
// file) and returns stdout, stderr and the exit status.
func nodeSwitch(t *testing.T, bin, db string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--db", db}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_SWITCH_HOOKS_DIR="+filepath.Join(filepath.Dir(db), "hooks.d"))
	return run(t, cmd)
}

func run(t *testing.T, cmd *exec.Cmd) (string, string, int) {
	t.Helper()
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return out.String(), errb.String(), code
}

// onlySSH returns the flags that switch off serve's other listeners that
// this build has (TFTP, HTTP), so the test needs no boot root.
func onlySSH(t *testing.T, bin string) []string {
	t.Helper()
	out, _ := exec.Command(bin, "serve", "--help").CombinedOutput()
	var flags []string
	for _, f := range []string{"--tftp-listen", "--http-listen"} {
		if strings.Contains(string(out), f+" ") {
			flags = append(flags, f+"=")
		}
	}
	return flags
}

// psCommands reads the command table of the Windows head's PowerShell
// script and fills it in the way the script's Format-Word does.
func psCommands(t *testing.T, values map[string]string) map[string]string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	src, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "hooks", "windows-head", "Switch-ClusterNode.ps1"))
	if err != nil {
		t.Fatal(err)
	}
	table := regexp.MustCompile(`(?s)\$Commands = @\{(.*?)\n\}`).FindSubmatch(src)
	if table == nil {
		t.Fatal("Switch-ClusterNode.ps1: no $Commands table")
	}
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*(\w+)\s*=\s*'([^']*)'\s*$`).FindAllStringSubmatch(string(table[1]), -1) {
		line := m[2]
		for k, v := range values {
			line = strings.ReplaceAll(line, "{"+k+"}", "'"+strings.ReplaceAll(v, "'", `'\''`)+"'")
		}
		out[m[1]] = line
	}
	return out
}
