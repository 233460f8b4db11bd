package tftpe2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/e2e/netlab"
)

const (
	macSite20 = "52:54:00:77:01:20" // umu20, Linux group, boots the group's default
	macSite23 = "52:54:00:77:01:23" // umu23, Linux group, has its own per-node file
	macSite18 = "52:54:00:77:01:18" // umu18, Windows group
)

// siteConf is the source system's dhcpd.conf: one group per boot-file
// directory.
const siteConf = `subnet 10.77.0.0 netmask 255.255.255.0 {
next-server 10.77.0.1;
}
group {
filename "um64_win/pxelinux.0";
host umu18 {hardware ethernet 52:54:00:77:01:18;
fixed-address 10.77.0.18; }
}
group {
filename "um64_linux/pxelinux.0";
host umu20 {hardware ethernet 52:54:00:77:01:20;
fixed-address 10.77.0.20; }
host umu23 {hardware ethernet 52:54:00:77:01:23;
fixed-address 10.77.0.23; }
}
`

// siteFiles is what the source system's TFTP root held besides the
// loaders: each group's own pxelinux.cfg, relative kernel names and all.
var siteFiles = map[string]string{
	"um64_linux/pxelinux.cfg/default":               "DEFAULT sl63\nPROMPT 0\nLABEL sl63\n  KERNEL vmlinuz\n  APPEND initrd=initrd.img console=ttyS0\n",
	"um64_linux/pxelinux.cfg/" + dashMAC(macSite23): "DEFAULT rescue\nPROMPT 0\nLABEL rescue\n  KERNEL vmlinuz\n  APPEND initrd=initrd.img single\n",
	"um64_linux/vmlinuz":                            "SITE KERNEL\n",
	"um64_win/pxelinux.cfg/default":                 "DEFAULT local\nPROMPT 0\nLABEL local\n  LOCALBOOT 0\n",
}

// TestSiteFilesAfterImport: the source system's layout, imported with its
// boot root, keeps serving every node the site's own file over tftp-hpa's
// client (its per-node file where it has one, else its group's default),
// the names inside them still resolve, and a move switches the node to the
// other group's file. Before kind files the Linux group's profile had no
// kernel and every Linux node got a TFTP error.
func TestSiteFilesAfterImport(t *testing.T) {
	lab, e := newEnv(t)
	pxelinux := fileOf(t, "/usr/lib/PXELINUX/pxelinux.0")
	for _, g := range []string{"um64_linux", "um64_win"} {
		must(t, os.MkdirAll(filepath.Join(e.root, g, "pxelinux.cfg"), 0o755))
		must(t, os.WriteFile(filepath.Join(e.root, g, "pxelinux.0"), pxelinux, 0o644))
	}
	for name, body := range siteFiles {
		must(t, os.WriteFile(filepath.Join(e.root, name), []byte(body), 0o644))
	}
	conf := filepath.Join(t.TempDir(), "dhcpd.conf")
	must(t, os.WriteFile(conf, []byte(siteConf), 0o644))
	ns := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(e.bin, append([]string{"--db", e.db}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("node-switch %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := ns("import", "dhcpd", conf, "--boot-root", e.root)
	if !strings.Contains(out, "cluster um64_linux: found um64_linux/pxelinux.cfg/default and 1 per-node file") {
		t.Fatalf("import did not find the site's configs:\n%s", out)
	}

	srv := lab.Namespace("srv")
	srv.Bridge("br0", srvIP+"/24")
	nodeNS := map[string]*netlab.NS{}
	for i, c := range []struct{ name, ip string }{{"umu20", "10.77.0.20/24"}, {"umu23", "10.77.0.23/24"}, {"umu18", "10.77.0.18/24"}} {
		n := lab.Namespace("s" + c.name[3:])
		port := "q" + string(rune('0'+i))
		lab.Veth(srv, port, n, "eth0")
		srv.Enslave(port, "br0")
		n.Addr("eth0", c.ip)
		nodeNS[c.name] = n
	}
	e.node = nodeNS["umu20"]
	e.startServe(t, srv)

	check := func(t *testing.T, node, name, wantFile string) {
		t.Helper()
		got, out := e.tftpGet(t, nodeNS[node], name)
		if want := siteFiles[wantFile]; !bytes.Equal(got, []byte(want)) {
			t.Errorf("%s: tftp-hpa get %s: %s%q\nwant the site's %s untouched: %q", node, name, out, got, wantFile, want)
		}
	}
	t.Run("before the move", func(t *testing.T) {
		check(t, "umu20", "um64_linux/pxelinux.cfg/"+dashMAC(macSite20), "um64_linux/pxelinux.cfg/default")
		check(t, "umu23", "um64_linux/pxelinux.cfg/"+dashMAC(macSite23), "um64_linux/pxelinux.cfg/"+dashMAC(macSite23))
		check(t, "umu18", "um64_win/pxelinux.cfg/"+dashMAC(macSite18), "um64_win/pxelinux.cfg/default")
		// pxelinux loaded as um64_linux/pxelinux.0 asks for the site's
		// relative "vmlinuz" under its own directory.
		check(t, "umu20", "um64_linux/vmlinuz", "um64_linux/vmlinuz")
		if got, out := e.tftpGet(t, nodeNS["umu20"], "um64_linux/ldlinux.c32"); !bytes.Equal(got, fileOf(t, filepath.Join(e.root, "ldlinux.c32"))) {
			t.Errorf("um64_linux/ldlinux.c32: %s", out)
		}
	})
	ns("move", "umu[20,23]", "--to", "um64_win", "--boot-root", e.root, "--reason", "e2e")
	t.Run("after the move", func(t *testing.T) {
		// The DHCP answer now names um64_win/pxelinux.0, so pxelinux asks
		// under um64_win/; what it is served follows the inventory either way.
		for _, node := range []string{"umu20", "umu23"} {
			mac := map[string]string{"umu20": macSite20, "umu23": macSite23}[node]
			check(t, node, "um64_win/pxelinux.cfg/"+dashMAC(mac), "um64_win/pxelinux.cfg/default")
			check(t, node, "um64_linux/pxelinux.cfg/"+dashMAC(mac), "um64_win/pxelinux.cfg/default")
		}
	})
	ns("mask", "umu18", "--reason", "WDS reinstall")
	t.Run("masked gets nothing", func(t *testing.T) {
		if got, out := e.tftpGet(t, nodeNS["umu18"], "um64_win/pxelinux.cfg/"+dashMAC(macSite18)); got != nil || !strings.Contains(out, "masked") {
			t.Errorf("masked node: %q %s", got, out)
		}
	})
}
