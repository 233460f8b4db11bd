package dhcpe2e

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
)

// TestFloodFromOneMAC: perfdhcp floods DISCOVERs from a single reserved MAC
// while a well-behaved node boots. The flood is cut by the per-MAC rate
// limit (the server counts it) and the other node still gets its lease.
func TestFloodFromOneMAC(t *testing.T) {
	netlab.Require(t, "perfdhcp=kea-admin", "busybox=busybox-static")
	seg := newSegment(t, "10.77.0.1/24")
	st := inventory(t,
		node("flooder", "02:7a:00:00:00:01", "10.77.0.11", "linux"),
		node("umu20", "02:7a:00:00:00:20", "10.77.0.20", "linux"),
	)
	flooder := seg.client(t, "fl", "02:7a:00:00:00:01")
	flooder.Addr("eth0", "10.77.0.200/24") // perfdhcp needs an address to send from
	good := seg.client(t, "ok", "02:7a:00:00:00:20")
	srv := serve(t, seg.srv, st.Path(), "br0", "--log-level", "info")

	// -R 1: every request from one client; -b: that client's MAC.
	flood := flooder.Start(nil, "perfdhcp", "-4", "-r", "2000", "-p", "4", "-R", "1",
		"-b", "mac=02:7a:00:00:00:01", "-l", "eth0")
	l, ok := udhcpc(t, good)
	if !ok || l.IP != "10.77.0.20" {
		t.Fatalf("the well-behaved node got %+v ok=%v during the flood", l, ok)
	}
	flood.Wait(time.Minute)
	srv.Stop()
	m := regexp.MustCompile(`rate_limited=(\d+)`).FindStringSubmatch(srv.Output())
	if m == nil {
		t.Fatalf("no shutdown statistics:\n%s", srv.Output())
	}
	if n, _ := strconv.Atoi(m[1]); n == 0 {
		t.Fatalf("a flood of DISCOVERs from one MAC was never rate limited:\n%s\nperfdhcp:\n%s", srv.Output(), flood.Output())
	}
}
