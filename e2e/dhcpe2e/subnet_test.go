package dhcpe2e

import (
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

// TestSiteOptionsReachDhclient sets site options the way an admin does
// (the CLI) and checks that ISC dhclient gets them, decoded by its own
// parsers: the MTU (uint16), NTP servers (addresses) and the domain search
// list (RFC 3397, compressed). A client that does not ask for one (option
// 55) does not get it, as with ISC dhcpd.
func TestSiteOptionsReachDhclient(t *testing.T) {
	netlab.Require(t, "dhclient=isc-dhcp-client")
	seg := newSegment(t, "10.81.0.1/24")
	st := inventory(t, node("umu40", "02:81:00:00:00:40", "10.81.0.40", "linux"))
	c40 := seg.client(t, "c40", "02:81:00:00:00:40")
	cli := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(netlab.Binary(t), append([]string{"--db", st.Path()}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("node-switch %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	cli("subnet", "set", "10.81.0.0/24", "--router", "10.81.0.1",
		"--option", "26=9000", "--option", "42=10.81.0.2,10.81.0.3", "--option", "119=cluster.local,example.org,a.cluster.local")
	// Changing one option keeps the others and the router.
	cli("subnet", "set", "10.81.0.0/24", "--option", "ntp-servers=10.81.0.2,10.81.0.4")
	serve(t, seg.srv, st.Path(), "br0")

	t.Run("asked for, given", func(t *testing.T) {
		l, ok := dhclientLease(t, c40, 15, "subnet-mask, routers, interface-mtu, ntp-servers, domain-search")
		if !ok {
			t.Fatal("no lease for a reserved MAC")
		}
		for _, want := range []string{
			"fixed-address 10.81.0.40;",
			"option routers 10.81.0.1;",
			"option interface-mtu 9000;",
			"option ntp-servers 10.81.0.2,10.81.0.4;",
			`option domain-search "cluster.local.","example.org.","a.cluster.local.";`,
		} {
			if !strings.Contains(strings.ReplaceAll(l, ", ", ","), want) {
				t.Errorf("lease lacks %q:\n%s", want, l)
			}
		}
	})
	t.Run("not asked for, not given", func(t *testing.T) {
		l, ok := dhclientLease(t, c40, 15, "subnet-mask, routers, interface-mtu")
		if !ok {
			t.Fatal("no lease for a reserved MAC")
		}
		if !strings.Contains(l, "option interface-mtu 9000;") {
			t.Errorf("lease lacks the MTU it asked for:\n%s", l)
		}
		for _, unwanted := range []string{"ntp-servers", "domain-search"} {
			if strings.Contains(l, unwanted) {
				t.Errorf("lease has %s, which the client did not ask for:\n%s", unwanted, l)
			}
		}
	})
}

// TestNoLeaseForAddressesDHCPMustNotGive puts reservations into the
// inventory that the commands refuse, by hand (sqlite3) or where only the
// server can know (its own address): no client may get them, and the server
// says why at warn. A good reservation on the same segment still works, so
// the silence is the server's decision, not a broken lab.
func TestNoLeaseForAddressesDHCPMustNotGive(t *testing.T) {
	netlab.Require(t, "busybox=busybox-static", "sqlite3=sqlite3")
	seg := newSegment(t, "10.82.0.1/24")
	st := inventory(t,
		node("bc", "02:82:00:00:00:10", "10.82.0.10", "linux"),
		node("own", "02:82:00:00:00:01", "10.82.0.1", "linux"), // the server's address
		node("good", "02:82:00:00:00:20", "10.82.0.20", "linux"),
	)
	if err := st.SetSubnet(context.Background(), actor, nodes.Subnet{Prefix: netip.MustParsePrefix("10.82.0.0/24")}); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sqlite3", st.Path(), "UPDATE nodes SET ip = '10.82.0.255' WHERE name = 'bc'").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	cbc := seg.client(t, "cbc", "02:82:00:00:00:10")
	cown := seg.client(t, "cown", "02:82:00:00:00:01")
	cgood := seg.client(t, "cgood", "02:82:00:00:00:20")
	srv := serve(t, seg.srv, st.Path(), "br0")

	for _, tc := range []struct {
		name string
		ns   *netlab.NS
		mac  string
		why  string
	}{
		{"broadcast address", cbc, "02:82:00:00:00:10", "10.82.0.255 is the broadcast address of subnet 10.82.0.0/24"},
		{"server's own address", cown, "02:82:00:00:00:01", "10.82.0.1 is this server's own address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if l, ok := udhcpc(t, tc.ns); ok {
				t.Fatalf("udhcpc got %+v", l)
			}
			refused := func() bool {
				for _, line := range strings.Split(srv.Output(), "\n") {
					if strings.Contains(line, "level=WARN") && strings.Contains(line, `msg="dhcp cannot answer"`) &&
						strings.Contains(line, "mac="+tc.mac) && strings.Contains(line, tc.why) {
						return true
					}
				}
				return false
			}
			if !netlab.WaitFor(5*time.Second, refused) {
				t.Fatalf("server did not warn that it refused %s (%s)", tc.mac, tc.why)
			}
		})
	}
	if l, ok := udhcpc(t, cgood); !ok || l.IP != "10.82.0.20" {
		t.Fatalf("good reservation: lease %+v ok=%v, want 10.82.0.20", l, ok)
	}
}
