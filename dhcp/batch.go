package dhcp

import (
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/net/ipv4"

	"github.com/node-switch/node-switch/nodes"
)

// batchSize is how many datagrams a worker takes from its socket in one
// recvmmsg, and so how many replies it sends at most in one sendmmsg. It is
// kept small: requests a worker holds are not in the socket's buffer, where
// another worker could take them, and the Config.Workers note on queue depth
// holds here too.
const batchSize = 8

// replies are the answers to one batch of requests, written into buffers
// that are reused batch after batch and sent with one sendmmsg.
type replies struct {
	pc   *ipv4.PacketConn
	msgs []ipv4.Message // msgs[i].Buffers[0] is slot i's reply, msgs[i].Addr its *net.UDPAddr
	sent []pending
	n    int // slots in use
}

// pending is what the counters and the debug log need of a queued reply.
type pending struct {
	req  *dhcpv4.DHCPv4
	node nodes.Node
	fw   Firmware
	d    Delivery
}

func newReplies(pc *ipv4.PacketConn) *replies {
	r := &replies{pc: pc, msgs: make([]ipv4.Message, batchSize), sent: make([]pending, batchSize)}
	for i := range r.msgs {
		r.msgs[i].Buffers = [][]byte{make([]byte, 0, 1500)}
		r.msgs[i].Addr = &net.UDPAddr{IP: make(net.IP, net.IPv4len)}
	}
	return r
}

// next is the empty buffer the next reply is written into; add keeps it.
func (r *replies) next() []byte { return r.msgs[r.n].Buffers[0][:0] }

// add queues reply (written into next's buffer, or grown from it) for to.
// It refuses a destination that is not IPv4, which Delivery never names.
func (r *replies) add(reply []byte, to netip.AddrPort, p pending) bool {
	ip := to.Addr().Unmap()
	if !ip.Is4() {
		return false
	}
	m := &r.msgs[r.n]
	m.Buffers[0] = reply
	a := m.Addr.(*net.UDPAddr)
	ip4 := ip.As4()
	copy(a.IP, ip4[:])
	a.Port = int(to.Port())
	r.sent[r.n] = p
	r.n++
	return true
}

// reset empties the batch, dropping the requests it held.
func (r *replies) reset() {
	clear(r.sent[:r.n])
	r.n = 0
}
