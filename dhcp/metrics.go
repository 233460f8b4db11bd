package dhcp

import (
	"errors"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/node-switch/node-switch/metrics"
	"github.com/node-switch/node-switch/nodes"
)

// decisionOf names, for the packet counters, why Handle gave no reply.
func decisionOf(err error) metrics.Decision {
	switch {
	case errors.Is(err, nodes.ErrNotFound):
		return metrics.DHCPUnknownMAC
	case errors.Is(err, ErrMasked):
		return metrics.DHCPMasked
	case errors.Is(err, ErrOtherServer):
		return metrics.DHCPOtherServer
	case errors.Is(err, ErrNoReply):
		return metrics.DHCPNoReplyNeeded
	case errors.Is(err, ErrNotDHCP):
		return metrics.DHCPMalformed
	case errors.Is(err, ErrUnleasable):
		return metrics.DHCPRefusedAddress
	case errors.Is(err, ErrNoSubnet):
		return metrics.DHCPNoSubnet
	case errors.Is(err, ErrNoRoom):
		return metrics.DHCPNoRoom
	}
	return metrics.DHCPFailed
}

// msgType is option 53's value, 0 when missing. req.MessageType() parses
// through a buffer that allocates; this is a map lookup.
func msgType(req *dhcpv4.DHCPv4) uint8 {
	if v := req.Options[dhcpv4.OptionDHCPMessageType.Code()]; len(v) == 1 {
		return v[0]
	}
	return 0
}

// answerDecision tells a NAK from an answer by the reply's option 53. Only
// a REQUEST can be NAKed, so other replies are not scanned.
func answerDecision(req *dhcpv4.DHCPv4, reply []byte) metrics.Decision {
	if msgType(req) == uint8(dhcpv4.MessageTypeRequest) && replyType(reply) == dhcpv4.MessageTypeNak {
		return metrics.DHCPNak
	}
	return metrics.DHCPAnswered
}

// replyType reads option 53 from a reply's bytes (the options follow the
// 236-byte header and the 4-byte cookie), 0 when it is missing.
func replyType(b []byte) dhcpv4.MessageType {
	for i := 240; i < len(b); {
		code := b[i]
		switch code {
		case 0: // pad
			i++
			continue
		case 255: // end
			return 0
		}
		if i+1 >= len(b) {
			return 0
		}
		n := int(b[i+1])
		if code == dhcpv4.OptionDHCPMessageType.Code() && n == 1 && i+2 < len(b) {
			return dhcpv4.MessageType(b[i+2])
		}
		i += 2 + n
	}
	return 0
}
