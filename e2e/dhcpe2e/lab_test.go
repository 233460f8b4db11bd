// Package dhcpe2e runs node-switch's DHCP server against real clients
// (ISC dhclient, busybox udhcpc), a real relay (isc-dhcp-relay) and a second
// real server (dnsmasq, standing in for the Windows head), each in network
// namespaces the tests create and remove.
//
//	go test ./e2e/dhcpe2e/   (as root; skips without root or the programs)
package dhcpe2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/nodestest"
)

var actor = nodes.Actor{Name: "e2e", Channel: nodes.ChannelCLI}

const (
	linuxFile = "um64_linux/pxelinux.0"
	winFile   = "um64_win/pxelinux.0"
)

// inventory creates the test's inventory the way the source system's
// dhcpd.conf had it: a Linux and a Windows group, each with its own
// pxelinux.
func inventory(t *testing.T, ns ...nodes.Node) *nodes.Store {
	t.Helper()
	st := nodestest.Open(t)
	ctx := context.Background()
	for _, p := range []nodes.Profile{
		{Name: "linux", Kind: nodes.KindLinux, BootFiles: map[string]string{nodes.BootBIOS: linuxFile, nodes.BootUEFI: "um64_linux/grubx64.efi"}},
		{Name: "windows", Kind: nodes.KindLocalDisk, BootFiles: map[string]string{nodes.BootBIOS: winFile}},
	} {
		if err := st.AddProfile(ctx, actor, p); err != nil {
			t.Fatal(err)
		}
		if err := st.AddCluster(ctx, actor, nodes.Cluster{Name: p.Name, Profile: p.Name}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range ns {
		if _, err := st.AddNode(ctx, actor, n, ""); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func node(name, mac, ip, cluster string) nodes.Node {
	return nodes.Node{Name: name, MAC: mac, IP: netip.MustParseAddr(ip), Cluster: cluster}
}

// segment is a server namespace with bridge br0 that clients plug into.
type segment struct {
	lab *netlab.Lab
	srv *netlab.NS
	n   int
}

func newSegment(t *testing.T, cidr string) *segment {
	lab := netlab.New(t)
	srv := lab.Namespace("srv")
	srv.Bridge("br0", cidr)
	return &segment{lab: lab, srv: srv}
}

// client plugs a new namespace into the bridge with interface eth0 = mac.
func (s *segment) client(t *testing.T, short, mac string) *netlab.NS {
	t.Helper()
	s.n++
	ns := s.lab.Namespace(short)
	port := fmt.Sprintf("p%d", s.n)
	s.lab.Veth(s.srv, port, ns, "eth0")
	s.srv.Enslave(port, "br0")
	ns.MustRun("ip", "link", "set", "eth0", "down")
	ns.SetMAC("eth0", mac)
	ns.MustRun("ip", "link", "set", "eth0", "up")
	return ns
}

// serve starts "node-switch serve" for DHCP only on iface in ns and waits
// until it listens.
func serve(t *testing.T, ns *netlab.NS, db string, iface string, extra ...string) *netlab.Proc {
	t.Helper()
	bin := netlab.Binary(t)
	args := []string{"--db", db, "serve", "--interface", iface, "--log-level", "debug",
		"--tftp-listen=", "--http-listen=", "--ssh-listen="}
	args = append(args, extra...)
	p := ns.Start(nil, bin, args...)
	if !netlab.WaitFor(30*time.Second, func() bool { return strings.Contains(p.Output(), "dhcp listening") || p.Exited() }) || p.Exited() {
		t.Fatalf("node-switch serve did not start listening:\n%s", p.Output())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node-switch output:\n%s", p.Output())
		}
	})
	return p
}

// lease is what a client got.
type lease struct {
	IP, File, Server string
}

// dhclient runs ISC dhclient once on eth0 of ns. It returns the lease, or
// ok=false when no server answered within timeout. The script is /bin/true,
// so nothing on the host (resolv.conf) is touched; the lease file says
// what was offered.
func dhclient(t *testing.T, ns *netlab.NS, timeout int) (lease, bool) {
	t.Helper()
	s, ok := dhclientLease(t, ns, timeout, "subnet-mask, routers, host-name")
	if !ok {
		return lease{}, false
	}
	return parseLease(s), true
}

// dhclientLease runs dhclient as dhclient does, asking (option 55) for the
// options request names, and returns the newest lease block of its lease
// file, where dhclient writes every option it was given.
func dhclientLease(t *testing.T, ns *netlab.NS, timeout int, request string) (string, bool) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "dhclient.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("timeout %d;\nretry 1;\ninitial-interval 1;\nrequest %s;\n", timeout, request)), 0o644)
	lf := filepath.Join(dir, "leases")
	out, err := ns.Run("dhclient", "-4", "-1", "-v", "-cf", conf, "-lf", lf, "-pf", filepath.Join(dir, "pid"), "-sf", "/bin/true", "eth0")
	// Daemonized after a lease: stop it, it is not needed any more.
	if pid, rerr := os.ReadFile(filepath.Join(dir, "pid")); rerr == nil {
		ns.Run("kill", strings.TrimSpace(string(pid)))
	}
	if err != nil {
		if strings.Contains(out, "No DHCPOFFERS received") || strings.Contains(err.Error(), "exit status 2") {
			return "", false
		}
		t.Fatalf("dhclient: %v", err)
	}
	b, err := os.ReadFile(lf)
	if err != nil {
		t.Fatalf("dhclient got a lease but wrote no lease file: %v\n%s", err, out)
	}
	s := string(b)
	if i := strings.LastIndex(s, "lease {"); i >= 0 {
		s = s[i:]
	}
	return s, true
}

var (
	reAddr   = regexp.MustCompile(`fixed-address ([0-9.]+);`)
	reFile   = regexp.MustCompile(`filename "([^"]*)";`)
	reServer = regexp.MustCompile(`option dhcp-server-identifier ([0-9.]+);`)
)

func parseLease(s string) lease {
	// The last lease block is the newest.
	if i := strings.LastIndex(s, "lease {"); i >= 0 {
		s = s[i:]
	}
	var l lease
	if m := reAddr.FindStringSubmatch(s); m != nil {
		l.IP = m[1]
	}
	if m := reFile.FindStringSubmatch(s); m != nil {
		l.File = m[1]
	}
	if m := reServer.FindStringSubmatch(s); m != nil {
		l.Server = m[1]
	}
	return l
}

// udhcpc runs busybox udhcpc once on eth0 of ns with extra client options
// (e.g. "-x", "0x5d:0007" to say "x86-64 UEFI"). The script records the
// lease; nothing is configured.
func udhcpc(t *testing.T, ns *netlab.NS, extra ...string) (lease, bool) {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	out := filepath.Join(dir, "bound")
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && echo \"ip=$ip boot_file=$boot_file serverid=$serverid\" > "+out+"\nexit 0\n"), 0o755)
	args := append([]string{"udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "3", "-T", "2", "-s", script}, extra...)
	log, err := ns.Run("busybox", args...)
	b, rerr := os.ReadFile(out)
	if rerr != nil {
		if err == nil {
			t.Fatalf("udhcpc succeeded without calling its script:\n%s", log)
		}
		return lease{}, false
	}
	var l lease
	for _, f := range strings.Fields(string(b)) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "ip":
			l.IP = v
		case "boot_file":
			l.File = v
		case "serverid":
			l.Server = v
		}
	}
	return l, true
}

// requireNoReplyLogged checks that the server heard mac and decided on
// silence for the reason why (debug log), so a client that got no answer
// proves the decision rather than a lost packet.
func requireNoReplyLogged(t *testing.T, srv *netlab.Proc, mac, why string) {
	t.Helper()
	heard := func() bool {
		for _, line := range strings.Split(srv.Output(), "\n") {
			if strings.Contains(line, `msg="dhcp no reply"`) && strings.Contains(line, "mac="+mac) && strings.Contains(line, why) {
				return true
			}
		}
		return false
	}
	if !netlab.WaitFor(5*time.Second, heard) {
		t.Fatalf("server did not log a deliberate no-reply (%q) for %s", why, mac)
	}
}
