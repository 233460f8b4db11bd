package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Decision is what the DHCP server did with one packet.
type Decision uint8

const (
	// DHCPAnswered: an OFFER, ACK (or INFORM's ACK) was sent.
	DHCPAnswered Decision = iota
	// DHCPNak: a REQUEST for an address not reserved for the client got a NAK.
	DHCPNak
	// DHCPUnknownMAC: no reservation; never answered.
	DHCPUnknownMAC
	// DHCPMasked: the node is masked; never answered.
	DHCPMasked
	// DHCPRateLimited: over the per-MAC rate; dropped before parsing.
	DHCPRateLimited
	// DHCPOtherServer: the client chose another server (option 54).
	DHCPOtherServer
	// DHCPNoReplyNeeded: RELEASE, DECLINE and other messages that get no answer.
	DHCPNoReplyNeeded
	// DHCPMalformed: too short, unparsable, or not a DHCP request (BOOTP,
	// non-Ethernet hardware, a multicast or zero MAC).
	DHCPMalformed
	// DHCPRefusedAddress: the reservation is an address DHCP must never lease
	// (network, broadcast, the server's own).
	DHCPRefusedAddress
	// DHCPNoSubnet: the reserved address is in no known subnet.
	DHCPNoSubnet
	// DHCPNoRoom: the reply does not fit what the client accepts.
	DHCPNoRoom
	// DHCPSendFailed: the reply was built but could not be sent.
	DHCPSendFailed
	// DHCPFailed: any other fault (the inventory could not be read ...).
	DHCPFailed
	numDecisions
)

var decisionNames = [numDecisions]string{"answered", "nak", "unknown_mac", "masked", "rate_limited", "other_server",
	"no_reply_needed", "malformed", "refused_address", "no_subnet", "no_room", "send_failed", "failed"}

func (d Decision) String() string {
	if d < numDecisions {
		return decisionNames[d]
	}
	return "failed"
}

// DHCP message types as labels: the ones a server receives, "other" for the
// rest and "none" for a packet whose type was never read (rate-limited or
// malformed before parsing, or BOOTP).
const (
	typeNone = iota
	typeDiscover
	typeRequest
	typeDecline
	typeRelease
	typeInform
	typeOther
	numTypes
)

var typeNames = [numTypes]string{"none", "discover", "request", "decline", "release", "inform", "other"}

// typeIndex maps option 53's value (RFC 2132 §9.6) to a label.
func typeIndex(t uint8) int {
	switch t {
	case 0:
		return typeNone
	case 1:
		return typeDiscover
	case 3:
		return typeRequest
	case 4:
		return typeDecline
	case 7:
		return typeRelease
	case 8:
		return typeInform
	}
	return typeOther
}

// packetTable counts DHCP packets in a fixed array: the per-packet cost is
// one atomic add, with no label lookup, no lock and no allocation. Collect
// turns the cells into samples at scrape time.
type packetTable struct {
	desc  *prometheus.Desc
	cells [numTypes][numDecisions]atomic.Uint64
}

var dhcpPackets = &packetTable{desc: prometheus.NewDesc(namespace+"_dhcp_packets_total",
	"DHCP packets received, by message type (discover, request, decline, release, inform, other, none) and what the server decided "+
		"(answered, nak, unknown_mac, masked, rate_limited, other_server, no_reply_needed, malformed, refused_address, no_subnet, no_room, send_failed, failed).",
	[]string{"type", "decision"}, nil)}

// DHCPPacket counts one received packet. msgType is option 53's value, 0
// when it was not read.
func DHCPPacket(msgType uint8, d Decision) {
	dhcpPackets.cells[typeIndex(msgType)][min(d, DHCPFailed)].Add(1)
}

// always lists the series exported from the start, at 0: the ones a
// dashboard's rate() must find before the first boot.
func always(t int, d Decision) bool {
	switch d {
	case DHCPAnswered, DHCPUnknownMAC, DHCPMasked:
		return t == typeDiscover || t == typeRequest
	case DHCPRateLimited, DHCPMalformed:
		return t == typeNone
	}
	return false
}

func (p *packetTable) Describe(ch chan<- *prometheus.Desc) { ch <- p.desc }

func (p *packetTable) Collect(ch chan<- prometheus.Metric) {
	for t := range numTypes {
		for d := range numDecisions {
			v := p.cells[t][d].Load()
			if v == 0 && !always(t, d) {
				continue
			}
			ch <- prometheus.MustNewConstMetric(p.desc, prometheus.CounterValue, float64(v), typeNames[t], decisionNames[d])
		}
	}
}
