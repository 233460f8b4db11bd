package dhcp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/node-switch/node-switch/bootprofiles"
	"github.com/node-switch/node-switch/nodes"
)

// DefaultLeaseTime is used when the node's subnet names none. Reservations
// never change, so the lease only bounds how long a node keeps options that
// an operator has since changed.
const DefaultLeaseTime = time.Hour

// Record is what the inventory knows about one MAC at the moment of a
// request: the node, the profile it boots next, and the subnet (if any)
// that describes its reserved address.
type Record struct {
	Node nodes.Node
	// Profile is that of the node's boot cluster (nodes.Node.BootCluster):
	// while a boot-once is pending, the once cluster's, so DHCP names its
	// boot file until the node's config fetch ends the once.
	Profile nodes.Profile
	// Subnet is the most specific inventory subnet containing Node.IP, nil
	// when none does (the interface's own prefix is then the fallback).
	Subnet *nodes.Subnet
}

// Inventory is all the server needs from the inventory. Lookup returns an
// error wrapping nodes.ErrNotFound for a MAC without a reservation.
type Inventory interface {
	Lookup(ctx context.Context, mac string) (Record, error)
}

// MapInventory is an Inventory held in memory, keyed by canonical MAC
// (lower-case, colon separated); tests and the fuzz target use it.
type MapInventory map[string]Record

// Lookup implements Inventory.
func (m MapInventory) Lookup(_ context.Context, mac string) (Record, error) {
	r, ok := m[mac]
	if !ok {
		return Record{}, fmt.Errorf("mac %s: %w", mac, nodes.ErrNotFound)
	}
	return r, nil
}

// Settings describe the interface a request came in on.
type Settings struct {
	// ServerIP is this server's address on the interface: the server
	// identifier, and next-server unless the subnet names another.
	ServerIP netip.Addr
	// Prefix is the interface's own network, the fallback when no inventory
	// subnet contains a node's address.
	Prefix netip.Prefix
	// LeaseTime is used when the subnet names none (DefaultLeaseTime if 0).
	LeaseTime time.Duration
	// Own are the server's addresses (besides ServerIP), never leased.
	Own []netip.Addr
	// Loaders is what the boot root holds (the signed UEFI chain or not).
	Loaders bootprofiles.Loaders
	// HTTPPort is the HTTP boot endpoint's port on ServerIP, 0 when it is
	// off (native UEFI HTTP boot clients then get no boot URI).
	HTTPPort int
}

// DeliveryKind says where a reply goes (RFC 2131 §4.1).
type DeliveryKind int

const (
	// Broadcast to 255.255.255.255:68 on the interface the request came in on.
	Broadcast DeliveryKind = iota
	// Relay is unicast to the relay agent at giaddr:67.
	Relay
	// Unicast goes to the client's ciaddr:68.
	Unicast
)

func (k DeliveryKind) String() string {
	switch k {
	case Relay:
		return "relay"
	case Unicast:
		return "unicast"
	}
	return "broadcast"
}

// Delivery is the destination of a reply.
type Delivery struct {
	Kind DeliveryKind
	Addr netip.AddrPort
}

// Errors that explain silence. None of them is a fault of the server: a
// client asked for something it does not get.
var (
	ErrNotDHCP     = errors.New("not a DHCP request")
	ErrMasked      = errors.New("node is masked")
	ErrOtherServer = errors.New("request is for another server")
	ErrNoReply     = errors.New("message needs no reply")
	ErrNoSubnet    = errors.New("reserved address is in no known subnet")
)

// Errors that are faults to fix: the server logs them at warn.
var (
	// ErrUnleasable is a reservation DHCP must never hand out: a network,
	// broadcast or special address (nodes.CheckLeasable), or the server's
	// own, put into the inventory by hand.
	ErrUnleasable = errors.New("reserved address must never be leased")
	// ErrNoRoom is a reply that does not fit: more options than a reply
	// holds, or more bytes than the client accepts.
	ErrNoRoom = errors.New("reply has no room")
)

// Handle is the whole decision for one request: it looks the client up and
// returns the reply, or an error saying why there is none. Unknown MACs
// (nodes.ErrNotFound) and masked nodes never get a reply, whatever the
// request looks like.
func Handle(ctx context.Context, req *dhcpv4.DHCPv4, inv Inventory, cfg Settings) (*dhcpv4.DHCPv4, Delivery, Record, error) {
	out, d, rec, err := HandleAppend(ctx, nil, req, inv, cfg)
	if err != nil {
		return nil, Delivery{}, rec, err
	}
	return parseOwn(out), d, rec, nil
}

// HandleAppend is Handle as the server runs it: the reply's bytes appended
// to dst, never parsed back.
func HandleAppend(ctx context.Context, dst []byte, req *dhcpv4.DHCPv4, inv Inventory, cfg Settings) ([]byte, Delivery, Record, error) {
	mac, err := clientMAC(req)
	if err != nil {
		return dst, Delivery{}, Record{}, err
	}
	rec, err := inv.Lookup(ctx, mac)
	if err != nil {
		return dst, Delivery{}, Record{}, err
	}
	out, d, err := AppendReply(dst, req, rec, cfg)
	return out, d, rec, err
}

// clientMAC validates the parts of a request every rule depends on and
// returns the canonical MAC.
func clientMAC(req *dhcpv4.DHCPv4) (string, error) {
	if req.OpCode != dhcpv4.OpcodeBootRequest {
		return "", fmt.Errorf("%w: opcode %v", ErrNotDHCP, req.OpCode)
	}
	if req.HWType != iana.HWTypeEthernet || len(req.ClientHWAddr) != 6 {
		return "", fmt.Errorf("%w: hardware type %v, address length %d", ErrNotDHCP, req.HWType, len(req.ClientHWAddr))
	}
	if !req.Options.Has(dhcpv4.OptionDHCPMessageType) {
		return "", fmt.Errorf("%w: BOOTP without a DHCP message type", ErrNotDHCP)
	}
	if err := nodes.CheckNodeMAC(req.ClientHWAddr); err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotDHCP, err)
	}
	return req.ClientHWAddr.String(), nil
}

// pxeDiscoveryControl is PXE option 43: sub-option 6 (discovery control)
// = 8 (boot file from this offer, no boot-server discovery), then end.
var pxeDiscoveryControl = []byte{6, 1, 8, 0xff}

// Reply computes the answer to req for the node rec describes. It is a pure
// function of its arguments. The reply is parsed back from the bytes
// AppendReply would send.
func Reply(req *dhcpv4.DHCPv4, rec Record, cfg Settings) (*dhcpv4.DHCPv4, Delivery, error) {
	var m message
	d, err := reply(&m, req, rec, cfg)
	if err != nil {
		return nil, Delivery{}, err
	}
	b, err := m.appendTo(nil)
	if err != nil {
		return nil, Delivery{}, fmt.Errorf("node %s: %w", rec.Node.Name, err)
	}
	return parseOwn(b), d, nil
}

// AppendReply is Reply as the server needs it: the answer's bytes appended
// to dst.
func AppendReply(dst []byte, req *dhcpv4.DHCPv4, rec Record, cfg Settings) ([]byte, Delivery, error) {
	m := messages.Get().(*message)
	defer messages.Put(m)
	d, err := reply(m, req, rec, cfg)
	if err != nil {
		return dst, Delivery{}, err
	}
	out, err := m.appendTo(dst)
	if err != nil {
		return dst, Delivery{}, fmt.Errorf("node %s: %w", rec.Node.Name, err)
	}
	return out, d, nil
}

// messages recycles replies under construction (about 1.5 KiB each).
var messages = sync.Pool{New: func() any { return new(message) }}

func reply(m *message, req *dhcpv4.DHCPv4, rec Record, cfg Settings) (Delivery, error) {
	mac, err := clientMAC(req)
	if err != nil {
		return Delivery{}, err
	}
	n := rec.Node
	if n.MAC != mac {
		if m, err := nodes.ParseMAC(n.MAC); err != nil || m != mac {
			// The lookup must hand back the record of the asking MAC;
			// anything else would give one node's address to another.
			return Delivery{}, fmt.Errorf("node %s: record MAC %q does not match client %s", n.Name, n.MAC, mac)
		}
	}
	if n.Masked {
		return Delivery{}, fmt.Errorf("node %s (%s): %w", n.Name, mac, ErrMasked)
	}
	if !n.IP.Is4() {
		return Delivery{}, fmt.Errorf("node %s: reserved address %v is not IPv4", n.Name, n.IP)
	}
	if !cfg.ServerIP.Is4() {
		return Delivery{}, fmt.Errorf("node %s: server address %v is not IPv4", n.Name, cfg.ServerIP)
	}
	// A client naming another server in a REQUEST (or RELEASE/DECLINE) has
	// chosen that server; answering would start the race the two-server
	// setup exists to avoid.
	if sid := req.ServerIdentifier(); sid != nil && !sid.Equal(net.IP(cfg.ServerIP.AsSlice())) {
		return Delivery{}, fmt.Errorf("node %s: server identifier %s: %w", n.Name, sid, ErrOtherServer)
	}
	net4, err := networkOf(rec, cfg)
	if err != nil {
		return Delivery{}, err
	}
	if err := leasable(n, net4.prefix, cfg); err != nil {
		return Delivery{}, err
	}

	var typ dhcpv4.MessageType
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		typ = dhcpv4.MessageTypeOffer
	case dhcpv4.MessageTypeRequest:
		typ = dhcpv4.MessageTypeAck
		if want := requestedAddr(req); want.IsValid() && want != n.IP {
			nak(m, req, cfg, fmt.Sprintf("address %s is not reserved for this client", want))
			return deliver(req, true), nil
		}
	case dhcpv4.MessageTypeInform:
		// RFC 2131 §3.4: options only, no address, no lease.
		if err := build(m, req, rec, cfg, net4, dhcpv4.MessageTypeAck, false); err != nil {
			return Delivery{}, err
		}
		return deliver(req, false), nil
	default:
		// RELEASE and DECLINE need no answer: nothing is leased from a
		// pool, so there is nothing to free or to mark bad.
		return Delivery{}, fmt.Errorf("node %s: %v: %w", n.Name, req.MessageType(), ErrNoReply)
	}
	if err := build(m, req, rec, cfg, net4, typ, true); err != nil {
		return Delivery{}, err
	}
	return deliver(req, false), nil
}

// leasable refuses a reservation that must never be handed out, whatever
// the inventory holds: a hand edit (sqlite3) passes no check of nodes'.
func leasable(n nodes.Node, p netip.Prefix, cfg Settings) error {
	if err := nodes.CheckLeasable(n.IP, p); err != nil {
		return fmt.Errorf("node %s: %w: %v", n.Name, ErrUnleasable, err)
	}
	if n.IP == cfg.ServerIP || slices.Contains(cfg.Own, n.IP) {
		return fmt.Errorf("node %s: %w: %s is this server's own address", n.Name, ErrUnleasable, n.IP)
	}
	return nil
}

// network is what a reply says about the node's subnet.
type network struct {
	prefix     netip.Prefix
	mask       net.IPMask
	routers    []netip.Addr
	dns        []netip.Addr
	domain     string
	nextServer netip.Addr
	lease      time.Duration
	options    []nodes.DHCPOption
}

// networkOf applies the options rule of the package comment.
func networkOf(rec Record, cfg Settings) (network, error) {
	n := rec.Node
	lease := cfg.LeaseTime
	if lease <= 0 {
		lease = DefaultLeaseTime
	}
	if sn := rec.Subnet; sn != nil && sn.Prefix.Contains(n.IP) {
		out := network{
			prefix:     sn.Prefix,
			mask:       net.CIDRMask(sn.Prefix.Bits(), 32),
			routers:    sn.Routers,
			dns:        sn.DNS,
			domain:     sn.Domain,
			nextServer: sn.NextServer,
			lease:      sn.LeaseTime,
			options:    sn.Options,
		}
		if !out.nextServer.Is4() {
			out.nextServer = cfg.ServerIP
		}
		if out.lease <= 0 {
			out.lease = lease
		}
		return out, nil
	}
	if cfg.Prefix.IsValid() && cfg.Prefix.Contains(n.IP) {
		return network{prefix: cfg.Prefix, mask: net.CIDRMask(cfg.Prefix.Bits(), 32), nextServer: cfg.ServerIP, lease: lease}, nil
	}
	return network{}, fmt.Errorf("node %s: address %s: %w (add it with 'node-switch subnet set CIDR ...')", n.Name, n.IP, ErrNoSubnet)
}

// requestedAddr is the address a REQUEST asks for: option 50 in SELECTING
// and INIT-REBOOT, ciaddr when renewing or rebinding.
func requestedAddr(req *dhcpv4.DHCPv4) netip.Addr {
	if a, ok := addr4(req.RequestedIPAddress()); ok {
		return a
	}
	if a, ok := addr4(req.ClientIPAddr); ok {
		return a
	}
	return netip.Addr{}
}

func addr4(ip net.IP) (netip.Addr, bool) {
	ip4 := ip.To4()
	if ip4 == nil || ip4.IsUnspecified() {
		return netip.Addr{}, false
	}
	a, _ := netip.AddrFromSlice(ip4)
	return a, true
}

// deliver applies RFC 2131 §4.1.
func deliver(req *dhcpv4.DHCPv4, isNak bool) Delivery {
	if gi, ok := addr4(req.GatewayIPAddr); ok {
		return Delivery{Kind: Relay, Addr: netip.AddrPortFrom(gi, dhcpv4.ServerPort)}
	}
	if ci, ok := addr4(req.ClientIPAddr); ok && !isNak && !req.IsBroadcast() {
		return Delivery{Kind: Unicast, Addr: netip.AddrPortFrom(ci, dhcpv4.ClientPort)}
	}
	return Delivery{Kind: Broadcast, Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), dhcpv4.ClientPort)}
}

func nak(m *message, req *dhcpv4.DHCPv4, cfg Settings, why string) {
	newMessage(m, req, cfg.ServerIP, dhcpv4.MessageTypeNak)
	m.setString(dhcpv4.OptionMessage, why)
	if m.giaddr != [4]byte{} {
		// RFC 2131 §4.3.2: a relay must broadcast a NAK to the client.
		m.flags |= 0x8000
	}
}

// ipxeEncap is option 175 with sub-option 176 (no-pxedhcp) = 1: iPXE then
// does not wait ~2 s for proxyDHCP offers that will never come.
var ipxeEncap = []byte{176, 1, 1}

// build assembles an OFFER/ACK carrying the node's configuration.
func build(m *message, req *dhcpv4.DHCPv4, rec Record, cfg Settings, nw network, typ dhcpv4.MessageType, lease bool) error {
	n := rec.Node
	newMessage(m, req, cfg.ServerIP, typ)
	if lease {
		m.yiaddr = n.IP.As4()
		secs := nw.lease / time.Second
		if secs > 0xffffffff {
			secs = 0xffffffff
		}
		m.setUint32(dhcpv4.OptionIPAddressLeaseTime, uint32(secs))
	}
	if ci, ok := addr4(req.ClientIPAddr); ok && typ == dhcpv4.MessageTypeAck {
		m.ciaddr = ci.As4()
	}
	m.setBytes(dhcpv4.OptionSubnetMask, nw.mask...)
	m.setAddr(dhcpv4.OptionRouter, nw.routers...)
	m.setAddr(dhcpv4.OptionDomainNameServer, nw.dns...)
	if nw.domain != "" {
		m.setString(dhcpv4.OptionDomainName, nw.domain)
	}
	m.setString(dhcpv4.OptionHostName, n.Name)
	// Site options go, as ISC dhcpd sends them, to a client that asks for
	// them in its parameter request list (55), or to one that sends no
	// list at all. The server's own options above go to every client.
	prl, listed := req.Options[dhcpv4.OptionParameterRequestList.Code()]
	for _, o := range nw.options {
		if !listed || bytes.IndexByte(prl, o.Code) >= 0 {
			m.set(dhcpv4.GenericOptionCode(o.Code), o.Wire())
		}
	}

	fw := ClientFirmware(req)
	m.siaddr = nw.nextServer.As4()
	m.set(dhcpv4.OptionTFTPServerName, nw.nextServer.AppendTo(m.alloc(len("255.255.255.255"))[:0]))
	switch {
	case fw.HTTP && fw.Key != "" && cfg.HTTPPort > 0:
		// Native UEFI HTTP boot takes only an offer that says HTTPClient
		// and carries a boot URI; it ignores any other and retries DHCP
		// for a minute.
		file, ok := bootprofiles.HTTPBootFile(rec.Profile, fw.Key)
		if !ok {
			file = bootprofiles.NoHTTPBootFile
		}
		url := "http://" + netip.AddrPortFrom(cfg.ServerIP, uint16(cfg.HTTPPort)).String() + "/" + strings.TrimLeft(file, "/")
		if err := setBootFile(m, n, url); err != nil {
			return err
		}
		m.set(dhcpv4.OptionClassIdentifier, httpClient)
	case fw.IPXE && !fw.HTTP && cfg.HTTPPort > 0 && bootprofiles.IPXEScript(rec.Profile, fw.Key):
		// Already iPXE: no second loader, the profile as a script.
		url := "http://" + netip.AddrPortFrom(cfg.ServerIP, uint16(cfg.HTTPPort)).String() + "/" + bootprofiles.IPXEConfigName(n.MAC)
		if err := setBootFile(m, n, url); err != nil {
			return err
		}
	case fw.Key != "" && !fw.HTTP:
		if file, ok := bootprofiles.BootFileFor(rec.Profile, fw.Key, fw.IPXE, cfg.Loaders); ok {
			if err := setBootFile(m, n, file); err != nil {
				return err
			}
		}
	}
	if fw.PXE {
		// Option 60 "PXEClient" alone makes OVMF's PXE client look for
		// boot-server discovery parameters and reject the offer
		// (PXE-E16); option 43 with PXE_DISCOVERY_CONTROL = 8 says "take
		// the boot file from this offer", as the firmware needs.
		m.set(dhcpv4.OptionClassIdentifier, pxeClient)
		m.set(dhcpv4.OptionVendorSpecificInformation, pxeDiscoveryControl)
	}
	if v := req.Options.Get(dhcpv4.OptionClientMachineIdentifier); v != nil {
		m.set(dhcpv4.OptionClientMachineIdentifier, v)
	}
	if fw.IPXE {
		m.set(dhcpv4.GenericOptionCode(175), ipxeEncap)
	}
	return nil
}

var (
	pxeClient  = []byte("PXEClient")
	httpClient = []byte("HTTPClient")
)

func setBootFile(m *message, n nodes.Node, file string) error {
	if len(file) > 127 {
		return fmt.Errorf("node %s: boot file %q is longer than the 127 bytes a DHCP reply holds", n.Name, file)
	}
	m.file = file
	m.setString(dhcpv4.OptionBootfileName, file)
	return nil
}

// Firmware is what a request says about the software that sent it.
type Firmware struct {
	// Key is the boot file key (nodes.BootBIOS, BootUEFI, BootARM64), ""
	// for an architecture we have no boot file for.
	Key  string
	IPXE bool
	// PXE is true for PXE clients (option 60 starting with "PXEClient").
	PXE bool
	// HTTP is true for native UEFI HTTP boot clients (option 60 starting
	// with "HTTPClient", option 93 16 or 19): they take a boot URI.
	HTTP bool
	// Arch is option 93 as sent, -1 when absent.
	Arch int
}

// Label is the firmware recorded for nodes.Node.Firmware: "bios", "uefi" or
// "arm64", with "-ipxe" when iPXE asked; "" when the request does not say
// (no option 93 and not iPXE: an OS's DHCP client, not firmware).
func (f Firmware) Label() string {
	if f.Arch < 0 && !f.IPXE {
		return ""
	}
	l := f.Key
	if l == "" {
		l = fmt.Sprintf("arch%d", f.Arch)
	}
	if f.IPXE {
		l += "-ipxe"
	}
	if f.HTTP {
		l += "-http"
	}
	return l
}

// ClientFirmware reads options 93, 77, 175 and 60.
func ClientFirmware(req *dhcpv4.DHCPv4) Firmware {
	f := Firmware{Arch: -1, Key: nodes.BootBIOS}
	if v := req.Options.Get(dhcpv4.OptionClientSystemArchitectureType); len(v) >= 2 {
		f.Arch = int(binary.BigEndian.Uint16(v))
		switch iana.Arch(f.Arch) {
		case iana.INTEL_X86PC:
			f.Key = nodes.BootBIOS
		case iana.EFI_BC, iana.EFI_X86_64, iana.EFI_X86_64_HTTP:
			f.Key = nodes.BootUEFI
		case iana.EFI_ARM64, iana.EFI_ARM64_HTTP:
			f.Key = nodes.BootARM64
		default:
			f.Key = ""
		}
	}
	f.IPXE = req.Options.Has(dhcpv4.GenericOptionCode(175)) ||
		bytes.Contains(req.Options.Get(dhcpv4.OptionUserClassInformation), []byte("iPXE"))
	f.PXE = bytes.HasPrefix(req.Options.Get(dhcpv4.OptionClassIdentifier), pxeClient)
	f.HTTP = bytes.HasPrefix(req.Options.Get(dhcpv4.OptionClassIdentifier), httpClient)
	return f
}
