package qemu

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/e2e/netlab"
)

// NodeSwitch is the server under test: its binary, inventory and boot root.
type NodeSwitch struct {
	lab      *Lab
	Bin      string
	DB       string
	BootRoot string
	Proc     *netlab.Proc
	serves   int
}

// BinaryEnv names a prebuilt node-switch binary to test instead of building
// ./cmd/node-switch (CI may build once for all suites).
const BinaryEnv = "NODE_SWITCH_E2E_BIN"

// NewNodeSwitch builds the binary (once per test process) and prepares an
// empty inventory and boot root in the lab's directory.
func (l *Lab) NewNodeSwitch() *NodeSwitch {
	l.T.Helper()
	bin := os.Getenv(BinaryEnv)
	if bin == "" {
		bin = netlab.Binary(l.T)
	}
	return &NodeSwitch{lab: l, Bin: bin,
		DB: filepath.Join(l.Dir, "inventory.db"), BootRoot: filepath.Join(l.Dir, "boot")}
}

// CLI runs one node-switch command against the inventory, as an operator
// at the head node's shell would, and returns its output.
func (n *NodeSwitch) CLI(args ...string) (string, error) {
	cmd := exec.Command(n.Bin, append([]string{"--db", n.DB, "--hooks-dir", filepath.Join(n.lab.Dir, "no-hooks")}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("node-switch %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// MustCLI is CLI that fails the (sub)test t on error.
func (n *NodeSwitch) MustCLI(t testing.TB, args ...string) string {
	t.Helper()
	out, err := n.CLI(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Serve starts "node-switch serve" on the lab bridge with the flag contract
// every listener codes against, and waits for DHCP and TFTP to listen.
func (n *NodeSwitch) Serve(extra ...string) {
	n.lab.T.Helper()
	args := []string{"--db", n.DB, "--hooks-dir", filepath.Join(n.lab.Dir, "no-hooks"), "serve",
		"--interface", Bridge, "--server-ip", ServerIP, "--boot-root", n.BootRoot,
		"--ssh-listen", "", "--log-level", "debug"}
	hasHTTP := false
	ports := []int{67, 69}
	for i, e := range extra {
		if strings.HasPrefix(e, "--http-listen") {
			hasHTTP = true
		}
		// TFTP off: there is no port 69 to wait for.
		if e == "--tftp-listen=" || e == "--tftp-listen" && i+1 < len(extra) && extra[i+1] == "" {
			ports = []int{67}
		}
	}
	if !hasHTTP {
		args = append(args, "--http-listen", "")
	}
	args = append(args, extra...)
	n.Proc = n.lab.NS.Start(nil, n.Bin, args...)
	proc := n.Proc
	n.serves++
	logFile := filepath.Join(n.lab.Dir, fmt.Sprintf("node-switch-serve-%d.log", n.serves))
	// Saved for post-mortems next to the serial consoles; stopping first
	// (Stop is idempotent) keeps the shutdown lines in it.
	n.lab.T.Cleanup(func() {
		proc.Stop()
		os.WriteFile(logFile, []byte(proc.Output()), 0o644)
	})
	if err := n.lab.WaitUDP(n.Proc, ports...); err != nil {
		n.lab.T.Fatalf("node-switch serve: %v", err)
	}
}

// StopServe stops the daemon (it keeps no state, so a later Serve resumes).
func (n *NodeSwitch) StopServe() {
	if n.Proc != nil {
		n.Proc.Stop()
		n.Proc = nil
	}
}

// Log is what the daemon logged so far.
func (n *NodeSwitch) Log() string {
	if n.Proc == nil {
		return ""
	}
	return n.Proc.Output()
}
