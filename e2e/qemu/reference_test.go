package qemu

import (
	"path/filepath"
	"testing"

	"github.com/node-switch/node-switch/e2e/assets"
)

// TestDnsmasqReference boots BIOS Linux and BIOS local disk against dnsmasq:
// it proves the harness and assets on their own, so a failure of the
// node-switch scenarios is about node-switch.
func TestDnsmasqReference(t *testing.T) {
	a := getAssets(t)
	l := NewLab(t)
	l.StartRA()
	const mac = "52:54:00:99:01:01"
	root := filepath.Join(l.Dir, "tftp")
	referenceTFTPRoot(t, a, root, pxelinuxMACName(mac), pxelinuxLinuxConfig(assets.MarkerLinux))
	l.StartDnsmasq(t, l.NS, DnsmasqConfig{Name: "ref", Interface: Bridge, TFTPRoot: root,
		Hosts: []Host{{mac, "10.99.0.51"}}, BootBIOS: "pxelinux.0", NoProxyDHCPWait: true})
	t.Logf("assets ready in %.1fs", a.BuildTime.Seconds())
	d := bootOnce(t, l, VMConfig{Name: "ref-bios-linux", MAC: mac, Disk: a.BIOSDisk}, assets.MarkerLinux)
	t.Logf("dnsmasq BIOS Linux boot: %.1fs", d.Seconds())
}
