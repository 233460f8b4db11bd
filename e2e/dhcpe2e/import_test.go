package dhcpe2e

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/node-switch/node-switch/e2e/netlab"
)

// TestImportedSourceConfig is the "done means": the source system's
// dhcpd.conf imported with the CLI, "node-switch serve" started by hand in a
// namespace, and dhclient on umu20's MAC gets umu20's address and the Linux
// pxelinux.
func TestImportedSourceConfig(t *testing.T) {
	netlab.Require(t, "dhclient=isc-dhcp-client")
	bin := netlab.Binary(t)
	_, here, _, _ := runtime.Caller(0)
	conf := filepath.Join(filepath.Dir(here), "..", "..", "testdata", "um64-dhcpd.conf")
	db := filepath.Join(t.TempDir(), "inventory.db")
	if out, err := exec.Command(bin, "--db", db, "import", "dhcpd", conf).CombinedOutput(); err != nil {
		t.Fatalf("import dhcpd %s: %v\n%s", conf, err, out)
	}
	seg := newSegment(t, "192.168.1.1/24")
	c := seg.client(t, "umu20", "00:18:f3:4e:5d:39")
	serve(t, seg.srv, db, "br0")
	l, ok := dhclient(t, c, 15)
	if !ok {
		t.Fatal("umu20 got no lease from the imported inventory")
	}
	if l.IP != "192.168.1.20" || l.File != "um64_linux/pxelinux.0" {
		t.Fatalf("umu20 leased %+v, want 192.168.1.20 um64_linux/pxelinux.0", l)
	}
}
