package dhcp

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/node-switch/node-switch/nodes"
)

// UnknownRecorder stores sightings of MACs that have no reservation;
// *nodes.Store implements it. A SeenRecorder that also implements it gets
// them.
type UnknownRecorder interface {
	RecordUnknown(ctx context.Context, seen []nodes.Unknown, max int) (nodes.UnknownRecord, error)
}

// unknownBuffer holds the unknown MACs heard since the last flush. It is
// bounded by max entries, the cap of the table itself (more could not all
// be kept anyway): once full, a MAC already in it is still updated, and a
// new one is dropped and counted until the next flush takes the batch. So a
// flood of spoofed MACs costs one map lookup per packet and at most max
// entries of memory, and takes nothing from the lock that known nodes'
// sightings use.
type unknownBuffer struct {
	max int

	mu      sync.Mutex
	pending map[[6]byte]*nodes.Unknown
	dropped uint64
}

func newUnknownBuffer(max int) *unknownBuffer {
	return &unknownBuffer{max: max, pending: map[[6]byte]*nodes.Unknown{}}
}

// sighting is what one request tells about its sender.
type sighting struct {
	mac                                           [6]byte
	firmware, vendorClass, iface, relay, hostname string
}

// add notes one request; false when it was dropped because the buffer is
// full.
func (b *unknownBuffer) add(s sighting, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if u, ok := b.pending[s.mac]; ok {
		u.LastSeen = now
		u.TimesSeen++
		// An OS client after the firmware says less; keep what was said.
		if s.firmware != "" {
			u.Firmware = s.firmware
		}
		if s.vendorClass != "" {
			u.VendorClass = s.vendorClass
		}
		if s.hostname != "" {
			u.Hostname = s.hostname
		}
		u.Interface, u.Relay = s.iface, s.relay
		return true
	}
	if len(b.pending) >= b.max {
		b.dropped++
		return false
	}
	b.pending[s.mac] = &nodes.Unknown{
		MAC: macString(s.mac), FirstSeen: now, LastSeen: now, TimesSeen: 1,
		Firmware: s.firmware, VendorClass: s.vendorClass, Interface: s.iface, Relay: s.relay, Hostname: s.hostname,
	}
	return true
}

// take empties the buffer, returning its batch and how many new MACs were
// dropped since the last take.
func (b *unknownBuffer) take() ([]nodes.Unknown, uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) == 0 && b.dropped == 0 {
		return nil, 0
	}
	batch := make([]nodes.Unknown, 0, len(b.pending))
	for _, u := range b.pending {
		batch = append(batch, *u)
	}
	dropped := b.dropped
	b.pending = make(map[[6]byte]*nodes.Unknown, len(b.pending))
	b.dropped = 0
	return batch, dropped
}

func macString(m [6]byte) string {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 17)
	for i, c := range m {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hex[c>>4], hex[c&0xf])
	}
	return string(out)
}

// unknownSighting reads what an unknown client said about itself. Options
// 60 and 12 are whatever the sender put there: they are made printable and
// short before an operator's terminal shows them.
func unknownSighting(req *dhcpv4.DHCPv4, iface string) sighting {
	s := sighting{
		firmware:    ClientFirmware(req).Label(),
		vendorClass: printable(req.Options.Get(dhcpv4.OptionClassIdentifier)),
		hostname:    printable(req.Options.Get(dhcpv4.OptionHostName)),
		iface:       iface,
	}
	copy(s.mac[:], req.ClientHWAddr)
	if g := req.GatewayIPAddr.To4(); g != nil && !g.IsUnspecified() {
		s.relay = g.String()
	}
	return s
}

// maxClientText bounds a client-supplied string kept for an unknown MAC:
// the inventory's cap for such text, so what is kept here is kept whole.
var maxClientText = nodes.TextCap(nodes.FieldClientText)

// printable keeps printable ASCII, replacing anything else with '?', cut to
// maxClientText bytes.
func printable(b []byte) string {
	// Some clients end option 12 with a NUL, as a C string.
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return ""
	}
	if len(b) > maxClientText {
		b = b[:maxClientText]
	}
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}
