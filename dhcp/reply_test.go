package dhcp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/node-switch/node-switch/nodes"
)

const testMAC = "52:54:00:12:34:56"

var (
	serverIP = netip.MustParseAddr("10.99.0.1")
	nodeIP   = netip.MustParseAddr("10.99.0.50")
	cfg      = Settings{ServerIP: serverIP, Prefix: netip.MustParsePrefix("10.99.0.0/24")}
	linuxP   = nodes.Profile{Name: "linux", Kind: nodes.KindLinux,
		BootFiles: map[string]string{nodes.BootIPXE: "boot.ipxe"}}
	winP = nodes.Profile{Name: "windows", Kind: nodes.KindLocalDisk}
)

func rec(mods ...func(*Record)) Record {
	r := Record{Node: nodes.Node{Name: "umu20", MAC: testMAC, IP: nodeIP, Cluster: "linux"}, Profile: linuxP}
	for _, m := range mods {
		m(&r)
	}
	return r
}

// request builds a client packet; the modifiers shape it like a firmware.
func request(t testing.TB, typ dhcpv4.MessageType, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	hw, _ := net.ParseMAC(testMAC)
	m := append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(hw), dhcpv4.WithMessageType(typ)}, mods...)
	d, err := dhcpv4.New(m...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var (
	pxeClass = dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001"))
	uuid97   = dhcpv4.WithGeneric(dhcpv4.OptionClientMachineIdentifier, append([]byte{0}, bytes.Repeat([]byte{0xab}, 16)...))
	ipxe     = dhcpv4.WithGeneric(dhcpv4.OptionUserClassInformation, []byte("iPXE"))
	ipxe175  = dhcpv4.WithGeneric(dhcpv4.GenericOptionCode(175), []byte{177, 5, 1, 0x80, 0x86, 0x10, 0x0e})
	relay82  = dhcpv4.WithGeneric(dhcpv4.OptionRelayAgentInformation, []byte{1, 4, 'p', 'o', 'r', 't'})
)

func arch(a iana.Arch) dhcpv4.Modifier { return dhcpv4.WithOption(dhcpv4.OptClientArch(a)) }
func sid(a string) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(a)))
}
func want50(a string) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(a)))
}

var broadcast = Delivery{Kind: Broadcast, Addr: netip.MustParseAddrPort("255.255.255.255:68")}

func TestReply(t *testing.T) {
	subnet := &nodes.Subnet{Prefix: netip.MustParsePrefix("10.99.0.0/23"), Routers: []netip.Addr{netip.MustParseAddr("10.99.0.254")},
		DNS: []netip.Addr{netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.3")}, Domain: "cluster.example",
		NextServer: netip.MustParseAddr("10.99.0.9"), LeaseTime: 12 * time.Hour}
	tests := []struct {
		name     string
		req      *dhcpv4.DHCPv4
		rec      Record
		err      error // want errors.Is(err); nil means a reply
		anyErr   bool
		typ      dhcpv4.MessageType
		file     string
		delivery Delivery
		check    func(t *testing.T, r *dhcpv4.DHCPv4)
	}{
		{name: "BIOS PXE discover", req: request(t, dhcpv4.MessageTypeDiscover, arch(iana.INTEL_X86PC), pxeClass, uuid97, dhcpv4.WithBroadcast(true)),
			rec: rec(), typ: dhcpv4.MessageTypeOffer, file: "pxelinux.0", delivery: broadcast,
			check: func(t *testing.T, r *dhcpv4.DHCPv4) {
				if got := r.Options.Get(dhcpv4.OptionVendorSpecificInformation); !bytes.Equal(got, []byte{6, 1, 8, 0xff}) {
					t.Errorf("option 43 = % x, want 06 01 08 ff (OVMF rejects a PXEClient offer without it)", got)
				}
				if r.ClassIdentifier() != "PXEClient" {
					t.Errorf("option 60 = %q, want PXEClient", r.ClassIdentifier())
				}
				if got := r.Options.Get(dhcpv4.OptionClientMachineIdentifier); len(got) != 17 || got[1] != 0xab {
					t.Errorf("option 97 not echoed: %x", got)
				}
				if !r.ServerIdentifier().Equal(net.ParseIP("10.99.0.1")) || !r.ServerIPAddr.Equal(net.ParseIP("10.99.0.1")) {
					t.Errorf("server id %v siaddr %v, want 10.99.0.1", r.ServerIdentifier(), r.ServerIPAddr)
				}
				if r.TFTPServerName() != "10.99.0.1" {
					t.Errorf("option 66 = %q", r.TFTPServerName())
				}
				if r.HostName() != "umu20" {
					t.Errorf("host name %q", r.HostName())
				}
				if m := r.SubnetMask(); m.String() != net.CIDRMask(24, 32).String() {
					t.Errorf("mask %v, want /24 from the interface", m)
				}
				if r.IPAddressLeaseTime(0) != DefaultLeaseTime {
					t.Errorf("lease %v", r.IPAddressLeaseTime(0))
				}
				if r.Options.Has(dhcpv4.OptionRouter) || r.Options.Has(dhcpv4.OptionDomainNameServer) {
					t.Errorf("router/DNS invented without a subnet: %v", r.Options)
				}
				if r.Options.Has(dhcpv4.GenericOptionCode(175)) {
					t.Errorf("option 175 sent to a non-iPXE client")
				}
			}},
		{name: "UEFI arch 7", req: request(t, dhcpv4.MessageTypeDiscover, arch(iana.EFI_X86_64), pxeClass), rec: rec(),
			typ: dhcpv4.MessageTypeOffer, file: "grubx64.efi", delivery: broadcast},
		{name: "UEFI arch 9", req: request(t, dhcpv4.MessageTypeDiscover, arch(iana.EFI_BC), pxeClass), rec: rec(),
			typ: dhcpv4.MessageTypeOffer, file: "grubx64.efi", delivery: broadcast},
		{name: "ARM64 UEFI", req: request(t, dhcpv4.MessageTypeDiscover, arch(iana.EFI_ARM64), pxeClass), rec: rec(),
			typ: dhcpv4.MessageTypeOffer, file: "grubaa64.efi", delivery: broadcast},
		{name: "unknown arch gets an address but no file", req: request(t, dhcpv4.MessageTypeDiscover, arch(iana.EFI_IA32), pxeClass), rec: rec(),
			typ: dhcpv4.MessageTypeOffer, file: "", delivery: broadcast},
		{name: "iPXE gets its own file and no-pxedhcp", req: request(t, dhcpv4.MessageTypeDiscover, arch(iana.INTEL_X86PC), pxeClass, ipxe, ipxe175), rec: rec(),
			typ: dhcpv4.MessageTypeOffer, file: "boot.ipxe", delivery: broadcast,
			check: func(t *testing.T, r *dhcpv4.DHCPv4) {
				if got := r.Options.Get(dhcpv4.GenericOptionCode(175)); !bytes.Equal(got, []byte{176, 1, 1}) {
					t.Errorf("option 175 = %x, want b00101", got)
				}
			}},
		{name: "OS client without option 93 gets the BIOS file, no PXEClient", req: request(t, dhcpv4.MessageTypeDiscover), rec: rec(),
			typ: dhcpv4.MessageTypeOffer, file: "pxelinux.0", delivery: broadcast,
			check: func(t *testing.T, r *dhcpv4.DHCPv4) {
				if r.Options.Has(dhcpv4.OptionClassIdentifier) {
					t.Errorf("option 60 sent to a non-PXE client")
				}
			}},
		{name: "local disk UEFI gets no boot file", req: request(t, dhcpv4.MessageTypeDiscover, arch(iana.EFI_X86_64), pxeClass),
			rec: rec(func(r *Record) { r.Profile = winP }), typ: dhcpv4.MessageTypeOffer, file: "", delivery: broadcast},
		{name: "request selecting", req: request(t, dhcpv4.MessageTypeRequest, want50("10.99.0.50"), sid("10.99.0.1")), rec: rec(),
			typ: dhcpv4.MessageTypeAck, file: "pxelinux.0", delivery: broadcast},
		{name: "request for another address is NAKed", req: request(t, dhcpv4.MessageTypeRequest, want50("10.99.0.77")), rec: rec(),
			typ: dhcpv4.MessageTypeNak, delivery: broadcast,
			check: func(t *testing.T, r *dhcpv4.DHCPv4) {
				if !r.YourIPAddr.IsUnspecified() || r.BootFileName != "" {
					t.Errorf("NAK carries an address or file: %v", r)
				}
			}},
		{name: "renewing for another address is NAKed by broadcast", req: request(t, dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(net.ParseIP("10.99.0.77"))), rec: rec(),
			typ: dhcpv4.MessageTypeNak, delivery: broadcast},
		{name: "request naming another server is ignored", req: request(t, dhcpv4.MessageTypeRequest, want50("10.99.0.50"), sid("10.99.0.5")), rec: rec(),
			err: ErrOtherServer},
		{name: "renewing is unicast to ciaddr", req: request(t, dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(net.ParseIP("10.99.0.50"))), rec: rec(),
			typ: dhcpv4.MessageTypeAck, file: "pxelinux.0", delivery: Delivery{Kind: Unicast, Addr: netip.MustParseAddrPort("10.99.0.50:68")},
			check: func(t *testing.T, r *dhcpv4.DHCPv4) {
				if !r.ClientIPAddr.Equal(net.ParseIP("10.99.0.50")) {
					t.Errorf("ciaddr %v", r.ClientIPAddr)
				}
			}},
		{name: "renewing with broadcast flag is broadcast", req: request(t, dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(net.ParseIP("10.99.0.50")), dhcpv4.WithBroadcast(true)), rec: rec(),
			typ: dhcpv4.MessageTypeAck, file: "pxelinux.0", delivery: broadcast},
		{name: "relayed goes to giaddr with option 82", req: request(t, dhcpv4.MessageTypeDiscover, dhcpv4.WithGatewayIP(net.ParseIP("10.99.0.254")), relay82), rec: rec(),
			typ: dhcpv4.MessageTypeOffer, file: "pxelinux.0", delivery: Delivery{Kind: Relay, Addr: netip.MustParseAddrPort("10.99.0.254:67")},
			check: func(t *testing.T, r *dhcpv4.DHCPv4) {
				if !bytes.Equal(r.Options.Get(dhcpv4.OptionRelayAgentInformation), []byte{1, 4, 'p', 'o', 'r', 't'}) {
					t.Errorf("option 82 not echoed")
				}
				if !r.GatewayIPAddr.Equal(net.ParseIP("10.99.0.254")) {
					t.Errorf("giaddr %v", r.GatewayIPAddr)
				}
			}},
		{name: "relayed NAK sets broadcast bit", req: request(t, dhcpv4.MessageTypeRequest, dhcpv4.WithGatewayIP(net.ParseIP("10.99.0.254")), want50("10.99.0.7")), rec: rec(),
			typ: dhcpv4.MessageTypeNak, delivery: Delivery{Kind: Relay, Addr: netip.MustParseAddrPort("10.99.0.254:67")},
			check: func(t *testing.T, r *dhcpv4.DHCPv4) {
				if !r.IsBroadcast() {
					t.Errorf("relayed NAK without broadcast bit")
				}
			}},
		{name: "subnet options from the inventory", req: request(t, dhcpv4.MessageTypeDiscover), rec: rec(func(r *Record) { r.Subnet = subnet }),
			typ: dhcpv4.MessageTypeOffer, file: "pxelinux.0", delivery: broadcast,
			check: func(t *testing.T, r *dhcpv4.DHCPv4) {
				if r.SubnetMask().String() != net.CIDRMask(23, 32).String() {
					t.Errorf("mask %v, want /23", r.SubnetMask())
				}
				if len(r.Router()) != 1 || !r.Router()[0].Equal(net.ParseIP("10.99.0.254")) {
					t.Errorf("routers %v", r.Router())
				}
				if len(r.DNS()) != 2 || r.DomainName() != "cluster.example" {
					t.Errorf("dns %v domain %q", r.DNS(), r.DomainName())
				}
				if !r.ServerIPAddr.Equal(net.ParseIP("10.99.0.9")) || r.TFTPServerName() != "10.99.0.9" {
					t.Errorf("next-server %v / %q, want 10.99.0.9", r.ServerIPAddr, r.TFTPServerName())
				}
				if !r.ServerIdentifier().Equal(net.ParseIP("10.99.0.1")) {
					t.Errorf("server id %v must stay the interface address", r.ServerIdentifier())
				}
				if r.IPAddressLeaseTime(0) != 12*time.Hour {
					t.Errorf("lease %v", r.IPAddressLeaseTime(0))
				}
			}},
		{name: "address in no subnet is refused", req: request(t, dhcpv4.MessageTypeDiscover),
			rec: rec(func(r *Record) { r.Node.IP = netip.MustParseAddr("172.16.0.5") }), err: ErrNoSubnet},
		{name: "inform gets options and no address", req: request(t, dhcpv4.MessageTypeInform, dhcpv4.WithClientIP(net.ParseIP("10.99.0.50"))), rec: rec(),
			typ: dhcpv4.MessageTypeAck, file: "pxelinux.0", delivery: Delivery{Kind: Unicast, Addr: netip.MustParseAddrPort("10.99.0.50:68")},
			check: func(t *testing.T, r *dhcpv4.DHCPv4) {
				if !r.YourIPAddr.IsUnspecified() || r.Options.Has(dhcpv4.OptionIPAddressLeaseTime) {
					t.Errorf("INFORM answer carries yiaddr %v or a lease", r.YourIPAddr)
				}
			}},
		{name: "masked", req: request(t, dhcpv4.MessageTypeDiscover, arch(iana.INTEL_X86PC), pxeClass),
			rec: rec(func(r *Record) { r.Node.Masked = true }), err: ErrMasked},
		{name: "masked request", req: request(t, dhcpv4.MessageTypeRequest, want50("10.99.0.50")),
			rec: rec(func(r *Record) { r.Node.Masked = true }), err: ErrMasked},
		{name: "release", req: request(t, dhcpv4.MessageTypeRelease, dhcpv4.WithClientIP(net.ParseIP("10.99.0.50"))), rec: rec(), err: ErrNoReply},
		{name: "decline", req: request(t, dhcpv4.MessageTypeDecline, want50("10.99.0.50")), rec: rec(), err: ErrNoReply},
		{name: "server messages are not answered", req: request(t, dhcpv4.MessageTypeOffer), rec: rec(), err: ErrNoReply},
		{name: "BOOTP without option 53", req: func() *dhcpv4.DHCPv4 {
			r := request(t, dhcpv4.MessageTypeDiscover)
			r.Options.Del(dhcpv4.OptionDHCPMessageType)
			return r
		}(), rec: rec(), err: ErrNotDHCP},
		{name: "record of another MAC", req: request(t, dhcpv4.MessageTypeDiscover),
			rec: rec(func(r *Record) { r.Node.MAC = "52:54:00:00:00:01" }), anyErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, d, err := Reply(tc.req, tc.rec, cfg)
			if tc.err != nil || tc.anyErr {
				if err == nil || (tc.err != nil && !errors.Is(err, tc.err)) {
					t.Fatalf("got reply %v, err %v; want error %v", r, err, tc.err)
				}
				if r != nil {
					t.Fatalf("error %v came with a reply", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.MessageType() != tc.typ {
				t.Errorf("type %v, want %v", r.MessageType(), tc.typ)
			}
			if r.TransactionID != tc.req.TransactionID || r.OpCode != dhcpv4.OpcodeBootReply {
				t.Errorf("xid %v opcode %v", r.TransactionID, r.OpCode)
			}
			if r.BootFileName != tc.file || r.BootFileNameOption() != tc.file {
				t.Errorf("file %q / option 67 %q, want %q", r.BootFileName, r.BootFileNameOption(), tc.file)
			}
			if tc.typ == dhcpv4.MessageTypeOffer && !r.YourIPAddr.Equal(net.ParseIP("10.99.0.50")) {
				t.Errorf("yiaddr %v, want 10.99.0.50", r.YourIPAddr)
			}
			if d != tc.delivery {
				t.Errorf("delivery %v %v, want %v %v", d.Kind, d.Addr, tc.delivery.Kind, tc.delivery.Addr)
			}
			// The reply must survive the wire.
			if _, err := dhcpv4.FromBytes(r.ToBytes()); err != nil {
				t.Errorf("reply does not parse back: %v", err)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// The x86-64 UEFI boot file follows the profile's chain and what the boot
// root holds. shim reads the BOOTP file field and siaddr only (never
// option 67) to find the signed GRUB beside it, so both must carry it.
func TestReplyUEFIChain(t *testing.T) {
	signed := cfg
	signed.Loaders.SignedX64 = true
	withChain := func(c string) func(*Record) { return func(r *Record) { r.Profile.UEFIChain = c } }
	tests := []struct {
		name string
		cfg  Settings
		rec  Record
		arch iana.Arch
		file string
	}{
		{"auto, signed chain installed", signed, rec(), iana.EFI_X86_64, "signed/shimx64.efi"},
		{"auto, arch 9, signed chain installed", signed, rec(), iana.EFI_BC, "signed/shimx64.efi"},
		{"auto, not installed", cfg, rec(), iana.EFI_X86_64, "grubx64.efi"},
		{"self-built although installed", signed, rec(withChain(nodes.UEFIChainSelfBuilt)), iana.EFI_X86_64, "grubx64.efi"},
		{"signed named, not installed", cfg, rec(withChain(nodes.UEFIChainSigned)), iana.EFI_X86_64, "signed/shimx64.efi"},
		{"BIOS unaffected", signed, rec(), iana.INTEL_X86PC, "pxelinux.0"},
		{"explicit uefi boot file wins", signed, rec(func(r *Record) {
			r.Profile.BootFiles = map[string]string{nodes.BootUEFI: "site/shimx64.efi"}
		}), iana.EFI_X86_64, "site/shimx64.efi"},
		{"localdisk none still sends nothing", signed, rec(func(r *Record) { r.Profile = winP }), iana.EFI_X86_64, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _, err := Reply(request(t, dhcpv4.MessageTypeDiscover, arch(tc.arch), pxeClass), tc.rec, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if r.BootFileName != tc.file || r.BootFileNameOption() != tc.file {
				t.Errorf("file field %q, option 67 %q, want %q", r.BootFileName, r.BootFileNameOption(), tc.file)
			}
			if !r.ServerIPAddr.Equal(net.ParseIP("10.99.0.1")) {
				t.Errorf("siaddr %v, want 10.99.0.1", r.ServerIPAddr)
			}
		})
	}
}

func TestHandleUnknownMAC(t *testing.T) {
	inv := MapInventory{"52:54:00:00:00:99": rec()}
	_, _, _, err := Handle(context.Background(), request(t, dhcpv4.MessageTypeDiscover), inv, cfg)
	if !errors.Is(err, nodes.ErrNotFound) || !IsSilent(err) {
		t.Fatalf("unknown MAC: err %v, want silent not-found", err)
	}
	inv = MapInventory{testMAC: rec()}
	r, _, got, err := Handle(context.Background(), request(t, dhcpv4.MessageTypeDiscover), inv, cfg)
	if err != nil || r == nil || got.Node.Name != "umu20" {
		t.Fatalf("known MAC: reply %v record %v err %v", r, got, err)
	}
}

func TestFirmwareLabel(t *testing.T) {
	tests := []struct {
		name string
		mods []dhcpv4.Modifier
		want string
	}{
		{"bios", []dhcpv4.Modifier{arch(iana.INTEL_X86PC), pxeClass}, "bios"},
		{"bios ipxe", []dhcpv4.Modifier{arch(iana.INTEL_X86PC), ipxe}, "bios-ipxe"},
		{"uefi 7", []dhcpv4.Modifier{arch(iana.EFI_X86_64)}, "uefi"},
		{"uefi 9 ipxe by 175", []dhcpv4.Modifier{arch(iana.EFI_BC), ipxe175}, "uefi-ipxe"},
		{"arm64", []dhcpv4.Modifier{arch(iana.EFI_ARM64)}, "arm64"},
		{"uefi http", []dhcpv4.Modifier{arch(iana.EFI_X86_64_HTTP), httpClass("00016")}, "uefi-http"},
		{"arm64 http", []dhcpv4.Modifier{arch(iana.EFI_ARM64_HTTP), httpClass("00019")}, "arm64-http"},
		{"other arch", []dhcpv4.Modifier{arch(iana.EFI_IA32)}, "arch6"},
		{"os client", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClientFirmware(request(t, dhcpv4.MessageTypeDiscover, tc.mods...)).Label(); got != tc.want {
				t.Errorf("label %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRateLimiter(t *testing.T) {
	l := newRateLimiter(5, 3)
	a, b := [6]byte{1}, [6]byte{2}
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		if !l.allow(a, t0) {
			t.Fatalf("packet %d within the burst refused", i)
		}
	}
	if l.allow(a, t0) {
		t.Fatal("4th packet at once allowed past a burst of 3")
	}
	if !l.allow(b, t0) {
		t.Fatal("a flood from one MAC starved another")
	}
	if !l.allow(a, t0.Add(200*time.Millisecond)) {
		t.Fatal("token not refilled after 1/rate")
	}
	if l.allow(a, t0.Add(200*time.Millisecond)) {
		t.Fatal("more than one token refilled in 1/rate")
	}
	// Idle buckets are forgotten, so random MACs cannot grow the map forever.
	l.allow([6]byte{3}, t0.Add(time.Minute))
	if len(l.buckets) != 1 {
		t.Fatalf("%d buckets after a minute idle, want 1", len(l.buckets))
	}
}

// TestCapturedFirmware reads real firmware DISCOVERs (testdata/packets,
// captured by capture.sh there) and checks what the server makes of them.
func TestCapturedFirmware(t *testing.T) {
	tests := []struct {
		file, label, bootFile string
		pxe                   bool
	}{
		{"bios-ipxe-type1.bin", "bios-ipxe", "boot.ipxe", true},
		{"uefi-native-type1.bin", "uefi", "grubx64.efi", true},
		{"uefi-ipxe-type1.bin", "uefi-ipxe", "boot.ipxe", true},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "testdata", "packets", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			req, err := dhcpv4.FromBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			fw := ClientFirmware(req)
			if fw.Label() != tc.label || fw.PXE != tc.pxe {
				t.Errorf("firmware %q pxe %v, want %q %v", fw.Label(), fw.PXE, tc.label, tc.pxe)
			}
			r := rec(func(r *Record) { r.Node.MAC = req.ClientHWAddr.String() })
			reply, _, err := Reply(req, r, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if reply.BootFileName != tc.bootFile {
				t.Errorf("boot file %q, want %q", reply.BootFileName, tc.bootFile)
			}
		})
	}
}
