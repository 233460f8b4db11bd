package netlab

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"time"
)

// UDPPacket is one IPv4 UDP datagram of a capture.
type UDPPacket struct {
	At       time.Time
	Src, Dst netip.AddrPort
	// Payload is what the capture kept of the datagram (tcpdump -s
	// truncates it).
	Payload []byte
}

// ReadUDP reads a pcap of Ethernet frames, as tcpdump -w writes it, and
// returns its IPv4 UDP datagrams in capture order. A frame cut short by the
// end of the file (a capture still being written) ends the list.
func ReadUDP(path string) ([]UDPPacket, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read capture: %w", err)
	}
	if len(b) < 24 {
		return nil, fmt.Errorf("%s: too short for a pcap header", path)
	}
	var nsec bool
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4:
	case 0xa1b23c4d:
		nsec = true
	default:
		return nil, fmt.Errorf("%s: not a little-endian pcap", path)
	}
	if lt := binary.LittleEndian.Uint32(b[20:]); lt != 1 {
		return nil, fmt.Errorf("%s: link type %d, want Ethernet (1)", path, lt)
	}
	var out []UDPPacket
	for off := 24; off+16 <= len(b); {
		sec, frac := binary.LittleEndian.Uint32(b[off:]), binary.LittleEndian.Uint32(b[off+4:])
		incl := int(binary.LittleEndian.Uint32(b[off+8:]))
		if off+16+incl > len(b) {
			break
		}
		frame := b[off+16 : off+16+incl]
		off += 16 + incl
		if len(frame) < 14+20+8 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 || frame[14+9] != 17 {
			continue
		}
		ihl := int(frame[14]&0x0f) * 4
		if len(frame) < 14+ihl+8 {
			continue
		}
		ip, udp := frame[14:], frame[14+ihl:]
		ns := int64(frac) * 1000
		if nsec {
			ns = int64(frac)
		}
		out = append(out, UDPPacket{
			At:      time.Unix(int64(sec), ns),
			Src:     netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(udp)),
			Dst:     netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(udp[2:])),
			Payload: udp[8:],
		})
	}
	return out, nil
}
