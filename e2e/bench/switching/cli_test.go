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
//
// MOVE_BASELINE_BIN=path names another build (say, the last release's)
// whose move runs interleaved with the others on its own copy of the
// inventory, so a change is measured against it under the same load.
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
	// Each run's wall time and its CPU time (user + system, from the
	// child's rusage): on a shared machine the CPU time is the steadier
	// figure, the wall time what an operator waits.
	type runs struct{ wall, cpu []time.Duration }
	run := func(into *runs, name string, args ...string) {
		cmd := exec.Command(name, args...)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
		into.wall = append(into.wall, time.Since(start))
		into.cpu = append(into.cpu, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
	}
	base := os.Getenv("MOVE_BASELINE_BIN")
	baseDB := filepath.Join(dir, "baseline.db")
	if base != "" {
		data, err := os.ReadFile(db)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(baseDB, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	var moves, checks, helps, baseMoves runs
	target := "b"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rng := fmt.Sprintf("n[1-%d]", nodeCount)
		run(&moves, bin, "--db", db, "move", rng, "--to", target, "--reason", "bench")
		run(&checks, "/usr/sbin/dhcpd", "-t", "-q", "-4", "-cf", cf)
		run(&helps, bin, "--help")
		if base != "" {
			run(&baseMoves, base, "--db", baseDB, "move", rng, "--to", target, "--reason", "bench")
		}
		target = map[string]string{"a": "b", "b": "a"}[target]
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	m, c := median(moves.wall), median(checks.wall)
	mc, cc := median(moves.cpu), median(checks.cpu)
	b.ReportMetric(ms(m), "ms/move(median)")
	b.ReportMetric(ms(c), "ms/dhcpd-t(median)")
	b.ReportMetric(ms(median(helps.wall)), "ms/help(median)")
	b.ReportMetric(float64(m)/float64(c), "move/dhcpd-t")
	b.ReportMetric(ms(mc), "cpu-ms/move(median)")
	b.ReportMetric(ms(cc), "cpu-ms/dhcpd-t(median)")
	b.ReportMetric(float64(mc)/float64(cc), "cpu-move/dhcpd-t")
	if base != "" {
		bm, bc := median(baseMoves.wall), median(baseMoves.cpu)
		b.ReportMetric(ms(bm), "ms/baseline-move(median)")
		b.ReportMetric(float64(bm)/float64(c), "baseline-move/dhcpd-t")
		b.ReportMetric(ms(bc), "cpu-ms/baseline-move(median)")
		b.ReportMetric(float64(bc)/float64(cc), "cpu-baseline-move/dhcpd-t")
	}
	b.ReportMetric(0, "ns/op")
}
