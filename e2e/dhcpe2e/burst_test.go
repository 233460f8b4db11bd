package dhcpe2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

// TestBurstFromManyClients: perfdhcp runs 600 DORA exchanges at 2,000/s
// from 200 reserved MACs on the segment, so requests queue on the server's
// socket and are read and answered in batches (replies broadcast, as to
// PXE firmware). Every exchange must complete, and every ACK the server
// sent must carry that MAC's reservation.
func TestBurstFromManyClients(t *testing.T) {
	netlab.Require(t, "perfdhcp=kea-admin")
	const clients, exchanges = 200, 600
	seg := newSegment(t, "10.77.0.1/16")
	var ns []nodes.Node
	var macs strings.Builder
	want := map[string]string{} // MAC -> reserved address
	for i := range clients {
		n := node(fmt.Sprintf("b%03d", i), fmt.Sprintf("02:7b:00:00:%02x:%02x", i>>8, i&255), fmt.Sprintf("10.77.1.%d", 1+i), "linux")
		ns = append(ns, n)
		fmt.Fprintln(&macs, n.MAC)
		want[n.MAC] = n.IP.String()
	}
	st := inventory(t, ns...)
	macFile := filepath.Join(t.TempDir(), "macs")
	if err := os.WriteFile(macFile, []byte(macs.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	client := seg.client(t, "pd", "02:7b:ff:ff:ff:ff")
	client.Addr("eth0", "10.77.0.200/16") // perfdhcp needs an address to send from
	srv := serve(t, seg.srv, st.Path(), "br0")

	// -W: after the last DISCOVER, wait 2 s for the answers still coming.
	pd := client.Start(nil, "perfdhcp", "-4", "-r", "2000", "-n", strconv.Itoa(exchanges), "-R", strconv.Itoa(clients),
		"-M", macFile, "-W", "2000000", "-l", "eth0")
	if _, err := pd.Wait(time.Minute); err != nil {
		t.Logf("perfdhcp: %v", err) // it exits non-zero when it counts drops; the counts below say which
	}
	srv.Stop()
	out := pd.Output()
	for _, exch := range []string{"DISCOVER-OFFER", "REQUEST-ACK"} {
		m := regexp.MustCompile(`(?s)Statistics for: ` + exch + `.*?sent packets: (\d+).*?received packets: (\d+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("perfdhcp printed no %s statistics:\n%s", exch, out)
		}
		if m[1] != strconv.Itoa(exchanges) || m[2] != m[1] {
			t.Errorf("%s: %s sent, %s answered; want %d of %d", exch, m[1], m[2], exchanges, exchanges)
		}
	}
	acks := 0
	for _, m := range regexp.MustCompile(`msg="dhcp reply".* mac=(\S+) request=(\S+) reply=(\S+) ip=(\S+)`).FindAllStringSubmatch(srv.Output(), -1) {
		if m[3] == "ACK" {
			acks++
		}
		if m[3] != "OFFER" && m[3] != "ACK" || m[4] != want[m[1]] {
			t.Errorf("%s for %s to %s with %s, want %s", m[3], m[2], m[1], m[4], want[m[1]])
		}
	}
	if acks != exchanges {
		t.Errorf("the server logged %d ACKs, want %d", acks, exchanges)
	}
	if m := regexp.MustCompile(`received=(\d+) reads=(\d+)`).FindStringSubmatch(srv.Output()); m != nil {
		t.Logf("%s packets in %s reads", m[1], m[2])
	}
	if t.Failed() {
		t.Logf("perfdhcp:\n%s", out)
	}
}
