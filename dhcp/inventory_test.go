package dhcp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"sync"
	"sync/atomic"
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
	return fillStore(t, nodestest.Open(t), n)
}

// fillStore puts testStore's inventory into an empty store.
func fillStore(t testing.TB, st *nodes.Store, n int) *nodes.Store {
	t.Helper()
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

// sameAsStore fails t unless cached answers as the store itself does for
// nodes 0 and 1 and an unknown MAC.
func sameAsStore(t *testing.T, cached *CachedInventory, st *nodes.Store, step string) {
	t.Helper()
	ctx := context.Background()
	for _, mac := range []string{testNodeMAC(0), testNodeMAC(1), "02:00:00:00:99:99"} {
		want, werr := StoreInventory{st}.Lookup(ctx, mac)
		got, gerr := cached.Lookup(ctx, mac)
		if (werr == nil) != (gerr == nil) || errors.Is(werr, nodes.ErrNotFound) != errors.Is(gerr, nodes.ErrNotFound) {
			t.Fatalf("%s: %s: cached err %v, store err %v", step, mac, gerr, werr)
		}
		if werr != nil {
			continue
		}
		if got.Node.Cluster != want.Node.Cluster || got.Node.Masked != want.Node.Masked || got.Node.Event != want.Node.Event ||
			got.Profile.Name != want.Profile.Name || got.Profile.BootFiles[nodes.BootBIOS] != want.Profile.BootFiles[nodes.BootBIOS] ||
			(got.Subnet == nil) != (want.Subnet == nil) || (got.Subnet != nil && got.Subnet.Prefix != want.Subnet.Prefix) {
			t.Fatalf("%s: %s: cached %+v, store %+v", step, mac, got, want)
		}
	}
}

func TestCachedInventoryFollowsCommits(t *testing.T) {
	ctx := context.Background()
	st := testStore(t, 3)
	cached := newCached(t, st)
	// A second Store stands in for a CLI process committing a change.
	cli, err := nodes.Open(st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	check := func(step string) { t.Helper(); sameAsStore(t, cached, st, step) }
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
	// Our own sightings flush commits through another connection but
	// changes no answer: it must not cost a reload of every node.
	reloads := cached.Reloads()
	if err := st.RecordSeen(ctx, []nodes.Seen{{MAC: testNodeMAC(2), Firmware: "uefi"}}); err != nil {
		t.Fatal(err)
	}
	check("after sightings")
	if got := cached.Reloads(); got != reloads {
		t.Fatalf("a sightings flush reloaded the inventory (%d reloads, want %d)", got, reloads)
	}
}

func TestCachedInventoryAsksSQLiteOnlyAfterACommit(t *testing.T) {
	ctx := context.Background()
	st := testStore(t, 2)
	cached := newCached(t, st)
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
		confirm bool // the next lookup reads the generation
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
		{"a logbook entry", func() error {
			_, err := cli.Record(ctx, testActor, nodes.Event{Action: nodes.ActionSSHCommand})
			return err
		}, true, "linux"},
		{"the hourly confirmation", func() error {
			v := *cached.view.Load()
			v.confirmedAt = v.confirmedAt.Add(-2 * time.Hour)
			cached.view.Store(&v)
			return nil
		}, true, "linux"},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		before := cached.confirms.Load()
		r, err := cached.Lookup(ctx, testNodeMAC(0))
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := cached.confirms.Load() != before; got != s.confirm {
			t.Errorf("%s: read the generation = %v, want %v", s.name, got, s.confirm)
		}
		if r.Node.Cluster != s.cluster {
			t.Errorf("%s: node in %s, want %s", s.name, r.Node.Cluster, s.cluster)
		}
	}
}

// TestCachedInventoryReloadsOnlyForBootChanges counts rereads of the
// inventory: commits that add only logbook entries or sightings (every SSH
// command, hook output and reboot result logs) cost none, a change to what
// a node boots costs exactly one however many lookups follow, and a change
// made by hand, over another connection or in the sqlite3 shell, is in the
// very next answer.
func TestCachedInventoryReloadsOnlyForBootChanges(t *testing.T) {
	ctx := context.Background()
	st := testStore(t, 3)
	cached := newCached(t, st)
	if err := cached.FastCheck(); err != nil {
		t.Fatalf("no WAL-index check: %v", err)
	}
	cli, err := nodes.Open(st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	raw, err := sql.Open("sqlite3", "file:"+st.Path()+"?_busy_timeout=30000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	hand := func(q string) func(*testing.T) error {
		return func(*testing.T) error { _, err := raw.Exec(q); return err }
	}
	shell := func(q string) func(*testing.T) error {
		return func(t *testing.T) error {
			bin, err := exec.LookPath("sqlite3")
			if err != nil {
				t.Skip("sqlite3 shell not installed (Debian package sqlite3)")
			}
			if out, err := exec.Command(bin, "-cmd", ".timeout 30000", st.Path(), q).CombinedOutput(); err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		}
	}
	record := func(who *nodes.Store, n int) func(*testing.T) error {
		return func(*testing.T) error {
			for i := range n {
				if _, err := who.Record(ctx, testActor, nodes.Event{Action: nodes.ActionSSHCommand, Result: fmt.Sprint(i)}); err != nil {
					return err
				}
			}
			return nil
		}
	}
	sameAsStore(t, cached, st, "first lookup")

	steps := []struct {
		name    string
		do      func(*testing.T) error
		reloads uint64
	}{
		{"50 logbook entries from another process", record(cli, 50), 0},
		{"5 logbook entries from the server's own store", record(st, 5), 0},
		{"a sightings flush", func(*testing.T) error {
			return st.RecordSeen(ctx, []nodes.Seen{{MAC: testNodeMAC(0), Time: time.Now(), Firmware: "uefi"}})
		}, 0},
		{"a logbook entry by hand", hand(`INSERT INTO events (time, actor, channel, action) VALUES (0, 'me', 'cli', 'note')`), 0},
		{"a move", func(*testing.T) error {
			_, err := cli.Move(ctx, testActor, nodes.MoveRequest{Range: "n00000", To: "windows"})
			return err
		}, 1},
		{"a mask, logbook entries and a move back before the next request", func(t *testing.T) error {
			if _, err := cli.SetMask(ctx, testActor, nodes.MaskRequest{Range: "n00001", Mask: true, Reason: "reinstall"}); err != nil {
				return err
			}
			if err := record(cli, 3)(t); err != nil {
				return err
			}
			_, err := cli.Move(ctx, testActor, nodes.MoveRequest{Range: "n00000", To: "linux"})
			return err
		}, 1},
		{"a move by hand over another connection", hand(`UPDATE nodes SET cluster = 'windows' WHERE name = 'n00000'`), 1},
		{"a boot file by hand", hand(`UPDATE boot_files SET file = 'um64_win/by-hand.0' WHERE profile = 'windows'`), 1},
		{"last seen by hand", hand(`UPDATE nodes SET last_seen = 1, firmware = 'bios'`), 0},
		{"a logbook entry in the sqlite3 shell", shell(`INSERT INTO events (time, actor, channel, action) VALUES (0, 'me', 'cli', 'note')`), 0},
		{"an unmask in the sqlite3 shell", shell(`UPDATE nodes SET masked = 0, mask_reason = '' WHERE name = 'n00001'`), 1},
		{"a move in the sqlite3 shell", shell(`UPDATE nodes SET cluster = 'linux' WHERE name = 'n00000'`), 1},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := cached.Reloads()
			if err := s.do(t); err != nil {
				t.Fatal(err)
			}
			sameAsStore(t, cached, st, s.name)
			if got := cached.Reloads() - before; got != s.reloads {
				t.Errorf("%d reloads, want %d", got, s.reloads)
			}
		})
	}
}

// TestCachedInventoryLookupsNeverWaitForAQuietCheck holds the check lock as
// a reload in flight would: lookups that saw no commit answer from the
// current copy, including the one due to confirm it. (On failure this test
// hangs rather than fails; go test's -timeout reports it with the stacks.)
func TestCachedInventoryLookupsNeverWaitForAQuietCheck(t *testing.T) {
	ctx := context.Background()
	st := testStore(t, 2)
	cached := newCached(t, st)
	if err := cached.FastCheck(); err != nil {
		t.Skipf("no WAL-index check, every lookup asks SQLite: %v", err)
	}
	if _, err := cached.Lookup(ctx, testNodeMAC(0)); err != nil {
		t.Fatal(err)
	}
	cached.mu.Lock()
	defer cached.mu.Unlock()
	if _, err := cached.Lookup(ctx, testNodeMAC(1)); err != nil {
		t.Fatal(err)
	}
	v := *cached.view.Load()
	v.confirmedAt = v.confirmedAt.Add(-time.Hour)
	cached.view.Store(&v)
	confirms := cached.confirms.Load()
	if _, err := cached.Lookup(ctx, testNodeMAC(1)); err != nil {
		t.Fatal(err)
	}
	if cached.confirms.Load() != confirms {
		t.Error("a lookup confirmed the copy while another check held the lock")
	}
}

// TestCachedInventoryConcurrentLookupsSeeEveryCommit has lookups race
// commits: whatever was committed before a lookup began is in its answer.
// Each commit sets node 0's event to its number (by hand, so the generation
// moves); logbook-only commits in between move the WAL index but not the
// generation. Run it with -race.
func TestCachedInventoryConcurrentLookupsSeeEveryCommit(t *testing.T) {
	ctx := context.Background()
	st := testStore(t, 2)
	cached := newCached(t, st)
	raw, err := sql.Open("sqlite3", "file:"+st.Path()+"?_busy_timeout=30000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	const commits = 60
	var committed atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				want := committed.Load()
				r, err := cached.Lookup(ctx, testNodeMAC(0))
				if err != nil {
					t.Error(err)
					return
				}
				if r.Node.Event < want {
					t.Errorf("lookup begun after commit %d answered from commit %d", want, r.Node.Event)
					return
				}
			}
		})
	}
	first := cached.Reloads()
	for i := int64(1); i <= commits; i++ {
		if i%3 == 0 {
			if _, err := st.Record(ctx, testActor, nodes.Event{Action: nodes.ActionSSHCommand}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := raw.Exec(`UPDATE nodes SET event = ? WHERE name = 'n00000'`, i); err != nil {
			t.Fatal(err)
		}
		committed.Store(i)
	}
	stop.Store(true)
	wg.Wait()
	if r, err := cached.Lookup(ctx, testNodeMAC(0)); err != nil || r.Node.Event != commits {
		t.Fatalf("after the last commit: event %d, %v", r.Node.Event, err)
	}
	// Lookups that saw the same commit share its reload.
	if n := cached.Reloads() - first; n > commits+1 {
		t.Errorf("%d reloads for %d changes", n, commits)
	}
}

// TestSightingsKeepTheFirmware: the cached copy is not reread for
// sightings, so the firmware an OS's DHCP client (no option 93) leaves in
// place must come from the sightings themselves, not from the copy.
func TestSightingsKeepTheFirmware(t *testing.T) {
	ctx := context.Background()
	st := testStore(t, 1)
	cached := newCached(t, st)
	s := &Server{rec: st, seen: map[string]nodes.Seen{}}
	uefi := Firmware{Key: nodes.BootUEFI, Arch: 7}
	osClient := Firmware{Key: nodes.BootBIOS, Arch: -1}
	steps := []struct {
		name string
		fws  []Firmware // sightings, then a flush
		want string
	}{
		{"the firmware asks", []Firmware{uefi}, "uefi"},
		{"the OS asks in a later flush", []Firmware{osClient}, "uefi"},
		{"firmware then OS in one flush", []Firmware{{Key: nodes.BootBIOS, Arch: 0}, osClient}, "bios"},
		{"the OS asks again", []Firmware{osClient, osClient}, "bios"},
	}
	for _, step := range steps {
		for _, fw := range step.fws {
			r, err := cached.Lookup(ctx, testNodeMAC(0))
			if err != nil {
				t.Fatal(err)
			}
			s.sighted(r.Node, fw)
		}
		s.flush(ctx)
		n, err := st.LookupMAC(ctx, testNodeMAC(0))
		if err != nil {
			t.Fatal(err)
		}
		if n.Firmware != step.want {
			t.Errorf("%s: firmware %q, want %q", step.name, n.Firmware, step.want)
		}
	}
}

// newCached opens the DHCP server's copy of st, closed when the test ends.
func newCached(t *testing.T, st *nodes.Store) *CachedInventory {
	t.Helper()
	c, err := NewCachedInventory(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
