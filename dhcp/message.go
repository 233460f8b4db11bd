package dhcp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// message is a reply as it goes on the wire: the BOOTP header and the
// options, written straight into bytes. Replies used to be built as
// dhcpv4.DHCPv4 values; the options map, the per-option encoders and the
// marshaller's sorting took about a quarter of the DHCP CPU under perfdhcp
// load and most of its garbage. Reply still hands tests a dhcpv4.DHCPv4,
// parsed back from these bytes, so what is tested is what is sent.
type message struct {
	htype  byte
	hlen   byte
	xid    [4]byte
	flags  uint16
	ciaddr [4]byte
	yiaddr [4]byte
	siaddr [4]byte
	giaddr [4]byte
	chaddr [16]byte
	file   string
	opts   [maxOptions]option
	nopts  int
	arena  [512]byte // option values, carved as options are set
	narena int
	// maxLen is the longest message the client takes (see maxMessageLen).
	maxLen int
	// err is the first option that found no room; appendTo returns it, so
	// a reply missing an option is never sent.
	err error
}

// maxOptions holds the server's own options (at most about 17) and the
// most site options a subnet may have (nodes.MaxSiteOptions).
const maxOptions = 48

type option struct {
	code byte
	val  []byte
}

// bootpMinLen is RFC 951's message size; some relays drop shorter ones.
const bootpMinLen = 300

var magicCookie = [4]byte{99, 130, 83, 99}

var zeros [128]byte

// newMessage starts a reply to req: header copied from the request, relay
// information and client identifier echoed (RFC 3046, RFC 6842).
func newMessage(m *message, req *dhcpv4.DHCPv4, server netip.Addr, typ dhcpv4.MessageType) {
	*m = message{htype: byte(req.HWType), xid: req.TransactionID, flags: req.Flags, maxLen: maxMessageLen(req)}
	m.hlen = byte(copy(m.chaddr[:], req.ClientHWAddr))
	if gi := req.GatewayIPAddr.To4(); gi != nil {
		m.giaddr = [4]byte(gi)
	}
	m.setBytes(dhcpv4.OptionDHCPMessageType, byte(typ))
	m.setAddr(dhcpv4.OptionServerIdentifier, server)
	for _, code := range []dhcpv4.OptionCode{dhcpv4.OptionRelayAgentInformation, dhcpv4.OptionClientIdentifier} {
		if v := req.Options.Get(code); v != nil {
			m.set(code, v)
		}
	}
}

// maxMessageLen is the longest reply req's sender takes, without IP and UDP
// headers: RFC 2131 §2's 576-byte datagram, or more when the client says so
// in option 57 (PXE ROMs do), but never more than an Ethernet frame, which
// the server does not fragment for.
func maxMessageLen(req *dhcpv4.DHCPv4) int {
	n := 576
	if v := req.Options.Get(dhcpv4.OptionMaximumDHCPMessageSize); len(v) == 2 {
		n = max(n, min(int(binary.BigEndian.Uint16(v)), 1500))
	}
	return n - 28
}

// alloc returns n bytes of option storage.
func (m *message) alloc(n int) []byte {
	if m.narena+n <= len(m.arena) {
		b := m.arena[m.narena : m.narena+n : m.narena+n]
		m.narena += n
		return b
	}
	return make([]byte, n)
}

// set stores an option, replacing an earlier value of the same code as
// dhcpv4.DHCPv4.UpdateOption does. val is kept, not copied.
func (m *message) set(code dhcpv4.OptionCode, val []byte) {
	c := code.Code()
	for i := range m.nopts {
		if m.opts[i].code == c {
			m.opts[i].val = val
			return
		}
	}
	if m.nopts == len(m.opts) {
		if m.err == nil {
			m.err = fmt.Errorf("%w: option %d is one more than the %d a reply holds", ErrNoRoom, c, len(m.opts))
		}
		return
	}
	m.opts[m.nopts] = option{code: c, val: val}
	m.nopts++
}

func (m *message) setBytes(code dhcpv4.OptionCode, b ...byte) {
	v := m.alloc(len(b))
	copy(v, b)
	m.set(code, v)
}

func (m *message) setString(code dhcpv4.OptionCode, s string) {
	v := m.alloc(len(s))
	copy(v, s)
	m.set(code, v)
}

func (m *message) setUint32(code dhcpv4.OptionCode, x uint32) {
	v := m.alloc(4)
	binary.BigEndian.PutUint32(v, x)
	m.set(code, v)
}

// setAddr stores IPv4 addresses; others are left out.
func (m *message) setAddr(code dhcpv4.OptionCode, as ...netip.Addr) {
	n := 0
	for _, a := range as {
		if a.Is4() {
			n++
		}
	}
	if n == 0 {
		return
	}
	v := m.alloc(4 * n)[:0]
	for _, a := range as {
		if a.Is4() {
			b := a.As4()
			v = append(v, b[:]...)
		}
	}
	m.set(code, v)
}

// appendTo writes the message after dst. The layout is the one
// dhcpv4.DHCPv4.ToBytes writes (TestMessageBytesMatchTheLibrary holds us
// to it): options in ascending code order with relay information (82)
// last (RFC 3046 §2.1), values over 255 bytes split into repeated options
// (RFC 3396), End, then padding to 300 bytes. A message with an option
// that found no room, or longer than the client takes, is an error
// (ErrNoRoom) and dst comes back as it was: ISC dhcpd would leave options
// out, and a node booting without its MTU or NTP servers is harder to
// diagnose than one that gets no answer and a warning in the log.
func (m *message) appendTo(dst []byte) ([]byte, error) {
	if m.err != nil {
		return dst, m.err
	}
	start := len(dst)
	dst = append(dst, byte(dhcpv4.OpcodeBootReply), m.htype, m.hlen, 0)
	dst = append(dst, m.xid[:]...)
	dst = binary.BigEndian.AppendUint16(dst, 0) // secs
	dst = binary.BigEndian.AppendUint16(dst, m.flags)
	dst = append(dst, m.ciaddr[:]...)
	dst = append(dst, m.yiaddr[:]...)
	dst = append(dst, m.siaddr[:]...)
	dst = append(dst, m.giaddr[:]...)
	dst = append(dst, m.chaddr[:]...)
	dst = append(dst, zeros[:64]...) // sname
	n := len(dst)
	dst = append(dst, zeros[:128]...)
	copy(dst[n:n+127], m.file)
	dst = append(dst, magicCookie[:]...)

	opts := m.opts[:m.nopts]
	slices.SortFunc(opts, func(a, b option) int { return optionRank(a.code) - optionRank(b.code) })
	for _, o := range opts {
		c, v := o.code, o.val
		if c == dhcpv4.OptionEnd.Code() || c == dhcpv4.OptionPad.Code() {
			continue
		}
		if len(v) == 0 {
			dst = append(dst, c, 0)
			continue
		}
		for len(v) > 0 {
			n := min(len(v), 255)
			dst = append(dst, c, byte(n))
			dst = append(dst, v[:n]...)
			v = v[n:]
		}
	}
	dst = append(dst, dhcpv4.OptionEnd.Code())
	for len(dst)-start < bootpMinLen {
		dst = append(dst, dhcpv4.OptionPad.Code())
	}
	if n := len(dst) - start; n > m.maxLen {
		return dst[:start], fmt.Errorf("%w: the reply takes %d bytes, the client accepts %d (ask it for fewer site options, or shorten them: subnet set --option CODE=)", ErrNoRoom, n, m.maxLen)
	}
	return dst, nil
}

// optionRank orders options as they are written: by code, 82 last.
func optionRank(c byte) int {
	if c == dhcpv4.OptionRelayAgentInformation.Code() {
		return 256
	}
	return int(c)
}

func parseOwn(b []byte) *dhcpv4.DHCPv4 {
	d, err := dhcpv4.FromBytes(b)
	if err != nil {
		// appendTo writes only what FromBytes reads; a failure is a bug
		// here, not bad input.
		panic("dhcp: reply does not parse: " + err.Error())
	}
	return d
}
