package nodes

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// DHCPOption is a site option a subnet's replies carry (subnet set
// --option CODE=VALUE): NTP servers, the MTU, a domain search list. Value is
// the operator's text in canonical form (what is stored and shown); the
// bytes a reply carries are computed once, when the option is parsed, so
// the DHCP server only copies them.
type DHCPOption struct {
	Code  uint8  `json:"code"`
	Name  string `json:"name,omitempty"` // e.g. "ntp-servers"; "" for a code without a known type
	Value string `json:"value"`
	wire  []byte
}

// Wire is the option's value as a DHCP reply carries it.
func (o DHCPOption) Wire() []byte { return o.wire }

func (o DHCPOption) String() string { return fmt.Sprintf("%d=%s", o.Code, o.Value) }

// optionKind is how an option's text becomes bytes.
type optionKind int

const (
	kindIPs     optionKind = iota // comma-separated IPv4 addresses
	kindIP                        // exactly one IPv4 address
	kindUint8                     // 0..255
	kindUint16                    // 0..65535
	kindUint32                    // 0..4294967295 (seconds, mostly)
	kindInt32                     // signed (time offset)
	kindBool                      // true/false
	kindText                      // bytes as given
	kindDomains                   // RFC 3397 search list, comma separated
)

var kindHelp = map[optionKind]string{
	kindIPs:     "IPv4 addresses separated by commas",
	kindIP:      "one IPv4 address",
	kindUint8:   "a number from 0 to 255",
	kindUint16:  "a number from 0 to 65535",
	kindUint32:  "a number from 0 to 4294967295",
	kindInt32:   "a signed 32-bit number",
	kindBool:    "true or false",
	kindText:    "text",
	kindDomains: "domain names separated by commas",
}

type optionType struct {
	name string
	kind optionKind
}

// optionTypes are the RFC 2132 (and later) options whose text form
// node-switch understands; any other code takes hex:.. bytes. Names are ISC
// dhcpd's, so an admin coming from dhcpd.conf finds them.
var optionTypes = map[uint8]optionType{
	2:   {"time-offset", kindInt32},
	4:   {"time-servers", kindIPs},
	5:   {"ien116-name-servers", kindIPs},
	7:   {"log-servers", kindIPs},
	8:   {"cookie-servers", kindIPs},
	9:   {"lpr-servers", kindIPs},
	10:  {"impress-servers", kindIPs},
	11:  {"resource-location-servers", kindIPs},
	13:  {"boot-size", kindUint16},
	14:  {"merit-dump", kindText},
	16:  {"swap-server", kindIP},
	17:  {"root-path", kindText},
	18:  {"extensions-path", kindText},
	19:  {"ip-forwarding", kindBool},
	20:  {"non-local-source-routing", kindBool},
	22:  {"max-dgram-reassembly", kindUint16},
	23:  {"default-ip-ttl", kindUint8},
	24:  {"path-mtu-aging-timeout", kindUint32},
	26:  {"interface-mtu", kindUint16},
	27:  {"all-subnets-local", kindBool},
	29:  {"perform-mask-discovery", kindBool},
	30:  {"mask-supplier", kindBool},
	31:  {"router-discovery", kindBool},
	32:  {"router-solicitation-address", kindIP},
	34:  {"trailer-encapsulation", kindBool},
	35:  {"arp-cache-timeout", kindUint32},
	36:  {"ieee802-3-encapsulation", kindBool},
	37:  {"default-tcp-ttl", kindUint8},
	38:  {"tcp-keepalive-interval", kindUint32},
	39:  {"tcp-keepalive-garbage", kindBool},
	40:  {"nis-domain", kindText},
	41:  {"nis-servers", kindIPs},
	42:  {"ntp-servers", kindIPs},
	44:  {"netbios-name-servers", kindIPs},
	45:  {"netbios-dd-server", kindIPs},
	46:  {"netbios-node-type", kindUint8},
	47:  {"netbios-scope", kindText},
	48:  {"font-servers", kindIPs},
	49:  {"x-display-manager", kindIPs},
	64:  {"nisplus-domain", kindText},
	65:  {"nisplus-servers", kindIPs},
	68:  {"mobile-ip-home-agent", kindIPs},
	69:  {"smtp-server", kindIPs},
	70:  {"pop-server", kindIPs},
	71:  {"nntp-server", kindIPs},
	72:  {"www-server", kindIPs},
	73:  {"finger-server", kindIPs},
	74:  {"irc-server", kindIPs},
	75:  {"streettalk-server", kindIPs},
	76:  {"streettalk-directory-assistance-server", kindIPs},
	100: {"pcode", kindText},
	101: {"tcode", kindText},
	114: {"default-url", kindText},
	119: {"domain-search", kindDomains},
	150: {"tftp-server-address", kindIPs},
	209: {"pxelinux-configfile", kindText},
	210: {"pxelinux-pathprefix", kindText},
	211: {"pxelinux-reboottime", kindUint32},
	252: {"wpad-url", kindText},
}

// serverOptions are the codes the server itself decides; a site value would
// contradict or duplicate it. Each says where the value comes from.
var serverOptions = map[uint8]string{
	0:   "pad is not an option",
	1:   "the subnet mask follows from the CIDR",
	3:   "use --router",
	6:   "use --dns",
	12:  "the server sends the node's name",
	15:  "use --domain",
	28:  "the broadcast address follows from the CIDR",
	43:  "the server sets it for PXE clients",
	50:  "clients send it, servers do not",
	51:  "use --lease-time",
	52:  "the server does not overload the sname and file fields",
	53:  "the server sets the message type",
	54:  "the server identifier is the serving address",
	55:  "clients send it, servers do not",
	56:  "the server sets it in NAKs",
	57:  "clients send it, servers do not",
	58:  "clients derive renewal from --lease-time",
	59:  "clients derive rebinding from --lease-time",
	60:  "the server sets it for PXE clients",
	61:  "the server echoes the client's",
	66:  "use --next-server",
	67:  "boot files come from the node's profile (profile set --boot-file)",
	77:  "clients send it, servers do not",
	81:  "clients send it, servers do not",
	82:  "the server echoes the relay agent's",
	93:  "clients send it, servers do not",
	94:  "clients send it, servers do not",
	97:  "the server echoes the client's",
	175: "the server sets it for iPXE clients",
	255: "end is not an option",
}

// MaxSiteOptions bounds the --option values of one subnet; a reply holds
// the server's own options too.
const MaxSiteOptions = 24

// ParseOptionArg splits an --option argument, CODE=VALUE or NAME=VALUE, into
// the option code and the value text; an empty value means "remove".
func ParseOptionArg(arg string) (uint8, string, error) {
	k, v, ok := strings.Cut(arg, "=")
	if !ok {
		return 0, "", fmt.Errorf("option %q: want CODE=VALUE such as 42=10.20.0.2 (or 42= to remove it)", arg)
	}
	k = strings.TrimSpace(k)
	if n, err := strconv.ParseUint(k, 10, 8); err == nil {
		return uint8(n), strings.TrimSpace(v), nil
	}
	for code, t := range optionTypes {
		if t.name == k {
			return code, strings.TrimSpace(v), nil
		}
	}
	return 0, "", fmt.Errorf("option %q: %q is neither a code from 1 to 254 nor a known option name such as ntp-servers", arg, k)
}

// ParseDHCPOption checks a site option and computes the bytes a reply
// carries. Known codes take their text form (42=10.0.0.1,10.0.0.2,
// 26=9000, 119=cluster.local,example.org, 19=false); any allowed code takes
// raw bytes as hex:0a0b.
func ParseDHCPOption(code uint8, value string) (DHCPOption, error) {
	t, known := optionTypes[code]
	o := DHCPOption{Code: code, Name: t.name}
	if why, ok := serverOptions[code]; ok {
		return o, fmt.Errorf("option %d cannot be set per subnet: %s", code, why)
	}
	value = strings.TrimSpace(value)
	if value == "" {
		return o, fmt.Errorf("option %d: empty value", code)
	}
	var err error
	if h, ok := strings.CutPrefix(value, "hex:"); ok {
		o.wire, err = hex.DecodeString(strings.ReplaceAll(h, ":", ""))
		if err != nil || len(o.wire) == 0 {
			return o, fmt.Errorf("option %d: %q is not hex bytes such as hex:0a0b", code, value)
		}
		o.Value = "hex:" + hex.EncodeToString(o.wire)
	} else if !known {
		return o, fmt.Errorf("option %d has no known type: give its bytes as %d=hex:0a0b", code, code)
	} else if o.Value, o.wire, err = encodeOption(t.kind, value); err != nil {
		return o, fmt.Errorf("option %d (%s): %q: %v (want %s)", code, t.name, value, err, kindHelp[t.kind])
	}
	// Longer values need RFC 3396 concatenation, which many PXE ROMs lack.
	if len(o.wire) > 255 {
		return o, fmt.Errorf("option %d: %d bytes, more than the 255 one option holds", code, len(o.wire))
	}
	return o, nil
}

// encodeOption returns the canonical text and the wire bytes of a value.
func encodeOption(k optionKind, s string) (string, []byte, error) {
	switch k {
	case kindIPs, kindIP:
		var b []byte
		var canon []string
		for _, f := range strings.Split(s, ",") {
			a, err := ParseIP(f)
			if err != nil {
				return "", nil, err
			}
			b = append(b, a.AsSlice()...)
			canon = append(canon, a.String())
		}
		if k == kindIP && len(canon) != 1 {
			return "", nil, fmt.Errorf("%d addresses", len(canon))
		}
		return strings.Join(canon, ","), b, nil
	case kindUint8, kindUint16, kindUint32:
		bits := map[optionKind]int{kindUint8: 8, kindUint16: 16, kindUint32: 32}[k]
		n, err := strconv.ParseUint(s, 10, bits)
		if err != nil {
			return "", nil, fmt.Errorf("not a number that fits %d bits", bits)
		}
		b := binary.BigEndian.AppendUint64(nil, n)
		return strconv.FormatUint(n, 10), b[8-bits/8:], nil
	case kindInt32:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return "", nil, fmt.Errorf("not a signed 32-bit number")
		}
		return strconv.FormatInt(n, 10), binary.BigEndian.AppendUint32(nil, uint32(int32(n))), nil
	case kindBool:
		switch strings.ToLower(s) {
		case "true", "on", "yes", "1":
			return "true", []byte{1}, nil
		case "false", "off", "no", "0":
			return "false", []byte{0}, nil
		}
		return "", nil, fmt.Errorf("not a boolean")
	case kindText:
		for _, r := range s {
			if r < 0x20 || r > 0x7e {
				return "", nil, fmt.Errorf("only printable ASCII")
			}
		}
		return s, []byte(s), nil
	case kindDomains:
		var names []string
		for _, f := range strings.Split(s, ",") {
			n := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(f), "."))
			if err := checkDomain(n); err != nil {
				return "", nil, err
			}
			names = append(names, n)
		}
		return strings.Join(names, ","), searchList(names), nil
	}
	return "", nil, fmt.Errorf("unknown kind %d", k)
}

func checkDomain(n string) error {
	if n == "" || len(n) > 253 {
		return fmt.Errorf("domain name %q: empty or longer than 253", n)
	}
	for _, l := range strings.Split(n, ".") {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("domain name %q: labels of 1 to 63 characters", n)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("domain name %q: only letters, digits, '-' and '_'", n)
			}
		}
	}
	return nil
}

// searchList encodes names as RFC 3397 wants: RFC 1035 labels, a suffix
// already written replaced by a pointer to it, offsets counted from the
// start of the option's value.
func searchList(names []string) []byte {
	var b []byte
	at := map[string]int{}
	for _, n := range names {
		labels := strings.Split(n, ".")
		for i := range labels {
			suffix := strings.Join(labels[i:], ".")
			if off, ok := at[suffix]; ok {
				b = binary.BigEndian.AppendUint16(b, 0xc000|uint16(off))
				break
			}
			if len(b) < 0x4000 {
				at[suffix] = len(b)
			}
			b = append(b, byte(len(labels[i])))
			b = append(b, labels[i]...)
			if i == len(labels)-1 {
				b = append(b, 0)
			}
		}
	}
	return b
}

// optionsFromMap parses stored options ({"42": "10.0.0.1"}) in code order.
func optionsFromMap(m map[string]string) ([]DHCPOption, error) {
	var out []DHCPOption
	for k, v := range m {
		code, err := strconv.ParseUint(k, 10, 8)
		if err != nil {
			return nil, fmt.Errorf("option code %q", k)
		}
		o, err := ParseDHCPOption(uint8(code), v)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	sortOptions(out)
	return out, nil
}

func sortOptions(os []DHCPOption) {
	slices.SortFunc(os, func(a, b DHCPOption) int { return int(a.Code) - int(b.Code) })
}

func optionsToMap(os []DHCPOption) map[string]string {
	m := make(map[string]string, len(os))
	for _, o := range os {
		m[strconv.Itoa(int(o.Code))] = o.Value
	}
	return m
}

// CheckLeasable says why ip must never be reserved for a node, nil when it
// may be: addresses a client cannot hold (unspecified, loopback, multicast,
// the limited broadcast, link-local, which belongs to autoconfiguration) and
// the network and broadcast addresses of prefix, the subnet that contains
// it (none for /31 and /32, RFC 3021). An invalid prefix checks only the
// former.
func CheckLeasable(ip netip.Addr, prefix netip.Prefix) error {
	switch {
	case !ip.Is4():
		return fmt.Errorf("%v is not an IPv4 address", ip)
	case ip.IsUnspecified():
		return fmt.Errorf("%s is the unspecified address", ip)
	case ip.IsLoopback():
		return fmt.Errorf("%s is a loopback address", ip)
	case ip.IsMulticast():
		return fmt.Errorf("%s is a multicast address", ip)
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%s is the limited broadcast address", ip)
	case ip.IsLinkLocalUnicast():
		return fmt.Errorf("%s is a link-local address (169.254.0.0/16 belongs to autoconfiguration)", ip)
	case ip.As4()[0] >= 240:
		return fmt.Errorf("%s is in the reserved range 240.0.0.0/4", ip)
	}
	if !prefix.IsValid() || !prefix.Addr().Is4() || prefix.Bits() > 30 || !prefix.Contains(ip) {
		return nil
	}
	p := prefix.Masked()
	if ip == p.Addr() {
		return fmt.Errorf("%s is the network address of subnet %s", ip, p)
	}
	b := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	bc := binary.BigEndian.Uint32(b[:]) | host
	if binary.BigEndian.Uint32(ip.AsSlice()) == bc {
		return fmt.Errorf("%s is the broadcast address of subnet %s", ip, p)
	}
	return nil
}

// CheckNodeMAC refuses hardware addresses no NIC has: the broadcast and
// other group (multicast) addresses, and all zeros.
func CheckNodeMAC(hw []byte) error {
	if len(hw) != 6 {
		return fmt.Errorf("MAC %x is not six bytes", hw)
	}
	if hw[0]&1 != 0 {
		return fmt.Errorf("MAC %s is a broadcast or multicast address, not a NIC's", macString(hw))
	}
	if [6]byte(hw) == [6]byte{} {
		return fmt.Errorf("MAC %s is all zeros, not a NIC's", macString(hw))
	}
	return nil
}

func macString(hw []byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", hw[0], hw[1], hw[2], hw[3], hw[4], hw[5])
}

// UnmarshalJSON parses the option again, so its wire bytes are there.
func (o *DHCPOption) UnmarshalJSON(b []byte) error {
	var j struct {
		Code  uint8  `json:"code"`
		Value string `json:"value"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	p, err := ParseDHCPOption(j.Code, j.Value)
	if err != nil {
		return err
	}
	*o = p
	return nil
}
