package switching

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

// BenchmarkMoveVsDhcpdCheck sets the whole `node-switch move` of 1,000
// nodes, process start to exit, beside the least the source system's
// scripts did for the same change: ISC dhcpd re-reading and checking its
// configuration (`dhcpd -t`), which holds the same 2,000 hosts. Both run
// interleaved in one invocation, so the shared machine's load hits both;
// the ratio is the figure to read.
//
//	go test -run '^$' -bench MoveVsDhcpdCheck -benchtime 20x ./e2e/bench/switching/
func BenchmarkMoveVsDhcpdCheck(b *testing.B) {
	netlab.Require(b, "/usr/sbin/dhcpd=isc-dhcp-server")
	bin := netlab.Binary(b)
	dir := b.TempDir()
	db := filepath.Join(dir, "inventory.db")
	st, err := nodes.Open(db)
	if err != nil {
		b.Fatal(err)
	}
	inv := nodes.Inventory{}
	for name, file := range clusters {
		inv.Profiles = append(inv.Profiles, nodes.Profile{Name: name, Kind: nodes.KindLinux, BootFiles: map[string]string{nodes.BootBIOS: file}})
		inv.Clusters = append(inv.Clusters, nodes.Cluster{Name: name, Profile: name})
	}
	var conf strings.Builder
	conf.WriteString("authoritative;\nsubnet 10.77.0.0 netmask 255.255.0.0 {\n}\n")
	for g, name := range []string{"a", "b"} {
		fmt.Fprintf(&conf, "group {\nfilename %q;\n", clusters[name])
		for i := g*nodeCount + 1; i <= (g+1)*nodeCount; i++ {
			inv.Nodes = append(inv.Nodes, nodes.Node{Name: fmt.Sprintf("n%d", i), MAC: mac(i), IP: netip.MustParseAddr(ip(i)), Cluster: name})
			fmt.Fprintf(&conf, "host n%d {hardware ethernet %s;\nfixed-address %s; }\n", i, mac(i), ip(i))
		}
		conf.WriteString("}\n")
	}
	if _, err := st.Import(context.Background(), nodes.Actor{Name: "bench", Channel: nodes.ChannelCLI}, inv, "bench"); err != nil {
		b.Fatal(err)
	}
	st.Close()
	cf := filepath.Join(dir, "dhcpd.conf")
	if err := os.WriteFile(cf, []byte(conf.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	run := func(name string, args ...string) time.Duration {
		start := time.Now()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			b.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
		return time.Since(start)
	}
	var moves, checks, helps []time.Duration
	target := "b"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		moves = append(moves, run(bin, "--db", db, "move", fmt.Sprintf("n[1-%d]", nodeCount), "--to", target, "--reason", "bench"))
		checks = append(checks, run("/usr/sbin/dhcpd", "-t", "-q", "-4", "-cf", cf))
		helps = append(helps, run(bin, "--help"))
		target = map[string]string{"a": "b", "b": "a"}[target]
	}
	b.StopTimer()
	m, c := median(moves), median(checks)
	b.ReportMetric(float64(m.Microseconds())/1000, "ms/move(median)")
	b.ReportMetric(float64(c.Microseconds())/1000, "ms/dhcpd-t(median)")
	b.ReportMetric(float64(median(helps).Microseconds())/1000, "ms/help(median)")
	b.ReportMetric(float64(m)/float64(c), "move/dhcpd-t")
	b.ReportMetric(0, "ns/op")
}
