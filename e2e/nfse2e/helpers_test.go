package nfse2e

import (
	"bytes"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
)

// cli runs the node-switch binary against one inventory.
type cli struct {
	t   *testing.T
	bin string
	db  string
	env []string
}

func newCLI(t *testing.T) *cli {
	return &cli{t: t, bin: netlab.Binary(t), db: filepath.Join(t.TempDir(), "inventory.db")}
}

// run returns stdout, stderr and the exit error.
func (c *cli) run(args ...string) (string, string, error) {
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(append(os.Environ(), "NODE_SWITCH_DB="+c.db, "NODE_SWITCH_HOOKS_DIR="+c.t.TempDir()), c.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func (c *cli) must(args ...string) string {
	c.t.Helper()
	out, errs, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("node-switch %s: %v\n%s%s", strings.Join(args, " "), err, out, errs)
	}
	return out
}

// wolListener starts a UDP port 9 listener in ns.
func wolListener(t *testing.T, ns *netlab.NS) *netlab.Proc {
	t.Helper()
	p := ns.Start([]string{"NFSE2E_HELPER=wol-listen"}, os.Args[0])
	if !netlab.WaitFor(30*time.Second, func() bool { return strings.Contains(p.Output(), "listening udp 9\n") || p.Exited() }) || p.Exited() {
		t.Fatalf("wake-on-LAN listener did not start: %s", p.Output())
	}
	return p
}

// magic is the packet that must wake mac.
func magic(mac string) string {
	hw, _ := net.ParseMAC(mac)
	return strings.Repeat("ff", 6) + strings.Repeat(hex.EncodeToString(hw), 16)
}

// waitMagic waits until the listener has printed a correct magic packet
// for mac.
func waitMagic(p *netlab.Proc, mac string) bool {
	return netlab.WaitFor(30*time.Second, func() bool {
		for _, l := range strings.Split(p.Output(), "\n") {
			if f := strings.Fields(l); len(f) == 4 && f[0] == "packet" && f[3] == magic(mac) {
				return true
			}
		}
		return false
	})
}

// linkMAC is the hardware address of ns's end of a HostLink.
func linkMAC(t *testing.T, ns *netlab.NS) string {
	return strings.TrimSpace(ns.MustRun("cat", "/sys/class/net/hostlink/address"))
}
