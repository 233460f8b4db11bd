package pge2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes/pgtest"
)

// offers returns what a server's debug log says it offered mac, one
// "ip file" per OFFER.
func offers(out, mac string) []string {
	re := regexp.MustCompile(`reply=OFFER ip=(\S+) .*file=(\S+)`)
	var got []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `msg="dhcp reply"`) && strings.Contains(line, "mac="+mac) {
			if m := re.FindStringSubmatch(line); m != nil {
				got = append(got, m[1]+" "+m[2])
			}
		}
	}
	return got
}

// dhclient runs ISC dhclient once on eth0 of ns and returns its lease
// block (fixed-address, filename, server identifier).
func dhclient(t *testing.T, ns *netlab.NS) string {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "dhclient.conf")
	os.WriteFile(conf, []byte("timeout 10;\nretry 1;\ninitial-interval 1;\n"), 0o644)
	lf := filepath.Join(dir, "leases")
	out, err := ns.Run("dhclient", "-4", "-1", "-v", "-cf", conf, "-lf", lf, "-pf", filepath.Join(dir, "pid"), "-sf", "/bin/true", "eth0")
	if pid, rerr := os.ReadFile(filepath.Join(dir, "pid")); rerr == nil {
		ns.Run("kill", strings.TrimSpace(string(pid)))
	}
	if err != nil {
		t.Fatalf("dhclient: %v\n%s", err, out)
	}
	b, err := os.ReadFile(lf)
	if err != nil {
		t.Fatalf("dhclient wrote no lease: %v\n%s", err, out)
	}
	s := string(b)
	return s[strings.LastIndex(s, "lease {"):]
}

// TestTwoServersOneSegment: two boot servers on one segment, one
// PostgreSQL, for redundancy. Reservations only, so both offer the same
// address and boot file, before and after a move; dhclient takes one
// lease, the reserved one, whichever answers first. (Each names itself as
// server identifier and TFTP server: both serve the boot files.)
func TestTwoServersOneSegment(t *testing.T) {
	netlab.Require(t, "dhclient=isc-dhcp-client")
	pg := pgtest.Start(t)
	db := pg.NewDB(t)
	lab := netlab.New(t)
	const mac = "02:84:00:00:00:20"
	seg := newSegment(t, lab, 1, "10.84.0.1/24", mac)
	// The second server: a namespace of its own plugged into the same
	// bridge.
	second := seg.plug(lab, "s2", "p9", "02:84:00:00:00:02")
	second.Addr("eth0", "10.84.0.2/24")
	mustCLI(t, db, "profile", "add", "linux", "--kind", "linux", "--boot-file", "bios="+linuxFile)
	mustCLI(t, db, "profile", "add", "windows", "--kind", "localdisk", "--boot-file", "bios="+winFile)
	mustCLI(t, db, "cluster", "add", "linux", "--profile", "linux")
	mustCLI(t, db, "cluster", "add", "windows", "--profile", "windows")
	mustCLI(t, db, "node", "add", "c20", "--mac", mac, "--ip", "10.84.0.20", "--cluster", "windows")
	servers := []*netlab.Proc{serve(t, seg.srv, db), serveOn(t, second, db, "eth0")}

	for _, step := range []struct{ to, file string }{{"", winFile}, {"linux", linuxFile}} {
		if step.to != "" {
			mustCLI(t, db, "move", "c20", "--to", step.to, "--reason", "one segment")
		}
		before := []int{len(offers(servers[0].Output(), mac)), len(offers(servers[1].Output(), mac))}
		l := dhclient(t, seg.client)
		if !strings.Contains(l, "fixed-address 10.84.0.20;") || !strings.Contains(l, `filename "`+step.file+`";`) {
			t.Errorf("after move to %q: lease\n%s\nwant 10.84.0.20 and %s", step.to, l, step.file)
		}
		// Both servers heard the DISCOVER and offered the same thing.
		for i, s := range servers {
			var got []string
			netlab.WaitFor(10*time.Second, func() bool { got = offers(s.Output(), mac)[before[i]:]; return len(got) > 0 })
			if len(got) == 0 {
				t.Errorf("server %d made no offer", i+1)
			}
			for _, o := range got {
				if o != "10.84.0.20 "+step.file {
					t.Errorf("server %d offered %s, want 10.84.0.20 %s", i+1, o, step.file)
				}
			}
		}
		t.Logf("lease after %q: %s", step.to, strings.Join(strings.Fields(l), " "))
	}
}

func serveOn(t *testing.T, ns *netlab.NS, db, iface string) *netlab.Proc {
	t.Helper()
	p := ns.Start(nil, netlab.Binary(t), "--db", db, "serve", "--interface", iface, "--log-level", "debug",
		"--tftp-listen=", "--http-listen=", "--ssh-listen=")
	if !netlab.WaitFor(30*time.Second, func() bool { return strings.Contains(p.Output(), "dhcp listening") || p.Exited() }) || p.Exited() {
		t.Fatalf("node-switch serve did not start listening:\n%s", p.Output())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serve in %s:\n%s", ns.Name, p.Output())
		}
	})
	return p
}
