// Package dhcpbench holds Go benchmarks of node-switch's DHCP reply path
// (run.sh beside it is the side-by-side benchmark against other servers):
//
//	go test -run '^$' -bench . -benchmem ./e2e/bench/dhcp/
package dhcpbench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/node-switch/node-switch/dhcp"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/nodestest"
)

const benchNodes = 10000

var actor = nodes.Actor{Name: "bench", Channel: nodes.ChannelCLI}

func mac(i int) net.HardwareAddr { return net.HardwareAddr{0x02, 0xb0, 0, 0, byte(i >> 8), byte(i)} }

func store(b *testing.B) *nodes.Store {
	b.Helper()
	st := nodestest.Open(b)
	ctx := context.Background()
	inv := nodes.Inventory{
		Subnets:  []nodes.Subnet{{Prefix: netip.MustParsePrefix("10.80.0.0/16"), Routers: []netip.Addr{netip.MustParseAddr("10.80.0.1")}}},
		Profiles: []nodes.Profile{{Name: "bench", Kind: nodes.KindLinux, BootFiles: map[string]string{nodes.BootBIOS: "bench/pxelinux.0"}}},
		Clusters: []nodes.Cluster{{Name: "bench", Profile: "bench"}},
	}
	for i := range benchNodes {
		inv.Nodes = append(inv.Nodes, nodes.Node{Name: fmt.Sprintf("n%05d", i), MAC: mac(i).String(),
			IP: netip.AddrFrom4([4]byte{10, 80, byte(1 + i/250), byte(1 + i%250)}), Cluster: "bench"})
	}
	if _, err := st.Import(ctx, actor, inv, "bench"); err != nil {
		b.Fatal(err)
	}
	return st
}

// requests are relayed PXE DISCOVERs, as perfdhcp sends them, one per node.
func requests(b *testing.B) [][]byte {
	out := make([][]byte, benchNodes)
	for i := range out {
		d, err := dhcpv4.NewDiscovery(mac(i), dhcpv4.WithGatewayIP(net.ParseIP("10.80.0.2")),
			dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)), dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient")))
		if err != nil {
			b.Fatal(err)
		}
		out[i] = d.ToBytes()
	}
	return out
}

var settings = dhcp.Settings{ServerIP: netip.MustParseAddr("10.80.0.1"), Prefix: netip.MustParsePrefix("10.80.0.0/16")}

// run measures parse + decide + marshal, the work a worker does per packet.
func run(b *testing.B, inv dhcp.Inventory) {
	reqs := requests(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		out := make([]byte, 0, 1500)
		for pb.Next() {
			req, err := dhcpv4.FromBytes(reqs[i%len(reqs)])
			if err != nil {
				b.Fatal(err)
			}
			out, _, _, err = dhcp.HandleAppend(ctx, out[:0], req, inv, settings)
			if err != nil {
				b.Fatal(err)
			}
			i += 7
		}
	})
}

// BenchmarkReplyMap is the floor: no inventory cost at all.
func BenchmarkReplyMap(b *testing.B) {
	st := store(b)
	m := dhcp.MapInventory{}
	for i := range benchNodes {
		r, err := dhcp.StoreInventory{Store: st}.Lookup(context.Background(), mac(i).String())
		if err != nil {
			b.Fatal(err)
		}
		m[mac(i).String()] = r
	}
	run(b, m)
}

// BenchmarkReplyStore reads the inventory with five queries per packet.
func BenchmarkReplyStore(b *testing.B) { run(b, dhcp.StoreInventory{Store: store(b)}) }

// BenchmarkReplyCached is what serve uses: a snapshot checked against
// SQLite's WAL index on every lookup.
func BenchmarkReplyCached(b *testing.B) {
	st := store(b)
	c, err := dhcp.NewCachedInventory(context.Background(), st)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	run(b, c)
}

// BenchmarkAfterCommit is the first lookup after a commit: "change" edits
// the profile, which moves the generation and rereads all 10,000 nodes;
// "logbook" (every SSH command, hook output, reboot result) and
// "sightings" (the last-seen flush) leave it alone and cost only the
// check. It reports the reloads per lookup, to show which is which.
func BenchmarkAfterCommit(b *testing.B) {
	for _, kind := range []string{"change", "logbook", "sightings"} {
		b.Run(kind, func(b *testing.B) {
			st := store(b)
			c, err := dhcp.NewCachedInventory(context.Background(), st)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			reloads := c.Reloads()
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				switch kind {
				case "change":
					_, err = st.UpdateProfile(ctx, actor, "bench", "", func(p *nodes.Profile) error {
						p.Description = fmt.Sprint(i)
						return nil
					})
				case "logbook":
					_, err = st.Record(ctx, actor, nodes.Event{Action: nodes.ActionSSHCommand})
				default:
					err = st.RecordSeen(ctx, []nodes.Seen{{MAC: mac(1).String(), Firmware: []string{"bios", "uefi"}[i%2]}})
				}
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := c.Lookup(ctx, mac(1).String()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(c.Reloads()-reloads)/float64(b.N), "reloads/op")
		})
	}
}
