// Package switching measures what an operator waits for: the time from
// "move these 1,000 nodes" to the first DHCP answer that carries their new
// boot file. node-switch commits one transaction and the next request sees
// it; the source system rewrote dhcpd.conf and restarted ISC dhcpd. Both run
// in the same benchmark invocation, in network namespaces, with the same
// client polling the same way.
//
//	go test -run '^$' -bench Switching -benchtime 5x ./e2e/bench/switching/
package switching

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

const nodeCount = 1000

var clusters = map[string]string{"a": "a/pxelinux.0", "b": "b/pxelinux.0"}

func mac(i int) string { return fmt.Sprintf("02:77:00:00:%02x:%02x", i>>8, i&0xff) }
func ip(i int) string  { return fmt.Sprintf("10.77.%d.%d", 1+i/250, 1+i%250) }

// TestMain doubles as the polling DHCP client, run inside the client
// namespace by re-executing the test binary.
func TestMain(m *testing.M) {
	if iface := os.Getenv("SWITCH_CLIENT_IFACE"); iface != "" {
		os.Exit(pollClient(iface))
	}
	os.Exit(m.Run())
}

// pollClient waits for a wanted boot file on stdin, then sends DISCOVERs
// until an OFFER carries it, and says "ok" on stdout.
func pollClient(iface string) int {
	hw, _ := net.ParseMAC(os.Getenv("SWITCH_CLIENT_MAC"))
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		want := in.Text()
		deadline := time.Now().Add(60 * time.Second)
		for {
			c, err := nclient4.New(iface, nclient4.WithHWAddr(hw), nclient4.WithTimeout(100*time.Millisecond), nclient4.WithRetry(1))
			if err != nil {
				fmt.Println("error", err)
				return 1
			}
			offer, err := c.DiscoverOffer(context.Background())
			c.Close()
			if err == nil && offer.BootFileName == want {
				fmt.Println("ok")
				break
			}
			if time.Now().After(deadline) {
				fmt.Println("timeout")
				return 1
			}
		}
	}
	return 0
}

type rig struct {
	lab     *netlab.Lab
	srv     *netlab.NS
	client  io.WriteCloser
	replies *bufio.Scanner
}

func newRig(b *testing.B) *rig {
	lab := netlab.New(b)
	srv, cli := lab.Namespace("srv"), lab.Namespace("cli")
	lab.Veth(srv, "veth0", cli, "veth1")
	srv.Addr("veth0", "10.77.0.1/16")
	cli.SetMAC("veth1", mac(1))
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := cli.Command(self)
	cmd.Env = append(os.Environ(), "SWITCH_CLIENT_IFACE=veth1", "SWITCH_CLIENT_MAC="+mac(1))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	return &rig{lab: lab, srv: srv, client: stdin, replies: bufio.NewScanner(stdout)}
}

// waitFor tells the client which boot file to wait for and blocks until it
// has seen it in an offer.
func (r *rig) waitFor(b *testing.B, file string) {
	fmt.Fprintln(r.client, file)
	if !r.replies.Scan() || r.replies.Text() != "ok" {
		b.Fatalf("client never saw boot file %s: %q", file, r.replies.Text())
	}
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

func report(b *testing.B, ds []time.Duration) {
	b.ReportMetric(float64(median(ds).Microseconds())/1000, "ms/switch(median)")
	b.ReportMetric(0, "ns/op")
}

func BenchmarkSwitching(b *testing.B) {
	b.Run("node-switch", benchNodeSwitch)
	b.Run("isc-dhcpd", benchDhcpd)
}

func benchNodeSwitch(b *testing.B) {
	netlab.RequireRoot(b)
	bin := netlab.Binary(b)
	r := newRig(b)
	dir := b.TempDir()
	db := filepath.Join(dir, "inventory.db")
	st, err := nodes.Open(db)
	if err != nil {
		b.Fatal(err)
	}
	actor := nodes.Actor{Name: "bench", Channel: nodes.ChannelCLI}
	inv := nodes.Inventory{}
	for name, file := range clusters {
		inv.Profiles = append(inv.Profiles, nodes.Profile{Name: name, Kind: nodes.KindLinux, BootFiles: map[string]string{nodes.BootBIOS: file}})
		inv.Clusters = append(inv.Clusters, nodes.Cluster{Name: name, Profile: name})
	}
	for i := 1; i <= nodeCount; i++ {
		inv.Nodes = append(inv.Nodes, nodes.Node{Name: fmt.Sprintf("n%d", i), MAC: mac(i), IP: netip.MustParseAddr(ip(i)), Cluster: "a"})
	}
	if _, err := st.Import(context.Background(), actor, inv, "bench"); err != nil {
		b.Fatal(err)
	}
	st.Close()
	srv := r.srv.Start(nil, bin, "--db", db, "serve", "--interface", "veth0", "--tftp-listen", "", "--http-listen", "", "--ssh-listen", "")
	r.waitFor(b, clusters["a"])
	target := "b"
	var ds []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if out, err := exec.Command(bin, "--db", db, "move", fmt.Sprintf("n[1-%d]", nodeCount), "--to", target).CombinedOutput(); err != nil {
			b.Fatalf("move: %v: %s", err, out)
		}
		r.waitFor(b, clusters[target])
		ds = append(ds, time.Since(start))
		target = map[string]string{"a": "b", "b": "a"}[target]
	}
	b.StopTimer()
	report(b, ds)
	if srv.Exited() {
		b.Fatalf("node-switch exited: %s", srv.Output())
	}
}

// dhcpdConf writes the source system's shape: a group per cluster, every
// host in the target group.
func dhcpdConf(target string) string {
	var s strings.Builder
	s.WriteString("authoritative;\nsubnet 10.77.0.0 netmask 255.255.0.0 {\n}\n")
	for _, name := range []string{"a", "b"} {
		fmt.Fprintf(&s, "group {\nfilename %q;\n", clusters[name])
		if name == target {
			for i := 1; i <= nodeCount; i++ {
				fmt.Fprintf(&s, "host n%d {hardware ethernet %s;\nfixed-address %s; }\n", i, mac(i), ip(i))
			}
		}
		s.WriteString("}\n")
	}
	return s.String()
}

func benchDhcpd(b *testing.B) {
	netlab.RequireRoot(b)
	netlab.Require(b, "/usr/sbin/dhcpd=isc-dhcp-server")
	r := newRig(b)
	dir := b.TempDir()
	conf, leases := filepath.Join(dir, "dhcpd.conf"), filepath.Join(dir, "dhcpd.leases")
	os.WriteFile(leases, nil, 0o644)
	start := func() *netlab.Proc {
		return r.srv.Start(nil, "/usr/sbin/dhcpd", "-4", "-f", "-q", "-cf", conf, "-lf", leases, "-pf", filepath.Join(dir, "dhcpd.pid"), "veth0")
	}
	os.WriteFile(conf, []byte(dhcpdConf("a")), 0o644)
	srv := start()
	r.waitFor(b, clusters["a"])
	target := "b"
	var ds []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		// What scripts 1 and 2 did: rewrite the file, restart the server.
		if err := os.WriteFile(conf, []byte(dhcpdConf(target)), 0o644); err != nil {
			b.Fatal(err)
		}
		srv.Stop()
		srv = start()
		r.waitFor(b, clusters[target])
		ds = append(ds, time.Since(t0))
		target = map[string]string{"a": "b", "b": "a"}[target]
	}
	b.StopTimer()
	report(b, ds)
}
