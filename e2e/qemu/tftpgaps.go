package qemu

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
)

// tftpTransfer is one TFTP read as a capture shows it: the packets between
// the port a client asked from and the server, from the first request on.
type tftpTransfer struct {
	Client netip.AddrPort
	File   string
	Start  time.Time
	End    time.Time // its last packet
	// Resent counts DATA packets the server sent for a block it had
	// sent already; Requests the client's RRQs from this port (more than
	// one: it asked again before an answer came).
	Resent, Requests int
	Errors           []string
	// Stall is the longest silence between two packets of the transfer,
	// Before and After the packets either side of it.
	Stall         time.Duration
	Before, After string
}

const (
	tftpRRQ   = 1
	tftpDATA  = 3
	tftpACK   = 4
	tftpERROR = 5
	tftpOACK  = 6
)

// tftpTransfers follows every TFTP read from server's port 69 in packets
// (capture order) and returns them in the order they were requested.
func tftpTransfers(packets []netlab.UDPPacket, server netip.Addr) []*tftpTransfer {
	var out []*tftpTransfer
	byClient := map[netip.AddrPort]*tftpTransfer{}
	type sentKey struct {
		tr    *tftpTransfer
		block uint16
	}
	sent := map[sentKey]bool{}
	last := map[*tftpTransfer]netlab.UDPPacket{}
	for _, p := range packets {
		if len(p.Payload) < 2 {
			continue
		}
		op := binary.BigEndian.Uint16(p.Payload)
		var tr *tftpTransfer
		fromServer := p.Src.Addr() == server
		switch {
		case !fromServer && p.Dst == netip.AddrPortFrom(server, 69) && op == tftpRRQ:
			tr = byClient[p.Src]
			if tr == nil {
				file, _, _ := strings.Cut(string(p.Payload[2:]), "\x00")
				tr = &tftpTransfer{Client: p.Src, File: file, Start: p.At}
				byClient[p.Src] = tr
				out = append(out, tr)
			}
			tr.Requests++
		case fromServer:
			tr = byClient[p.Dst]
		case p.Dst.Addr() == server:
			tr = byClient[p.Src]
		}
		if tr == nil {
			continue
		}
		switch op {
		case tftpDATA:
			if len(p.Payload) >= 4 && fromServer {
				k := sentKey{tr, binary.BigEndian.Uint16(p.Payload[2:])}
				if sent[k] {
					tr.Resent++
				}
				sent[k] = true
			}
		case tftpERROR:
			tr.Errors = append(tr.Errors, describeTFTP(p, server))
		}
		if prev, ok := last[tr]; ok {
			if gap := p.At.Sub(prev.At); gap > tr.Stall {
				tr.Stall, tr.Before, tr.After = gap, describeTFTP(prev, server), describeTFTP(p, server)
			}
		}
		last[tr] = p
		tr.End = p.At
	}
	return out
}

// describeTFTP names a packet and its sender, as "server DATA 12".
func describeTFTP(p netlab.UDPPacket, server netip.Addr) string {
	who := "client"
	if p.Src.Addr() == server {
		who = "server"
	}
	b := p.Payload
	if len(b) < 4 {
		return who + " short packet"
	}
	n := binary.BigEndian.Uint16(b[2:])
	switch binary.BigEndian.Uint16(b) {
	case tftpRRQ:
		file, _, _ := strings.Cut(string(b[2:]), "\x00")
		return fmt.Sprintf("%s RRQ %s", who, file)
	case tftpDATA:
		return fmt.Sprintf("%s DATA %d", who, n)
	case tftpACK:
		return fmt.Sprintf("%s ACK %d", who, n)
	case tftpERROR:
		msg, _, _ := strings.Cut(string(b[4:]), "\x00")
		return fmt.Sprintf("%s ERROR %d %q", who, n, msg)
	case tftpOACK:
		return who + " OACK"
	}
	return fmt.Sprintf("%s opcode %d", who, binary.BigEndian.Uint16(b))
}
