package dhcp

import (
	"context"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/node-switch/node-switch/metrics"
)

// TestDecision holds the packet counters' decision to what Handle really
// does with each kind of request.
func TestDecision(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  *dhcpv4.DHCPv4
		rec  *Record // nil: the MAC is unknown
		cfg  Settings
		want metrics.Decision
	}{
		{"discover answered", request(t, dhcpv4.MessageTypeDiscover), ptr(rec()), cfg, metrics.DHCPAnswered},
		{"request acked", request(t, dhcpv4.MessageTypeRequest, want50("10.99.0.50")), ptr(rec()), cfg, metrics.DHCPAnswered},
		{"request for another address", request(t, dhcpv4.MessageTypeRequest, want50("10.99.0.51")), ptr(rec()), cfg, metrics.DHCPNak},
		{"inform", request(t, dhcpv4.MessageTypeInform), ptr(rec()), cfg, metrics.DHCPAnswered},
		{"unknown mac", request(t, dhcpv4.MessageTypeDiscover), nil, cfg, metrics.DHCPUnknownMAC},
		{"masked", request(t, dhcpv4.MessageTypeDiscover), ptr(rec(func(r *Record) { r.Node.Masked = true })), cfg, metrics.DHCPMasked},
		{"other server", request(t, dhcpv4.MessageTypeRequest, sid("10.99.0.2")), ptr(rec()), cfg, metrics.DHCPOtherServer},
		{"release", request(t, dhcpv4.MessageTypeRelease), ptr(rec()), cfg, metrics.DHCPNoReplyNeeded},
		{"bootp", request(t, dhcpv4.MessageTypeDiscover, dhcpv4.WithoutOption(dhcpv4.OptionDHCPMessageType)), ptr(rec()), cfg, metrics.DHCPMalformed},
		{"network address reserved", request(t, dhcpv4.MessageTypeDiscover),
			ptr(rec(func(r *Record) { r.Node.IP = netip.MustParseAddr("10.99.0.0") })), cfg, metrics.DHCPRefusedAddress},
		{"server's own address reserved", request(t, dhcpv4.MessageTypeDiscover),
			ptr(rec(func(r *Record) { r.Node.IP = serverIP })), cfg, metrics.DHCPRefusedAddress},
		{"no subnet", request(t, dhcpv4.MessageTypeDiscover),
			ptr(rec(func(r *Record) { r.Node.IP = netip.MustParseAddr("10.98.0.5") })), cfg, metrics.DHCPNoSubnet},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := MapInventory{}
			if tc.rec != nil {
				inv[testMAC] = *tc.rec
			}
			out, _, _, err := HandleAppend(context.Background(), nil, tc.req, inv, tc.cfg)
			got := metrics.DHCPAnswered
			if err != nil {
				got = decisionOf(err)
			} else {
				got = answerDecision(tc.req, out)
			}
			if got != tc.want {
				t.Errorf("decision %v (err %v), want %v", got, err, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestReplyType reads option 53 wherever the reply puts it, and gives up
// cleanly on truncated bytes.
func TestReplyType(t *testing.T) {
	ack, _, err := AppendReply(nil, request(t, dhcpv4.MessageTypeRequest), rec(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	nak, _, err := AppendReply(nil, request(t, dhcpv4.MessageTypeRequest, want50("10.99.0.7")), rec(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want dhcpv4.MessageType
	}{
		{"ack", ack, dhcpv4.MessageTypeAck},
		{"nak", nak, dhcpv4.MessageTypeNak},
		{"header only", ack[:240], 0},
		{"cut in an option", ack[:242], 0},
		{"empty", nil, 0},
		{"pads then end", append(append([]byte{}, ack[:240]...), 0, 0, 255), 0},
	} {
		if got := replyType(tc.b); got != tc.want {
			t.Errorf("%s: type %v, want %v", tc.name, got, tc.want)
		}
	}
}

// BenchmarkPacketAccounting is what the counters add to a packet the server
// answers: the worst case, a REQUEST whose ACK is scanned for a NAK.
func BenchmarkPacketAccounting(b *testing.B) {
	req := request(b, dhcpv4.MessageTypeRequest)
	out, _, err := AppendReply(nil, req, rec(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			metrics.DHCPPacket(msgType(req), answerDecision(req, out))
		}
	})
}
