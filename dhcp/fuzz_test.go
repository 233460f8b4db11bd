package dhcp

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/node-switch/node-switch/nodes"
)

// FuzzHandle feeds arbitrary packets to the decision. Whether a packet's
// MAC is reserved, masked or unknown is derived from the MAC itself, so
// mutations explore all three; the invariant is that only a reserved,
// unmasked MAC ever gets a reply, and that the reply is well formed.
//
// Seeds: real firmware requests in testdata/packets (capture.sh there)
// plus a few built here. CI runs: go test -run '^$' -fuzz FuzzHandle -fuzztime 30s ./dhcp/
func FuzzHandle(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "packets", "*.bin"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, d := range seedRequests(f) {
		f.Add(d.ToBytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := dhcpv4.FromBytes(data)
		if err != nil {
			return
		}
		class, node := fuzzRecord(req.ClientHWAddr)
		inv := MapInventory{}
		if class != "unknown" {
			inv[node.Node.MAC] = node
		}
		for _, c := range []Settings{cfg, {ServerIP: serverIP}} {
			reply, d, _, err := Handle(context.Background(), req, inv, c)
			if reply == nil {
				if err == nil {
					t.Fatal("no reply and no reason")
				}
				continue
			}
			if err != nil {
				t.Fatalf("reply together with error %v", err)
			}
			if class != "reserved" {
				t.Fatalf("%s MAC %v got a %v", class, req.ClientHWAddr, reply.MessageType())
			}
			if reply.ClientHWAddr.String() != node.Node.MAC || reply.TransactionID != req.TransactionID {
				t.Fatalf("reply to %v carries chaddr %v xid %v", req.ClientHWAddr, reply.ClientHWAddr, reply.TransactionID)
			}
			if y := reply.YourIPAddr; !y.IsUnspecified() && !y.Equal(net.IP(node.Node.IP.AsSlice())) {
				t.Fatalf("reply hands out %v, reservation is %v", y, node.Node.IP)
			}
			if !d.Addr.IsValid() {
				t.Fatalf("reply without a destination")
			}
			if _, err := dhcpv4.FromBytes(reply.ToBytes()); err != nil {
				t.Fatalf("reply does not parse back: %v", err)
			}
		}
	})
}

// fuzzRecord classifies a MAC by its last byte: reserved, masked or
// unknown, and builds the record a reserved or masked one has.
func fuzzRecord(hw net.HardwareAddr) (string, Record) {
	if len(hw) != 6 {
		return "unknown", Record{}
	}
	r := Record{Node: nodes.Node{Name: "fuzz", MAC: hw.String(), IP: nodeIP, Cluster: "linux"}, Profile: linuxP}
	switch hw[5] % 3 {
	case 0:
		return "reserved", r
	case 1:
		r.Node.Masked = true
		return "masked", r
	}
	return "unknown", Record{}
}

// seedRequests are requests shaped like the firmware and clients the
// recipes measured: iPXE BIOS, OVMF native PXE (broadcast), iPXE EFI, a
// relay, dhclient's renew.
func seedRequests(t testing.TB) []*dhcpv4.DHCPv4 {
	hw := func(last byte) dhcpv4.Modifier {
		return dhcpv4.WithHwAddr(net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, last})
	}
	mk := func(mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
		d, err := dhcpv4.New(mods...)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	return []*dhcpv4.DHCPv4{
		mk(hw(0x57), dhcpv4.WithMessageType(dhcpv4.MessageTypeDiscover), arch(iana.INTEL_X86PC), pxeClass, ipxe, ipxe175, uuid97),
		mk(hw(0x58), dhcpv4.WithMessageType(dhcpv4.MessageTypeDiscover), arch(iana.EFI_X86_64), pxeClass, dhcpv4.WithBroadcast(true)),
		mk(hw(0x59), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), arch(iana.EFI_X86_64), ipxe, want50("10.99.0.50"), sid("10.99.0.1")),
		mk(hw(0x5a), dhcpv4.WithMessageType(dhcpv4.MessageTypeDiscover), dhcpv4.WithGatewayIP(net.ParseIP("10.99.0.254")), relay82),
		mk(hw(0x5b), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithClientIP(net.ParseIP("10.99.0.50"))),
		mk(hw(0x5c), dhcpv4.WithMessageType(dhcpv4.MessageTypeInform), dhcpv4.WithClientIP(net.ParseIP("10.99.0.50"))),
	}
}
