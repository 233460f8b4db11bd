package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/nodestest"
)

var testActor = nodes.Actor{Name: "test", Channel: nodes.ChannelCLI}

// testStore makes an inventory with a linux and a windows cluster and n
// nodes in linux: node i has MAC 02:00:00:00:hi:lo and IP 10.99.hi.lo+10.
func testStore(t testing.TB, n int) *nodes.Store {
	t.Helper()
	st := nodestest.Open(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.AddProfile(ctx, testActor, nodes.Profile{Name: "linux", Kind: nodes.KindLinux,
		BootFiles: map[string]string{nodes.BootBIOS: "um64_linux/pxelinux.0"}}))
	must(st.AddProfile(ctx, testActor, nodes.Profile{Name: "windows", Kind: nodes.KindLocalDisk,
		BootFiles: map[string]string{nodes.BootBIOS: "um64_win/pxelinux.0"}}))
	must(st.AddCluster(ctx, testActor, nodes.Cluster{Name: "linux", Profile: "linux"}))
	must(st.AddCluster(ctx, testActor, nodes.Cluster{Name: "windows", Profile: "windows"}))
	must(st.SetSubnet(ctx, testActor, nodes.Subnet{Prefix: netip.MustParsePrefix("10.99.0.0/16"),
		Routers: []netip.Addr{netip.MustParseAddr("10.99.0.254")}}))
	inv := nodes.Inventory{}
	for i := range n {
		inv.Nodes = append(inv.Nodes, nodes.Node{Name: fmt.Sprintf("n%05d", i), MAC: testNodeMAC(i),
			IP: netip.AddrFrom4([4]byte{10, 99, byte(i >> 8), byte(i&0xff) + 10}), Cluster: "linux"})
	}
	if n > 0 {
		if _, err := st.Import(ctx, testActor, inv, "test"); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func testNodeMAC(i int) string { return fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff) }

func TestCachedInventoryFollowsCommits(t *testing.T) {
	ctx := context.Background()
	st := testStore(t, 3)
	cached, err := NewCachedInventory(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	defer cached.Close()
	// A second Store stands in for a CLI process committing a change.
	cli, err := nodes.Open(st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	check := func(step string) {
		t.Helper()
		for _, mac := range []string{testNodeMAC(0), testNodeMAC(1), "02:00:00:00:99:99"} {
			want, werr := StoreInventory{st}.Lookup(ctx, mac)
			got, gerr := cached.Lookup(ctx, mac)
			if (werr == nil) != (gerr == nil) || errors.Is(werr, nodes.ErrNotFound) != errors.Is(gerr, nodes.ErrNotFound) {
				t.Fatalf("%s: %s: cached err %v, store err %v", step, mac, gerr, werr)
			}
			if werr != nil {
				continue
			}
			if got.Node.Cluster != want.Node.Cluster || got.Node.Masked != want.Node.Masked || got.Profile.Name != want.Profile.Name ||
				got.Profile.BootFiles[nodes.BootBIOS] != want.Profile.BootFiles[nodes.BootBIOS] ||
				(got.Subnet == nil) != (want.Subnet == nil) || (got.Subnet != nil && got.Subnet.Prefix != want.Subnet.Prefix) {
				t.Fatalf("%s: %s: cached %+v, store %+v", step, mac, got, want)
			}
		}
	}
	check("start")
	if _, err := cli.Move(ctx, testActor, nodes.MoveRequest{Range: "n00000", To: "windows"}); err != nil {
		t.Fatal(err)
	}
	check("after move")
	if r, _ := cached.Lookup(ctx, testNodeMAC(0)); r.Profile.Name != "windows" {
		t.Fatalf("the lookup right after a committed move still says %s", r.Profile.Name)
	}
	if _, err := cli.SetMask(ctx, testActor, nodes.MaskRequest{Range: "n00001", Mask: true, Reason: "reinstall"}); err != nil {
		t.Fatal(err)
	}
	check("after mask")
	if r, _ := cached.Lookup(ctx, testNodeMAC(1)); !r.Node.Masked {
		t.Fatal("the lookup right after a committed mask does not see it")
	}
	if _, err := cli.UpdateProfile(ctx, testActor, "windows", "", func(p *nodes.Profile) error {
		p.BootFiles[nodes.BootBIOS] = "um64_win/other.0"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	check("after profile change")
	if _, err := cli.RemoveNodes(ctx, testActor, "n00000", ""); err != nil {
		t.Fatal(err)
	}
	check("after remove")
	if _, err := cached.Lookup(ctx, testNodeMAC(0)); !errors.Is(err, nodes.ErrNotFound) {
		t.Fatalf("removed node still answered: %v", err)
	}
	if err := cli.SetSubnet(ctx, testActor, nodes.Subnet{Prefix: netip.MustParsePrefix("10.99.1.0/24")}); err != nil {
		t.Fatal(err)
	}
	check("after subnet set")
	if r, _ := cached.Lookup(ctx, testNodeMAC(1)); r.Subnet == nil || r.Subnet.Prefix.Bits() != 16 {
		t.Fatalf("node outside the new subnet got %+v", r.Subnet)
	}
	// Our own sightings flush commits through another connection but adds
	// no logbook entry: it must not cost a reload of every node.
	reloads := cached.reloads
	if err := st.RecordSeen(ctx, []nodes.Seen{{MAC: testNodeMAC(2), Firmware: "uefi"}}); err != nil {
		t.Fatal(err)
	}
	check("after sightings")
	if cached.reloads != reloads {
		t.Fatalf("a sightings flush reloaded the inventory (%d reloads, want %d)", cached.reloads, reloads)
	}
	// A change without a logbook entry (a hand-made UPDATE) is picked up
	// once the copy is older than maxQuietAge.
	cached.loadedAt = cached.loadedAt.Add(-2 * maxQuietAge)
	if err := st.RecordSeen(ctx, []nodes.Seen{{MAC: testNodeMAC(2), Firmware: "bios"}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := cached.Lookup(ctx, testNodeMAC(2)); r.Node.Firmware != "bios" || cached.reloads != reloads+1 {
		t.Fatalf("old copy not reread: firmware %q, %d reloads", r.Node.Firmware, cached.reloads)
	}
}

func TestCachedInventoryAsksSQLiteOnlyAfterACommit(t *testing.T) {
	ctx := context.Background()
	st := testStore(t, 2)
	cached, err := NewCachedInventory(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	defer cached.Close()
	if err := cached.FastCheck(); err != nil {
		t.Fatalf("no WAL-index check: %v", err)
	}
	cached.confirmEvery = time.Hour // the test must not depend on how fast it runs
	cli, err := nodes.Open(st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	steps := []struct {
		name    string
		do      func() error
		confirm bool // the next lookup reads data_version
		cluster string
	}{
		{"first lookup", func() error { return nil }, true, "linux"},
		{"nothing changed", func() error { return nil }, false, "linux"},
		{"a read elsewhere", func() error { _, err := cli.Nodes(ctx, ""); return err }, false, "linux"},
		{"a move", func() error {
			_, err := cli.Move(ctx, testActor, nodes.MoveRequest{Range: "n00000", To: "windows"})
			return err
		}, true, "windows"},
		{"nothing after the move", func() error { return nil }, false, "windows"},
		{"a sightings flush", func() error {
			return st.RecordSeen(ctx, []nodes.Seen{{MAC: testNodeMAC(1), Firmware: "uefi"}})
		}, true, "windows"},
		{"a move back", func() error {
			_, err := cli.Move(ctx, testActor, nodes.MoveRequest{Range: "n00000", To: "linux"})
			return err
		}, true, "linux"},
		{"the hourly confirmation", func() error { cached.confirmedAt = cached.confirmedAt.Add(-2 * time.Hour); return nil }, true, "linux"},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		before := cached.confirms
		r, err := cached.Lookup(ctx, testNodeMAC(0))
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := cached.confirms != before; got != s.confirm {
			t.Errorf("%s: read data_version = %v, want %v", s.name, got, s.confirm)
		}
		if r.Node.Cluster != s.cluster {
			t.Errorf("%s: node in %s, want %s", s.name, r.Node.Cluster, s.cluster)
		}
	}
}
