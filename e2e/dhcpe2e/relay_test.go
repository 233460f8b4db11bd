package dhcpe2e

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

// TestRelay puts ISC dhcrelay between a client on 10.78.0.0/24 and the
// server on 10.77.0.0/24: the reply must go to giaddr and carry the options
// of the client's subnet from the inventory, not the server interface's.
func TestRelay(t *testing.T) {
	netlab.Require(t, "dhclient=isc-dhcp-client", "dhcrelay=isc-dhcp-relay")
	seg := newSegment(t, "10.77.0.1/24")
	st := inventory(t, node("umu30", "02:78:00:00:00:30", "10.78.0.30", "linux"))
	// Each subnet has its own router and DNS server, neither of them the
	// relay's address (giaddr), so the lease shows whose options came.
	for _, sn := range []nodes.Subnet{
		{Prefix: netip.MustParsePrefix("10.78.0.0/24"), Routers: []netip.Addr{netip.MustParseAddr("10.78.0.254")},
			DNS: []netip.Addr{netip.MustParseAddr("10.78.0.53")}},
		{Prefix: netip.MustParsePrefix("10.77.0.0/24"), Routers: []netip.Addr{netip.MustParseAddr("10.77.0.99")},
			DNS: []netip.Addr{netip.MustParseAddr("10.77.0.53")}},
	} {
		if err := st.SetSubnet(context.Background(), actor, sn); err != nil {
			t.Fatal(err)
		}
	}
	// relay: "uplink" on the server's bridge, "downlink" facing the client;
	// dhcrelay puts the downlink address (10.78.0.1) in giaddr.
	relay := seg.lab.Namespace("relay")
	seg.lab.Veth(seg.srv, "prelay", relay, "uplink")
	seg.srv.Enslave("prelay", "br0")
	relay.Addr("uplink", "10.77.0.254/24")
	client := seg.lab.Namespace("c30")
	seg.lab.Veth(relay, "downlink", client, "eth0")
	relay.Addr("downlink", "10.78.0.1/24")
	client.MustRun("ip", "link", "set", "eth0", "down")
	client.SetMAC("eth0", "02:78:00:00:00:30")
	client.MustRun("ip", "link", "set", "eth0", "up")
	relay.MustRun("sysctl", "-qw", "net.ipv4.ip_forward=1")
	seg.srv.MustRun("ip", "route", "add", "10.78.0.0/24", "via", "10.77.0.254")

	srv := serve(t, seg.srv, st.Path(), "br0")
	r := relay.Start(nil, "dhcrelay", "-4", "-d", "-pf", filepath.Join(t.TempDir(), "relay.pid"),
		"-iu", "uplink", "-id", "downlink", "10.77.0.1")
	if !netlab.WaitFor(20*time.Second, func() bool { return strings.Contains(r.Output(), "Sending on") || r.Exited() }) || r.Exited() {
		t.Fatalf("dhcrelay did not start:\n%s", r.Output())
	}

	text, ok := dhclientLease(t, client, 15, "subnet-mask, routers, domain-name-servers")
	if !ok {
		t.Fatalf("no lease through the relay\nrelay:\n%s\nserver:\n%s", r.Output(), srv.Output())
	}
	if l := parseLease(text); l.IP != "10.78.0.30" || l.File != linuxFile {
		t.Fatalf("lease %+v, want 10.78.0.30 %s", l, linuxFile)
	}
	for _, want := range []string{"option subnet-mask 255.255.255.0;", "option routers 10.78.0.254;", "option domain-name-servers 10.78.0.53;"} {
		if !strings.Contains(text, want) {
			t.Errorf("lease lacks the client subnet's %q:\n%s", want, text)
		}
	}
	if !strings.Contains(srv.Output(), "delivery=relay to=10.78.0.1:67") {
		t.Fatalf("server did not answer the relay at giaddr:\n%s", srv.Output())
	}
}
