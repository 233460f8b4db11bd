package dhcp

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// TestMessageBytesMatchTheLibrary holds the hand-written encoder to the
// dhcpv4 library's: the same message, marshalled both ways, must be the
// same bytes.
func TestMessageBytesMatchTheLibrary(t *testing.T) {
	long := bytes.Repeat([]byte{7}, 300) // RFC 3396: split into 255 + 45
	cases := []struct {
		name string
		fill func(m *message)
	}{
		{"header only", func(m *message) {}},
		{"offer", func(m *message) {
			m.yiaddr = [4]byte{10, 0, 0, 5}
			m.siaddr = [4]byte{10, 0, 0, 1}
			m.file = "um64_linux/pxelinux.0"
			m.setUint32(dhcpv4.OptionIPAddressLeaseTime, 3600)
			m.setBytes(dhcpv4.OptionSubnetMask, 255, 255, 255, 0)
			m.setAddr(dhcpv4.OptionRouter, netip.MustParseAddr("10.0.0.254"), netip.MustParseAddr("fe80::1"), netip.MustParseAddr("10.0.0.253"))
			m.setString(dhcpv4.OptionHostName, "umu18")
			m.setString(dhcpv4.OptionBootfileName, m.file)
			m.set(dhcpv4.OptionClassIdentifier, pxeClient)
			m.set(dhcpv4.OptionVendorSpecificInformation, pxeDiscoveryControl)
			m.set(dhcpv4.GenericOptionCode(175), ipxeEncap)
		}},
		{"relay information last, long and empty values", func(m *message) {
			m.giaddr = [4]byte{192, 168, 1, 1}
			m.flags = 0x8000
			m.set(dhcpv4.OptionRelayAgentInformation, []byte{1, 3, 'a', 'b', 'c'})
			m.set(dhcpv4.OptionClientIdentifier, long)
			m.set(dhcpv4.OptionClientMachineIdentifier, []byte{})
			m.setString(dhcpv4.OptionMessage, "address 10.0.0.9 is not reserved for this client")
		}},
		{"replaced value", func(m *message) {
			m.setString(dhcpv4.OptionHostName, "first")
			m.setString(dhcpv4.OptionHostName, "second")
		}},
		{"file of 127 bytes and more", func(m *message) { m.file = string(bytes.Repeat([]byte{'f'}, 140)) }},
		{"arena overflow", func(m *message) {
			for c := 200; c < 210; c++ {
				m.set(dhcpv4.GenericOptionCode(c), m.alloc(100))
			}
		}},
	}
	req, err := dhcpv4.NewDiscovery(net.HardwareAddr{2, 0, 0, 0, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var m message
			newMessage(&m, req, netip.MustParseAddr("10.0.0.1"), dhcpv4.MessageTypeOffer)
			m.maxLen = 1 << 16 // layout only; TestReplyHasNoRoom tests the limit
			tc.fill(&m)
			lib := &dhcpv4.DHCPv4{
				OpCode: dhcpv4.OpcodeBootReply, HWType: req.HWType, TransactionID: m.xid, Flags: m.flags,
				ClientIPAddr: net.IP(m.ciaddr[:]), YourIPAddr: net.IP(m.yiaddr[:]),
				ServerIPAddr: net.IP(m.siaddr[:]), GatewayIPAddr: net.IP(m.giaddr[:]),
				ClientHWAddr: req.ClientHWAddr, BootFileName: m.file, Options: dhcpv4.Options{},
			}
			for _, o := range m.opts[:m.nopts] {
				lib.Options[o.code] = o.val
			}
			want := lib.ToBytes()
			got, err := m.appendTo([]byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:6], []byte("prefix")) || !bytes.Equal(got[6:], want) {
				t.Fatalf("bytes differ from dhcpv4's ToBytes\n got %x\nwant %x", got[6:], want)
			}
		})
	}
}
