package qemu

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
)

func TestMedian(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{[]time.Duration{3 * s}, 3 * s},
		{[]time.Duration{9 * s, 1 * s, 5 * s}, 5 * s},
		{[]time.Duration{4 * s, 1 * s, 3 * s, 2 * s}, 2500 * time.Millisecond},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestDnsmasqArgs(t *testing.T) {
	args := DnsmasqConfig{Name: "x", Interface: "br0", TFTPRoot: "/t", Hosts: []Host{{"52:54:00:00:00:01", "10.99.0.9"}},
		BootBIOS: "pxelinux.0", BootUEFI: "grubx64.efi", NoProxyDHCPWait: true}.Args("/logs")
	has := map[string]bool{}
	for _, a := range args {
		has[a] = true
	}
	for _, want := range []string{
		"--dhcp-range=10.99.0.0,static,255.255.255.0,1h", // reservations only, like node-switch
		"--dhcp-host=52:54:00:00:00:01,10.99.0.9",
		"--dhcp-boot=tag:!efi64,tag:!ipxe,pxelinux.0",
		"--dhcp-boot=tag:!efi64,tag:ipxe,pxelinux.0", // iPXE's second DHCP gets pxelinux too
		"--dhcp-boot=tag:efi64,tag:!ipxe,grubx64.efi",
		"--dhcp-option=encap:175,176,1b",
		"--port=0", // no DNS
	} {
		if !has[want] {
			t.Errorf("dnsmasq args lack %s: %q", want, args)
		}
	}
}

func TestCleanLine(t *testing.T) {
	got := CleanLine("\x1b[0m\x1b[37m\x1b[40mNODE-SWITCH-MARKER: WINDOWS-UEFI loader=BOOTX64.EFI\x1b[0m  ")
	if got != "NODE-SWITCH-MARKER: WINDOWS-UEFI loader=BOOTX64.EFI" {
		t.Errorf("CleanLine = %q", got)
	}
}

func TestTFTPTransfers(t *testing.T) {
	srv := netip.MustParseAddr(ServerIP)
	client := netip.MustParseAddrPort("10.99.0.41:2070")
	listen := netip.AddrPortFrom(srv, 69)
	tid := netip.AddrPortFrom(srv, 40000)
	t0 := time.Unix(1000, 0)
	ms := time.Millisecond
	pkt := func(at time.Duration, src, dst netip.AddrPort, payload ...byte) netlab.UDPPacket {
		return netlab.UDPPacket{At: t0.Add(at), Src: src, Dst: dst, Payload: payload}
	}
	rrq := func(at time.Duration) netlab.UDPPacket {
		return pkt(at, client, listen, append([]byte{0, 1}, "vmlinuz\x00octet\x00"...)...)
	}
	data := func(at time.Duration, n byte) netlab.UDPPacket { return pkt(at, tid, client, 0, 3, 0, n, 'x') }
	ack := func(at time.Duration, n byte) netlab.UDPPacket { return pkt(at, client, tid, 0, 4, 0, n) }
	dhcp := pkt(500*ms, netip.MustParseAddrPort("0.0.0.0:68"), netip.MustParseAddrPort("255.255.255.255:67"), 1, 1)
	for _, tc := range []struct {
		name    string
		packets []netlab.UDPPacket
		want    tftpTransfer
	}{
		{"lock-step, longest silence a late ACK",
			[]netlab.UDPPacket{rrq(0), data(1*ms, 1), ack(2*ms, 1), data(3*ms, 2), dhcp, ack(900*ms, 2)},
			tftpTransfer{Requests: 1, Stall: 897 * ms, Before: "server DATA 2", After: "client ACK 2"}},
		{"a block sent again after a timeout",
			[]netlab.UDPPacket{rrq(0), data(1*ms, 1), data(101*ms, 1), ack(150*ms, 1)},
			tftpTransfer{Requests: 1, Resent: 1, Stall: 100 * ms, Before: "server DATA 1", After: "server DATA 1"}},
		{"the client asks again, then gives up",
			[]netlab.UDPPacket{rrq(0), rrq(4000 * ms), data(4001*ms, 1), pkt(4002*ms, client, tid, append([]byte{0, 5, 0, 0}, "bye\x00"...)...)},
			tftpTransfer{Requests: 2, Errors: []string{`client ERROR 0 "bye"`}, Stall: 4000 * ms,
				Before: "client RRQ vmlinuz", After: "client RRQ vmlinuz"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tftpTransfers(tc.packets, srv)
			if len(got) != 1 {
				t.Fatalf("%d transfers, want 1", len(got))
			}
			g := *got[0]
			if g.File != "vmlinuz" || g.Client != client || !g.Start.Equal(t0) || !g.End.Equal(tc.packets[len(tc.packets)-1].At) {
				t.Errorf("transfer %s from %s, %v to %v", g.File, g.Client, g.Start, g.End)
			}
			g.File, g.Client, g.Start, g.End = "", netip.AddrPort{}, time.Time{}, time.Time{}
			if !reflect.DeepEqual(g, tc.want) {
				t.Errorf("got  %+v\nwant %+v", g, tc.want)
			}
		})
	}
}

// servedOverHTTP must not take the DHCP reply's boot file URL (which names
// the file before anything fetched it) for the HTTP server serving it.
func TestServedOverHTTP(t *testing.T) {
	offer := `time=2026-12-06T03:00:00.000Z level=DEBUG msg="dhcp reply" interface=br0 node=efihttp mac=52:54:00:99:00:31 request=DISCOVER reply=OFFER ip=10.99.0.31 firmware=uefi-http file=http://10.99.0.1:8080/um64_linux/grubx64.efi delivery=broadcast to=255.255.255.255:68`
	read := `time=2026-12-06T03:00:01.000Z level=DEBUG msg="http read" path=/um64_linux/grubx64.efi client=10.99.0.31 node=efihttp rendered=false size=2392064 range=""`
	other := `time=2026-12-06T03:00:01.000Z level=DEBUG msg="http read" path=/um64_linux/shimx64.efi client=10.99.0.31 node=efihttp rendered=false size=952384 range=""`
	for _, tc := range []struct {
		name, log string
		want      bool
	}{
		{"offer only", offer, false},
		{"another file read", offer + "\n" + other, false},
		{"read", offer + "\n" + read, true},
	} {
		if got := servedOverHTTP(tc.log, "grubx64.efi"); got != tc.want {
			t.Errorf("%s: servedOverHTTP = %v, want %v", tc.name, got, tc.want)
		}
		// The old check, for the record: it took the offer for a transfer.
		if tc.name == "offer only" && !strings.Contains(tc.log, "grubx64.efi") {
			t.Errorf("the offer line no longer names the file; this test's premise is gone")
		}
	}
}
