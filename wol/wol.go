// Package wol wakes powered-off machines with Wake-on-LAN magic packets:
// six 0xff bytes and sixteen copies of the MAC, sent as a UDP broadcast on
// the node's own network segment, where the NIC's firmware listens.
package wol

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// DefaultPort is the discard port most senders (etherwake's UDP mode,
// wakeonlan) use; NICs match the payload, not the port.
const DefaultPort = 9

// MagicPacket returns the 102-byte payload that wakes the NIC with mac.
func MagicPacket(mac string) ([]byte, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return nil, fmt.Errorf("wake-on-LAN: malformed MAC address %q", mac)
	}
	p := make([]byte, 0, 6+16*6)
	for range 6 {
		p = append(p, 0xff)
	}
	for range 16 {
		p = append(p, hw...)
	}
	return p, nil
}

// Broadcast is the directed broadcast address of an IPv4 prefix.
func Broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Iface is a local interface with its IPv4 networks.
type Iface struct {
	Name     string
	Prefixes []netip.Prefix
}

// LocalIfaces lists the up, broadcast-capable interfaces of this host.
func LocalIfaces() ([]Iface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("wake-on-LAN: list interfaces: %w", err)
	}
	var out []Iface
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagBroadcast == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		x := Iface{Name: ifc.Name}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP.To4()); ok && ip.Is4() {
					ones, _ := ipn.Mask.Size()
					x.Prefixes = append(x.Prefixes, netip.PrefixFrom(ip, ones))
				}
			}
		}
		out = append(out, x)
	}
	return out, nil
}

// Route says where a node's magic packet goes.
type Route struct {
	Interface string
	Broadcast netip.Addr
}

// Plan picks the interface and broadcast address for a node at ip. The
// node's subnet from the inventory (subnet, if valid) wins over what the
// interface's own address says, since a head node may carry several
// networks on one link. With iface given only that interface is used; a
// node outside all its networks gets the limited broadcast out of it.
func Plan(ifaces []Iface, iface string, ip netip.Addr, subnet netip.Prefix) (Route, error) {
	var onLink *Iface
	var linkPrefix netip.Prefix
	for i := range ifaces {
		if iface != "" && ifaces[i].Name != iface {
			continue
		}
		for _, p := range ifaces[i].Prefixes {
			if p.Masked().Contains(ip) && (onLink == nil || p.Bits() > linkPrefix.Bits()) {
				onLink, linkPrefix = &ifaces[i], p
			}
		}
	}
	switch {
	case onLink == nil && iface == "":
		return Route{}, fmt.Errorf("no interface of this host is on %s's network: pass --wake-interface", ip)
	case onLink == nil:
		found := false
		for _, x := range ifaces {
			found = found || x.Name == iface
		}
		if !found {
			return Route{}, fmt.Errorf("interface %s is not up or cannot broadcast", iface)
		}
		// A directed broadcast to a network not on this link would need a
		// router to forward it, which routers refuse by default.
		return Route{Interface: iface, Broadcast: netip.AddrFrom4([4]byte{255, 255, 255, 255})}, nil
	}
	if subnet.IsValid() && subnet.Contains(ip) {
		return Route{Interface: onLink.Name, Broadcast: Broadcast(subnet)}, nil
	}
	return Route{Interface: onLink.Name, Broadcast: Broadcast(linkPrefix)}, nil
}

// Send broadcasts the magic packet for mac out of r.Interface. The socket
// is bound to the interface so the packet leaves on the lab's segment even
// when the routing table would pick another.
func Send(ctx context.Context, mac string, r Route, port int) error {
	pkt, err := MagicPacket(mac)
	if err != nil {
		return err
	}
	if port == 0 {
		port = DefaultPort
	}
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
			if serr == nil && r.Interface != "" {
				serr = syscall.SetsockoptString(int(fd), syscall.SOL_SOCKET, syscall.SO_BINDTODEVICE, r.Interface)
			}
		})
		return errors.Join(err, serr)
	}}
	pc, err := lc.ListenPacket(ctx, "udp4", ":0")
	if err != nil {
		return fmt.Errorf("wake %s: socket on %s: %w", mac, r.Interface, err)
	}
	defer pc.Close()
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.Broadcast, uint16(port)))
	// NICs in deep sleep can miss a frame; senders habitually repeat it.
	for range 3 {
		if _, err := pc.WriteTo(pkt, dst); err != nil {
			return fmt.Errorf("wake %s: send to %s on %s: %w", mac, dst, r.Interface, err)
		}
	}
	return nil
}
