package qemu

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/e2e/netlab"
)

// Host is a DHCP reservation.
type Host struct{ MAC, IP string }

// DnsmasqConfig is a reference PXE server: what sites run today, and what
// Windows Deployment Services looks like from a node (DHCP + TFTP answering
// clients the Linux side leaves alone).
type DnsmasqConfig struct {
	Name      string // for log file names
	Interface string
	TFTPRoot  string
	Hosts     []Host
	// Range is "first,last" for a pool; empty means reservations only.
	Range string
	// Boot files by client: BIOS, x86-64 UEFI, and a client already
	// running iPXE (option 175).
	BootBIOS, BootUEFI, BootIPXE string
	// PXEHouseKeeping adds what a well-configured dnsmasq sends iPXE:
	// option 175.176 = 1, so iPXE does not wait ~2 s for proxyDHCP offers.
	NoProxyDHCPWait bool
	// Extra options, appended as given.
	Extra []string
}

// Args is the dnsmasq command line for the config, DNS off, no system files.
func (c DnsmasqConfig) Args(logDir string) []string {
	// --user=root: the test dirs are private to root, dnsmasq would
	// otherwise drop to nobody and fail to read its TFTP root (and the
	// credential change would clear its parent-death signal).
	args := []string{"--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--user=root",
		"--interface=" + c.Interface, "--bind-interfaces",
		"--dhcp-match=set:efi64,option:client-arch,7", "--dhcp-match=set:efi64,option:client-arch,9",
		"--dhcp-match=set:ipxe,175",
		"--enable-tftp", "--tftp-root=" + c.TFTPRoot,
		"--log-dhcp", "--log-facility=" + filepath.Join(logDir, c.Name+".dnsmasq.log"),
		"--dhcp-leasefile=" + filepath.Join(logDir, c.Name+".leases"),
		"--pid-file=" + filepath.Join(logDir, c.Name+".dnsmasq.pid"),
	}
	if c.Range != "" {
		args = append(args, fmt.Sprintf("--dhcp-range=%s,255.255.255.0,1h", c.Range))
	} else {
		// "static": answer only the hosts below, like node-switch.
		args = append(args, "--dhcp-range="+networkOf(ServerIP)+",static,255.255.255.0,1h")
	}
	for _, h := range c.Hosts {
		args = append(args, "--dhcp-host="+h.MAC+","+h.IP)
	}
	if c.BootIPXE != "" {
		args = append(args, "--dhcp-boot=tag:ipxe,"+c.BootIPXE)
	}
	if c.BootBIOS != "" {
		args = append(args, "--dhcp-boot=tag:!efi64,tag:!ipxe,"+c.BootBIOS)
		if c.BootIPXE == "" {
			args = append(args, "--dhcp-boot=tag:!efi64,tag:ipxe,"+c.BootBIOS)
		}
	}
	if c.BootUEFI != "" {
		args = append(args, "--dhcp-boot=tag:efi64,tag:!ipxe,"+c.BootUEFI)
	}
	if c.NoProxyDHCPWait {
		args = append(args, "--dhcp-option=encap:175,176,1b")
	}
	return append(args, c.Extra...)
}

// StartDnsmasq runs dnsmasq in ns and waits until DHCP and TFTP listen.
func (l *Lab) StartDnsmasq(t testing.TB, ns *netlab.NS, c DnsmasqConfig) *netlab.Proc {
	t.Helper()
	p := ns.Start(nil, "dnsmasq", c.Args(l.Dir)...)
	if err := waitUDPIn(ns, p, 67, 69); err != nil {
		log, _ := os.ReadFile(filepath.Join(l.Dir, c.Name+".dnsmasq.log"))
		t.Fatalf("dnsmasq %s: %v\nargs: %q\nlog: %s", c.Name, err, c.Args(l.Dir), tail(string(log), 2000))
	}
	return p
}

func networkOf(ip string) string {
	i := strings.LastIndexByte(ip, '.')
	return ip[:i] + ".0"
}
