package dhcp

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"golang.org/x/net/ipv4"

	"github.com/node-switch/node-switch/nodes"
)

func sightingOf(i byte, fw string) sighting {
	return sighting{mac: [6]byte{2, 0x99, 0, 0, 0, i}, firmware: fw, iface: "eth1"}
}

func TestUnknownBuffer(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(1700000000+int64(s), 0) }
	tests := []struct {
		name        string
		max         int
		adds        []sighting
		wantKept    map[string]int64 // MAC → times seen
		wantDropped uint64
		wantFW      map[string]string
	}{
		{
			name:     "a MAC seen again is one entry",
			max:      4,
			adds:     []sighting{sightingOf(1, "uefi"), sightingOf(1, ""), sightingOf(2, "bios")},
			wantKept: map[string]int64{"02:99:00:00:00:01": 2, "02:99:00:00:00:02": 1},
			// The OS's client said nothing; the firmware's word stays.
			wantFW: map[string]string{"02:99:00:00:00:01": "uefi", "02:99:00:00:00:02": "bios"},
		},
		{
			name:        "full: new MACs are dropped and counted",
			max:         2,
			adds:        []sighting{sightingOf(1, ""), sightingOf(2, ""), sightingOf(3, ""), sightingOf(4, ""), sightingOf(3, "")},
			wantKept:    map[string]int64{"02:99:00:00:00:01": 1, "02:99:00:00:00:02": 1},
			wantDropped: 3,
		},
		{
			name:     "full: MACs already in it are still counted",
			max:      2,
			adds:     []sighting{sightingOf(1, ""), sightingOf(2, ""), sightingOf(1, ""), sightingOf(1, "bios")},
			wantKept: map[string]int64{"02:99:00:00:00:01": 3, "02:99:00:00:00:02": 1},
			wantFW:   map[string]string{"02:99:00:00:00:01": "bios"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newUnknownBuffer(tt.max)
			for i, s := range tt.adds {
				b.add(s, at(i))
			}
			batch, dropped := b.take()
			got := map[string]int64{}
			for _, u := range batch {
				got[u.MAC] = u.TimesSeen
				if fw, ok := tt.wantFW[u.MAC]; ok && u.Firmware != fw {
					t.Errorf("%s: firmware %q, want %q", u.MAC, u.Firmware, fw)
				}
				if u.LastSeen.Before(u.FirstSeen) {
					t.Errorf("%s: last seen %v before first seen %v", u.MAC, u.LastSeen, u.FirstSeen)
				}
			}
			if len(got) != len(tt.wantKept) {
				t.Errorf("kept %v, want %v", got, tt.wantKept)
			}
			for mac, n := range tt.wantKept {
				if got[mac] != n {
					t.Errorf("%s seen %d times, want %d (kept %v)", mac, got[mac], n, got)
				}
			}
			if dropped != tt.wantDropped {
				t.Errorf("dropped %d, want %d", dropped, tt.wantDropped)
			}
			// A take empties the buffer and its count: the next interval
			// starts with room.
			if batch, dropped := b.take(); len(batch) != 0 || dropped != 0 {
				t.Errorf("second take: %d entries, %d dropped, want none", len(batch), dropped)
			}
			if !b.add(sightingOf(9, ""), at(100)) {
				t.Error("an emptied buffer refused a new MAC")
			}
		})
	}
}

func TestUnknownSighting(t *testing.T) {
	tests := []struct {
		name string
		mods []dhcpv4.Modifier
		want sighting
	}{
		{
			name: "an OS's client says nothing",
			want: sighting{iface: "eth1"},
		},
		{
			name: "UEFI PXE firmware behind a relay",
			mods: []dhcpv4.Modifier{arch(iana.EFI_X86_64), dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
				dhcpv4.WithGatewayIP(net.IPv4(10, 5, 0, 1))},
			want: sighting{firmware: "uefi", vendorClass: "PXEClient:Arch:00007:UNDI:003016", iface: "eth1", relay: "10.5.0.1"},
		},
		{
			name: "BIOS PXE, iPXE, host name with a trailing NUL",
			mods: []dhcpv4.Modifier{arch(iana.INTEL_X86PC), ipxe, dhcpv4.WithOption(dhcpv4.OptHostName("rack7-n3\x00"))},
			want: sighting{firmware: "bios-ipxe", iface: "eth1", hostname: "rack7-n3"},
		},
		{
			name: "ARM64",
			mods: []dhcpv4.Modifier{arch(iana.EFI_ARM64)},
			want: sighting{firmware: "arm64", iface: "eth1"},
		},
		{
			name: "terminal escapes and overlong text are neutralised",
			mods: []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("\x1b[2J" + strings.Repeat("v", 100))),
				dhcpv4.WithOption(dhcpv4.OptHostName("h\xc3\xa9\n"))},
			want: sighting{vendorClass: "?[2J" + strings.Repeat("v", maxClientText-4), hostname: "h???", iface: "eth1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := unknownSighting(request(t, dhcpv4.MessageTypeDiscover, tt.mods...), "eth1")
			tt.want.mac = [6]byte{0x52, 0x54, 0, 0x12, 0x34, 0x56} // testMAC
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// recorder stands in for the store.
type recorder struct {
	seen    []nodes.Seen
	unknown []nodes.Unknown
}

func (r *recorder) RecordSeen(_ context.Context, s []nodes.Seen) error {
	r.seen = append(r.seen, s...)
	return nil
}

func (r *recorder) RecordUnknown(_ context.Context, u []nodes.Unknown, _ int) (nodes.UnknownRecord, error) {
	r.unknown = append(r.unknown, u...)
	return nodes.UnknownRecord{}, nil
}

func testServer(inv Inventory, rec SeenRecorder, max int) *Server {
	s := &Server{cfg: Config{UnknownMax: max}, inv: inv, rec: rec, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		seen: map[string]nodes.Seen{}}
	if ur, ok := rec.(UnknownRecorder); ok {
		s.unknown, s.unknownRec = newUnknownBuffer(max), ur
	}
	return s
}

// testLink is a served interface with a socket bound to 127.0.0.1: a reply
// to an address off loopback fails there (EINVAL) and is counted as failed,
// one to loopback or to the broadcast address is counted as replied.
func testLink(t testing.TB) *link {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &link{name: "eth1", conn: c, settings: cfg}
}

// handleOne is a worker's path for a batch of one request: decide, then
// send the reply, if any, through the link's socket.
func (s *Server) handleOne(ctx context.Context, l *link, from netip.AddrPort, pkt []byte) {
	var pc *ipv4.PacketConn
	if l.conn != nil {
		pc = ipv4.NewPacketConn(l.conn)
	}
	out := newReplies(pc)
	s.handle(ctx, l, from, pkt, out)
	s.send(ctx, l, out)
}

// answered is how many replies the server tried to send.
func (s *Server) answered() uint64 { return s.stats.replied.Load() + s.stats.failed.Load() }

func requestFrom(t testing.TB, mac string, mods ...dhcpv4.Modifier) []byte {
	hw, _ := net.ParseMAC(mac)
	return request(t, dhcpv4.MessageTypeDiscover, append(mods, dhcpv4.WithHwAddr(hw))...).ToBytes()
}

// TestServerRemembersOnlyUnknownMACs: a MAC without a reservation is
// remembered and still never answered; a reserved node, masked or not, is a
// sighting, never an unknown; what is not a DHCP client is neither.
func TestServerRemembersOnlyUnknownMACs(t *testing.T) {
	masked := rec(func(r *Record) {
		r.Node.Name, r.Node.MAC, r.Node.Masked = "umu21", "52:54:00:00:00:21", true
	})
	inv := MapInventory{testMAC: rec(), masked.Node.MAC: masked}
	r := &recorder{}
	s := testServer(inv, r, 10)
	l := testLink(t)
	from := netip.MustParseAddrPort("0.0.0.0:68")
	ctx := context.Background()
	for _, pkt := range [][]byte{
		requestFrom(t, testMAC),
		requestFrom(t, masked.Node.MAC),
		requestFrom(t, "02:77:00:00:00:99", arch(iana.EFI_X86_64)),
		requestFrom(t, "02:77:00:00:00:99"),
		requestFrom(t, "02:77:00:00:00:98"),
		requestFrom(t, "01:00:5e:00:00:01"), // a group address is no client
	} {
		s.handleOne(ctx, l, from, pkt)
	}
	s.flush(ctx)
	var unknown []string
	for _, u := range r.unknown {
		unknown = append(unknown, u.MAC)
		if u.MAC == "02:77:00:00:00:99" && (u.TimesSeen != 2 || u.Firmware != "uefi" || u.Interface != "eth1") {
			t.Errorf("02:77:00:00:00:99 recorded as %+v, want seen twice, uefi, eth1", u)
		}
	}
	slices.Sort(unknown)
	if want := []string{"02:77:00:00:00:98", "02:77:00:00:00:99"}; !slices.Equal(unknown, want) {
		t.Errorf("unknown MACs %v, want %v", unknown, want)
	}
	var seen []string
	for _, x := range r.seen {
		seen = append(seen, x.MAC)
	}
	slices.Sort(seen)
	if want := []string{"52:54:00:00:00:21", testMAC}; !slices.Equal(seen, want) {
		t.Errorf("sightings %v, want %v", seen, want)
	}
	// Only the known, unmasked node was answered.
	if s.answered() != 1 || s.stats.unknown.Load() != 3 {
		t.Errorf("answered %d, unknown %d: want 1 (the known node), 3", s.answered(), s.stats.unknown.Load())
	}
}

// TestUnknownFloodDoesNotReloadTheCache: thousands of spoofed MACs, flushed
// into the real inventory, leave the table at its cap and never make the
// cached inventory reread it; the known node is answered from the same copy.
func TestUnknownFloodDoesNotReloadTheCache(t *testing.T) {
	ctx := context.Background()
	st := testStore(t, 1)
	cached := newCached(t, st)
	const max = 100
	s := testServer(cached, st, max)
	var logs bytes.Buffer
	s.log = slog.New(slog.NewTextHandler(&logs, nil))
	l := testLink(t)
	from := netip.MustParseAddrPort("0.0.0.0:68")
	known := requestFrom(t, testNodeMAC(0))
	s.handleOne(ctx, l, from, known)
	reloads := cached.Reloads()
	for round := range 5 {
		for i := range 1000 {
			mac := net.HardwareAddr{0x02, 0xee, byte(round), 0, byte(i >> 8), byte(i)}
			s.handleOne(ctx, l, from, requestFrom(t, mac.String()))
		}
		s.flush(ctx)
		// The flush committed; the next lookup sees the WAL index move and
		// must find the generation unchanged.
		s.handleOne(ctx, l, from, known)
	}
	if got := cached.Reloads(); got != reloads {
		t.Errorf("the cached inventory was reread %d times for unknown MACs", got-reloads)
	}
	us, err := st.Unknowns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != max {
		t.Errorf("%d unknown MACs kept, want the cap %d", len(us), max)
	}
	// The last round's MACs are the newest; the buffer kept its first max.
	if len(us) > 0 && !strings.HasPrefix(us[0].MAC, "02:ee:04:") {
		t.Errorf("newest unknown MAC %s, want one of the last round (02:ee:04:...)", us[0].MAC)
	}
	if s.stats.unknownDropped.Load() != 5*(1000-max) {
		t.Errorf("dropped %d, want %d", s.stats.unknownDropped.Load(), 5*(1000-max))
	}
	if !strings.Contains(logs.String(), "unknown-MAC list is full") || !strings.Contains(logs.String(), "more unknown MACs than it keeps") {
		t.Errorf("no warning about the full list and the dropped MACs:\n%s", logs.String())
	}
	if s.answered() != 6 {
		t.Errorf("answered %d requests, want the known node's 6", s.answered())
	}
}

// BenchmarkHandleUnknown is the server's cost per DISCOVER from a MAC with
// no reservation (parse, look up, stay silent), with and without
// remembering it, over more distinct MACs than the buffer holds.
func BenchmarkHandleUnknown(b *testing.B) {
	for _, bc := range []struct {
		name string
		rec  SeenRecorder
	}{{"silent only", nil}, {"remembered", &recorder{}}} {
		b.Run(bc.name, func(b *testing.B) {
			s := testServer(MapInventory{}, bc.rec, 1000)
			l := testLink(b)
			from := netip.MustParseAddrPort("0.0.0.0:68")
			pkts := make([][]byte, 4096)
			for i := range pkts {
				pkts[i] = requestFrom(b, net.HardwareAddr{0x02, 0xee, 0, 0, byte(i >> 8), byte(i)}.String(), arch(iana.EFI_X86_64), pxeClass)
			}
			ctx := context.Background()
			out := newReplies(ipv4.NewPacketConn(l.conn))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s.handle(ctx, l, from, pkts[i%len(pkts)], out) // unknown: nothing is queued to send
				if i%len(pkts) == len(pkts)-1 && s.unknown != nil {
					s.unknown.take() // a flush
				}
			}
		})
	}
}
