package qemu

import (
	"testing"
	"time"
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
