package dhcp

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/node-switch/node-switch/nodes"
)

// httpClass is what OVMF's HTTP boot entry sends as option 60.
func httpClass(a string) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptClassIdentifier("HTTPClient:Arch:" + a + ":UNDI:003001"))
}

// TestReplyHTTPBoot (issue 13, part 3): native UEFI HTTP boot clients take
// only an offer saying HTTPClient with a boot URI; what they get follows
// the profile's --uefi-boot, and a PXE request of the same node follows it
// too.
func TestReplyHTTPBoot(t *testing.T) {
	withHTTP := cfg
	withHTTP.HTTPPort = 8080
	signed := withHTTP
	signed.Loaders.SignedX64 = true
	httpBoot := func(r *Record) { r.Profile.UEFIBoot = nodes.UEFIBootHTTP }
	localNone := func(r *Record) { r.Profile = winP }
	localChain := func(r *Record) { r.Profile = winP; r.Profile.UEFILocalBoot = "chainload" }
	refused := "http://10.99.0.1:8080/node-switch/no-http-boot.efi"
	tests := []struct {
		name  string
		cfg   Settings
		rec   Record
		mods  []dhcpv4.Modifier
		file  string
		class string // option 60 in the reply
	}{
		{"x64 HTTP client, profile http", withHTTP, rec(httpBoot), []dhcpv4.Modifier{arch(iana.EFI_X86_64_HTTP), httpClass("00016")},
			"http://10.99.0.1:8080/grubx64.efi", "HTTPClient"},
		{"x64 HTTP client, profile http, signed chain installed: self-built GRUB", signed, rec(httpBoot), []dhcpv4.Modifier{arch(iana.EFI_X86_64_HTTP), httpClass("00016")},
			"http://10.99.0.1:8080/grubx64.efi", "HTTPClient"},
		{"ARM64 HTTP client, profile http", withHTTP, rec(httpBoot), []dhcpv4.Modifier{arch(iana.EFI_ARM64_HTTP), httpClass("00019")},
			"http://10.99.0.1:8080/grubaa64.efi", "HTTPClient"},
		{"profile's own uefi boot file, by URL", withHTTP, rec(httpBoot, func(r *Record) {
			r.Profile.BootFiles = map[string]string{nodes.BootUEFI: "site/grubx64.efi"}
		}), []dhcpv4.Modifier{arch(iana.EFI_X86_64_HTTP), httpClass("00016")}, "http://10.99.0.1:8080/site/grubx64.efi", "HTTPClient"},
		{"HTTP client, profile pxe: refused at once", withHTTP, rec(), []dhcpv4.Modifier{arch(iana.EFI_X86_64_HTTP), httpClass("00016")},
			refused, "HTTPClient"},
		{"HTTP client, localdisk none: refused at once", withHTTP, rec(localNone, httpBoot), []dhcpv4.Modifier{arch(iana.EFI_X86_64_HTTP), httpClass("00016")},
			refused, "HTTPClient"},
		{"HTTP client, localdisk none on a pxe profile: refused at once", withHTTP, rec(localNone), []dhcpv4.Modifier{arch(iana.EFI_X86_64_HTTP), httpClass("00016")},
			refused, "HTTPClient"},
		{"HTTP client, localdisk chainload over http", withHTTP, rec(localChain, httpBoot), []dhcpv4.Modifier{arch(iana.EFI_X86_64_HTTP), httpClass("00016")},
			"http://10.99.0.1:8080/grubx64.efi", "HTTPClient"},
		{"HTTP endpoint off: no URI, no HTTPClient", cfg, rec(httpBoot), []dhcpv4.Modifier{arch(iana.EFI_X86_64_HTTP), httpClass("00016")},
			"", ""},
		{"HTTP client of an arch we have no file for", withHTTP, rec(httpBoot), []dhcpv4.Modifier{arch(iana.EFI_X86_HTTP), httpClass("00015")},
			"", ""},
		{"PXE request of an http profile: no boot file, on to the HTTP entry", withHTTP, rec(httpBoot), []dhcpv4.Modifier{arch(iana.EFI_X86_64), pxeClass},
			"", "PXEClient"},
		{"PXE request of an http profile, ARM64", withHTTP, rec(httpBoot), []dhcpv4.Modifier{arch(iana.EFI_ARM64), pxeClass},
			"", "PXEClient"},
		{"BIOS PXE of an http profile unaffected", withHTTP, rec(httpBoot), []dhcpv4.Modifier{arch(iana.INTEL_X86PC), pxeClass},
			"pxelinux.0", "PXEClient"},
		{"PXE request of a pxe profile unaffected", withHTTP, rec(), []dhcpv4.Modifier{arch(iana.EFI_X86_64), pxeClass},
			"grubx64.efi", "PXEClient"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _, err := Reply(request(t, dhcpv4.MessageTypeDiscover, tc.mods...), tc.rec, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if r.BootFileName != tc.file || r.BootFileNameOption() != tc.file {
				t.Errorf("file field %q, option 67 %q, want %q", r.BootFileName, r.BootFileNameOption(), tc.file)
			}
			if got := r.ClassIdentifier(); got != tc.class {
				t.Errorf("option 60 %q, want %q", got, tc.class)
			}
			if !r.YourIPAddr.Equal(net.ParseIP("10.99.0.50")) {
				t.Errorf("yiaddr %v, want the reservation", r.YourIPAddr)
			}
		})
	}
}

// The mask and unknown-MAC rules hold for HTTP boot clients: silence.
func TestHTTPBootSilence(t *testing.T) {
	withHTTP := cfg
	withHTTP.HTTPPort = 8080
	req := request(t, dhcpv4.MessageTypeDiscover, arch(iana.EFI_X86_64_HTTP), httpClass("00016"))
	masked := rec(func(r *Record) { r.Profile.UEFIBoot = nodes.UEFIBootHTTP; r.Node.Masked = true })
	tests := []struct {
		name string
		inv  MapInventory
		want error
	}{
		{"unknown MAC", MapInventory{"52:54:00:00:00:99": rec()}, nodes.ErrNotFound},
		{"masked", MapInventory{testMAC: masked}, ErrMasked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _, _, err := Handle(context.Background(), req, tc.inv, withHTTP)
			if !errors.Is(err, tc.want) || !IsSilent(err) || r != nil {
				t.Errorf("reply %v, err %v: want silence (%v)", r, err, tc.want)
			}
		})
	}
}

// TestReplyIPXEScript (issue 13, part 4): a client already running iPXE
// (option 175, or 77 "iPXE") gets its profile as an iPXE script by URL
// instead of a second boot loader.
func TestReplyIPXEScript(t *testing.T) {
	withHTTP := cfg
	withHTTP.HTTPPort = 8080
	plain := func(r *Record) { r.Profile = nodes.Profile{Name: "linux", Kind: nodes.KindLinux, Kernel: "vmlinuz"} }
	script := "http://10.99.0.1:8080/ipxe.cfg-01-52-54-00-12-34-56"
	tests := []struct {
		name string
		cfg  Settings
		rec  Record
		mods []dhcpv4.Modifier
		file string
	}{
		{"BIOS iPXE ROM (175 and 77)", withHTTP, rec(plain), []dhcpv4.Modifier{arch(iana.INTEL_X86PC), pxeClass, ipxe, ipxe175}, script},
		{"iPXE by option 175 only", withHTTP, rec(plain), []dhcpv4.Modifier{arch(iana.INTEL_X86PC), ipxe175}, script},
		{"iPXE by option 77 only", withHTTP, rec(plain), []dhcpv4.Modifier{arch(iana.INTEL_X86PC), ipxe}, script},
		{"UEFI ipxe.efi", withHTTP, rec(plain), []dhcpv4.Modifier{arch(iana.EFI_X86_64), pxeClass, ipxe175}, script},
		{"localdisk gets a script too", withHTTP, rec(func(r *Record) { r.Profile = winP }), []dhcpv4.Modifier{arch(iana.INTEL_X86PC), ipxe175}, script},
		{"the profile's own iPXE boot file wins", withHTTP, rec(), []dhcpv4.Modifier{arch(iana.INTEL_X86PC), ipxe175}, "boot.ipxe"},
		{"template keeps its loader", withHTTP, rec(func(r *Record) {
			r.Profile = nodes.Profile{Name: "t", Kind: nodes.KindTemplate, TemplateBIOS: "x"}
		}), []dhcpv4.Modifier{arch(iana.INTEL_X86PC), ipxe175}, "pxelinux.0"},
		{"HTTP endpoint off: the loader, over TFTP", cfg, rec(plain), []dhcpv4.Modifier{arch(iana.INTEL_X86PC), ipxe175}, "pxelinux.0"},
		{"not iPXE: the loader", withHTTP, rec(plain), []dhcpv4.Modifier{arch(iana.INTEL_X86PC), pxeClass}, "pxelinux.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _, err := Reply(request(t, dhcpv4.MessageTypeDiscover, tc.mods...), tc.rec, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if r.BootFileName != tc.file || r.BootFileNameOption() != tc.file {
				t.Errorf("file field %q, option 67 %q, want %q", r.BootFileName, r.BootFileNameOption(), tc.file)
			}
		})
	}
	// Masked and unknown iPXE clients: silence, as for every client.
	req := request(t, dhcpv4.MessageTypeDiscover, arch(iana.INTEL_X86PC), ipxe175)
	for _, inv := range []MapInventory{{"52:54:00:00:00:99": rec(plain)}, {testMAC: rec(plain, func(r *Record) { r.Node.Masked = true })}} {
		if r, _, _, err := Handle(context.Background(), req, inv, withHTTP); r != nil || !IsSilent(err) {
			t.Errorf("reply %v, err %v: want silence", r, err)
		}
	}
}
