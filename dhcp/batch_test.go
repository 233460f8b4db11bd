package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// TestWorkerAnswersABurst: requests that are already queued when the
// worker wakes are read in batches, and every answer goes to its own
// request's destination with its own node's address, whatever else the
// batch held: a MAC without a reservation, a runt, a reply the kernel
// refuses (to a relay off loopback, which a socket bound to 127.0.0.1
// cannot reach). The relay agent is a socket on 127.0.0.1:67, where the
// server answers relayed requests.
func TestWorkerAnswersABurst(t *testing.T) {
	relay, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 67})
	if err != nil {
		t.Skipf("cannot be the relay agent on 127.0.0.1:67 (needs root): %v", err)
	}
	defer relay.Close()
	l := testLink(t)
	giaddr := net.IPv4(127, 0, 0, 1)

	const burst = 3*batchSize + 3
	inv := MapInventory{}
	want := map[dhcpv4.TransactionID]string{} // xid -> the reserved address its reply must carry
	var silent, refused int
	for i := range burst {
		mac := fmt.Sprintf("02:b0:00:00:00:%02x", i)
		xid := dhcpv4.TransactionID{0, 0, 0, byte(i)}
		mods := []dhcpv4.Modifier{dhcpv4.WithTransactionID(xid), dhcpv4.WithRelay(giaddr)}
		var pkt []byte
		switch i % 7 {
		case 2: // no reservation
			silent++
			pkt = requestFrom(t, mac, mods...)
		case 4: // too short to be DHCP
			silent++
			pkt = make([]byte, 100)
		case 5: // relayed from an address this socket cannot send to
			refused++
			inv[mac] = rec(func(r *Record) {
				r.Node.Name, r.Node.MAC, r.Node.IP = fmt.Sprintf("n%d", i), mac, netip.AddrFrom4([4]byte{10, 99, 0, byte(10 + i)})
			})
			pkt = requestFrom(t, mac, dhcpv4.WithTransactionID(xid), dhcpv4.WithRelay(net.IPv4(10, 99, 0, 254)))
		default:
			ip := netip.AddrFrom4([4]byte{10, 99, 0, byte(10 + i)})
			inv[mac] = rec(func(r *Record) { r.Node.Name, r.Node.MAC, r.Node.IP = fmt.Sprintf("n%d", i), mac, ip })
			want[xid] = ip.String()
			pkt = requestFrom(t, mac, mods...)
		}
		if _, err := relay.WriteToUDPAddrPort(pkt, l.conn.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
			t.Fatal(err)
		}
	}

	s := testServer(inv, nil, -1)
	s.limit = newRateLimiter(5, 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.work(ctx, l) }()

	buf := make([]byte, 1500)
	for range len(want) {
		n, err := relay.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		reply, err := dhcpv4.FromBytes(buf[:n])
		if err != nil {
			t.Fatalf("reply %d does not parse: %v", len(want), err)
		}
		ip, ok := want[reply.TransactionID]
		if !ok {
			t.Fatalf("reply to xid %v, which was answered already or wants no answer", reply.TransactionID)
		}
		delete(want, reply.TransactionID)
		if reply.MessageType() != dhcpv4.MessageTypeOffer || reply.YourIPAddr.String() != ip ||
			reply.ClientHWAddr.String() != fmt.Sprintf("02:b0:00:00:00:%02x", reply.TransactionID[3]) {
			t.Errorf("xid %v: %v of %s to %s, want an OFFER of %s", reply.TransactionID, reply.MessageType(), reply.YourIPAddr, reply.ClientHWAddr, ip)
		}
	}
	cancel()
	l.conn.Close()
	if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
	st := &s.stats
	if st.received.Load() != burst || st.silent.Load() != uint64(silent) || st.failed.Load() != uint64(refused) ||
		st.replied.Load() != uint64(burst-silent-refused) {
		t.Errorf("received %d, silent %d, failed %d, replied %d; want %d, %d, %d, %d", st.received.Load(), st.silent.Load(),
			st.failed.Load(), st.replied.Load(), burst, silent, refused, burst-silent-refused)
	}
	// Everything was queued before the worker's first read.
	if st.reads.Load() >= burst {
		t.Errorf("%d reads for %d packets: no batch held more than one", st.reads.Load(), burst)
	}
}
