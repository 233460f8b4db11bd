package nodes

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// newOnceStore has n1..n4 in linux and an installer cluster to boot once.
func newOnceStore(t *testing.T) *Store {
	t.Helper()
	st := newTestStore(t)
	ctx := context.Background()
	must(t, st.AddProfile(ctx, testActor, Profile{Name: "installer", Kind: KindLinux, Kernel: "inst/vmlinuz", Initrd: "inst/initrd"}))
	must(t, st.AddCluster(ctx, testActor, Cluster{Name: "installer", Profile: "installer"}))
	addNodes(t, st, "n", "linux", 4)
	return st
}

// onceState is what a refused or dry-run change must leave alone: who boots
// what, every pending once, and the logbook's length.
func onceState(t *testing.T, st *Store) string {
	t.Helper()
	ns, err := st.Nodes(context.Background(), "")
	must(t, err)
	var b strings.Builder
	for _, n := range ns {
		b.WriteString(n.Name + "@" + n.Cluster + ">" + n.OnceCluster + " ")
	}
	return snapshot(t, st) + b.String() + itoa(int64(eventCount(t, st)))
}

func nodeOf(t *testing.T, st *Store, name string) Node {
	t.Helper()
	n, err := st.Node(context.Background(), name)
	must(t, err)
	return n
}

func TestSetOnce(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		setup   func(t *testing.T, st *Store)
		req     OnceRequest
		changed string
		skipped string
		err     error // wrapped by the error, nil for success
		result  string
	}{
		{name: "installer once", req: OnceRequest{Range: "n[1-2]", To: "installer", Reason: "reinstall"},
			changed: "n[1-2]", result: "next boot only, then back to linux"},
		{name: "own cluster is skipped", req: OnceRequest{Range: "n[1-2]", To: "windows"},
			setup: func(t *testing.T, st *Store) {
				_, err := st.Move(ctx, testActor, MoveRequest{Range: "n1", To: "windows"})
				must(t, err)
			}, changed: "n2", skipped: "n1"},
		{name: "same once is skipped, another replaced", req: OnceRequest{Range: "n[1-3]", To: "installer"},
			setup: func(t *testing.T, st *Store) {
				_, err := st.SetOnce(ctx, testActor, OnceRequest{Range: "n1", To: "installer"})
				must(t, err)
				_, err = st.SetOnce(ctx, testActor, OnceRequest{Range: "n2", To: "windows"})
				must(t, err)
			}, changed: "n[2-3]", skipped: "n1", result: "replaces n2 (was once to windows)"},
		{name: "all skipped", req: OnceRequest{Range: "n1", To: "linux"}, err: ErrNothingToDo},
		{name: "unknown cluster", req: OnceRequest{Range: "n1", To: "solaris"}, err: ErrInvalid},
		{name: "unknown node", req: OnceRequest{Range: "x9", To: "installer"}, err: ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newOnceStore(t)
			if tc.setup != nil {
				tc.setup(t, st)
			}
			before := onceState(t, st)
			ch, err := st.SetOnce(ctx, testActor, tc.req)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if after := onceState(t, st); after != before {
					t.Errorf("a refused once changed the inventory:\n%s\n->\n%s", before, after)
				}
				return
			}
			must(t, err)
			if got := Compress(ch.Names()); got != tc.changed {
				t.Errorf("changed %s, want %s", got, tc.changed)
			}
			if got := Compress(ch.Skipped); got != tc.skipped {
				t.Errorf("skipped %s, want %s", got, tc.skipped)
			}
			for _, name := range ch.Names() {
				n := nodeOf(t, st, name)
				if n.OnceCluster != tc.req.To || n.OnceEvent != ch.Event || n.Cluster == tc.req.To {
					t.Errorf("%s after once: cluster %s, once %q (event %d), want once %s (event %d)", name, n.Cluster, n.OnceCluster, n.OnceEvent, tc.req.To, ch.Event)
				}
				if n.BootCluster() != tc.req.To {
					t.Errorf("%s boots %s next, want %s", name, n.BootCluster(), tc.req.To)
				}
				if _, p, err := st.BootOf(ctx, n); err != nil || p.Name != mustCluster(t, st, tc.req.To).Profile {
					t.Errorf("BootOf(%s) = %s, %v; want the profile of %s", name, p.Name, err, tc.req.To)
				}
			}
			e, err := st.Event(ctx, ch.Event)
			must(t, err)
			if e.Action != ActionMoveOnce || e.Target != tc.req.To || e.Reason != tc.req.Reason || !strings.Contains(e.Result, tc.result) {
				t.Errorf("logbook entry %+v, want move-once to %s with result containing %q", e, tc.req.To, tc.result)
			}
		})
	}
}

func mustCluster(t *testing.T, st *Store, name string) Cluster {
	t.Helper()
	c, err := st.Cluster(context.Background(), name)
	must(t, err)
	return c
}

func TestSetOnceDryRunAndPlan(t *testing.T) {
	ctx := context.Background()
	st := newOnceStore(t)
	before := onceState(t, st)
	plan, err := st.SetOnce(ctx, testActor, OnceRequest{Range: "n[1-2]", To: "installer", DryRun: true})
	must(t, err)
	if after := onceState(t, st); after != before {
		t.Fatalf("a dry run changed the inventory")
	}
	// Meanwhile another once to n2: the commit no longer matches the plan.
	_, err = st.SetOnce(ctx, testActor, OnceRequest{Range: "n2", To: "windows"})
	must(t, err)
	before = onceState(t, st)
	_, err = st.SetOnce(ctx, testActor, OnceRequest{Range: "n[1-2]", To: "installer", Plan: &plan})
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("commit after a concurrent once = %v, want ErrChanged", err)
	}
	if after := onceState(t, st); after != before {
		t.Errorf("a commit refused for a changed plan changed the inventory")
	}
}

func TestUseOnce(t *testing.T) {
	ctx := context.Background()
	st := newOnceStore(t)
	set, err := st.SetOnce(ctx, testActor, OnceRequest{Range: "n1", To: "installer", Reason: "reinstall"})
	must(t, err)
	n := nodeOf(t, st, "n1")
	use := OnceUse{Channel: ChannelTFTP, Client: "10.1.0.1", File: "pxelinux.cfg/01-02-00-00-01-00-01"}

	used, err := st.UseOnce(ctx, n, use)
	must(t, err)
	if !used {
		t.Fatal("first fetch did not use the once up")
	}
	after := nodeOf(t, st, "n1")
	if after.OnceCluster != "" || after.BootCluster() != "linux" || after.Cluster != "linux" {
		t.Errorf("after the once: %+v, want back to linux with nothing pending", after)
	}
	e, err := st.Event(ctx, after.Event)
	must(t, err)
	if e.Action != ActionBootOnceUsed || e.Channel != ChannelTFTP || e.Origin != "10.1.0.1" || e.Target != "installer" || e.Source != "linux" ||
		!strings.Contains(e.Result, use.File) || !strings.Contains(e.Reason, "#"+itoa(set.Event)) {
		t.Errorf("node event is %+v, want the boot-once-used entry", e)
	}
	// The same once again (a retransmitted request read the node before
	// the first fetch committed): nothing left to use.
	if used, err := st.UseOnce(ctx, n, use); err != nil || used {
		t.Errorf("second use of the same once = %v, %v; want false", used, err)
	}
	// A stale read of a once that was replaced does not use the new one.
	_, err = st.SetOnce(ctx, testActor, OnceRequest{Range: "n1", To: "windows"})
	must(t, err)
	stale := nodeOf(t, st, "n1")
	stale.OnceEvent--
	if used, err := st.UseOnce(ctx, stale, use); err != nil || used {
		t.Errorf("use of a replaced once = %v, %v; want false", used, err)
	}
	if got := nodeOf(t, st, "n1").OnceCluster; got != "windows" {
		t.Errorf("the new once is %q after a stale use, want windows", got)
	}
	evs, err := st.Log(ctx, LogFilter{Action: ActionBootOnceUsed})
	must(t, err)
	if len(evs) != 1 {
		t.Errorf("%d boot-once-used entries, want 1", len(evs))
	}
}

func itoa(i int64) string { b, _ := json.Marshal(i); return string(b) }

// TestUseOnceConcurrent: many fetches that all read the pending once race
// to use it; exactly one does, with one logbook entry.
func TestUseOnceConcurrent(t *testing.T) {
	ctx := context.Background()
	st := newOnceStore(t)
	_, err := st.SetOnce(ctx, testActor, OnceRequest{Range: "n1", To: "installer"})
	must(t, err)
	n := nodeOf(t, st, "n1")
	const fetches = 8
	var wg sync.WaitGroup
	results := make(chan bool, fetches)
	for range fetches {
		wg.Go(func() {
			used, err := st.UseOnce(ctx, n, OnceUse{Channel: ChannelHTTP, File: "grub.cfg-01-x"})
			if err != nil {
				t.Error(err)
			}
			results <- used
		})
	}
	wg.Wait()
	close(results)
	count := 0
	for u := range results {
		if u {
			count++
		}
	}
	if count != 1 {
		t.Errorf("%d of %d concurrent fetches used the once, want exactly 1", count, fetches)
	}
	evs, err := st.Log(ctx, LogFilter{Action: ActionBootOnceUsed})
	must(t, err)
	if len(evs) != 1 {
		t.Errorf("%d boot-once-used entries, want 1", len(evs))
	}
}

func TestCancelOnce(t *testing.T) {
	ctx := context.Background()
	st := newOnceStore(t)
	_, err := st.SetOnce(ctx, testActor, OnceRequest{Range: "n[1-2]", To: "installer"})
	must(t, err)
	ch, err := st.CancelOnce(ctx, testActor, CancelOnceRequest{Range: "n[1-3]", Reason: "not today"})
	must(t, err)
	if Compress(ch.Names()) != "n[1-2]" || Compress(ch.Skipped) != "n3" {
		t.Errorf("cancel changed %v skipped %v, want n[1-2] and n3", ch.Names(), ch.Skipped)
	}
	if ch.Changed[0].OnceCluster != "installer" {
		t.Errorf("Changed shows %+v, want the node as it was (once to installer)", ch.Changed[0])
	}
	for _, name := range []string{"n1", "n2"} {
		if n := nodeOf(t, st, name); n.OnceCluster != "" || n.Event != ch.Event {
			t.Errorf("%s after cancel: %+v", name, n)
		}
	}
	e, err := st.Event(ctx, ch.Event)
	must(t, err)
	if e.Action != ActionCancelOnce || e.Source != "installer" || e.Target != "linux" || e.Reason != "not today" {
		t.Errorf("logbook entry %+v", e)
	}
	if _, err := st.CancelOnce(ctx, testActor, CancelOnceRequest{Range: "n1"}); !errors.Is(err, ErrNothingToDo) {
		t.Errorf("cancel with nothing pending = %v, want ErrNothingToDo", err)
	}
}

func TestOnceShown(t *testing.T) {
	ctx := context.Background()
	st := newOnceStore(t)
	set, err := st.SetOnce(ctx, testActor, OnceRequest{Range: "n2", To: "installer"})
	must(t, err)
	_, err = st.SetMask(ctx, testActor, MaskRequest{Range: "n2", Mask: true, Reason: "wds"})
	must(t, err)
	d, err := st.Status(ctx)
	must(t, err)
	want := []OnceNode{{Name: "n2", Cluster: "installer", Home: "linux", Event: set.Event, Masked: true}}
	if len(d.Once) != 1 || d.Once[0] != want[0] {
		t.Errorf("status once = %+v, want %+v", d.Once, want)
	}
	for _, tc := range []struct {
		node, want string
	}{{"n1", `"once_cluster":null`}, {"n2", `"once_cluster":"installer"`}} {
		b, err := json.Marshal(nodeOf(t, st, tc.node))
		must(t, err)
		if !strings.Contains(string(b), tc.want) || strings.Count(string(b), "once_cluster") != 1 {
			t.Errorf("%s JSON %s, want %s once", tc.node, b, tc.want)
		}
		var back Node
		must(t, json.Unmarshal(b, &back))
		if back.OnceCluster != nodeOf(t, st, tc.node).OnceCluster {
			t.Errorf("%s JSON does not read back: %+v", tc.node, back)
		}
	}
}

func TestRemoveClusterRefusesPendingOnce(t *testing.T) {
	ctx := context.Background()
	st := newOnceStore(t)
	_, err := st.SetOnce(ctx, testActor, OnceRequest{Range: "n3", To: "installer"})
	must(t, err)
	err = st.RemoveCluster(ctx, testActor, "installer")
	if err == nil || !strings.Contains(err.Error(), "move --cancel-once n3") {
		t.Fatalf("remove of a cluster a node boots once next = %v, want a refusal naming cancel-once", err)
	}
	_, err = st.CancelOnce(ctx, testActor, CancelOnceRequest{Range: "n3"})
	must(t, err)
	must(t, st.RemoveCluster(ctx, testActor, "installer"))
}

// TestOnceGeneration: every change of a pending once, by node-switch or by
// hand, moves the generation the DHCP cache rereads on.
func TestOnceGeneration(t *testing.T) {
	ctx := context.Background()
	st := newOnceStore(t)
	steps := []struct {
		name string
		do   func() error
	}{
		{"set", func() error {
			_, err := st.SetOnce(ctx, testActor, OnceRequest{Range: "n1", To: "installer"})
			return err
		}},
		{"use", func() error {
			used, err := st.UseOnce(ctx, nodeOf(t, st, "n1"), OnceUse{Channel: ChannelTFTP})
			if err == nil && !used {
				err = errors.New("not used")
			}
			return err
		}},
		{"by hand", func() error {
			_, err := st.db.Exec(`UPDATE nodes SET once_cluster = 'installer' WHERE name = 'n2'`)
			return err
		}},
		{"cancel", func() error { _, err := st.CancelOnce(ctx, testActor, CancelOnceRequest{Range: "n2"}); return err }},
	}
	for _, s := range steps {
		before, err := st.Generation(ctx)
		must(t, err)
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if after, err := st.Generation(ctx); err != nil || after == before {
			t.Errorf("%s: generation %d -> %d (%v), want it to move", s.name, before, after, err)
		}
	}
}

// TestOnceMigratesASchema2Inventory opens an inventory of the previous
// schema: its nodes have no once pending and the new trigger works.
func TestOnceMigratesASchema2Inventory(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "inventory.db")
	db, err := sql.Open("sqlite3", "file:"+path)
	must(t, err)
	for _, q := range []string{migrations[0], migrations[1], `PRAGMA user_version = 2`,
		`INSERT INTO profiles (name, kind) VALUES ('p', 'linux')`,
		`INSERT INTO clusters (name, profile) VALUES ('c', 'p')`,
		`INSERT INTO clusters (name, profile) VALUES ('d', 'p')`,
		`INSERT INTO nodes (name, mac, ip, cluster) VALUES ('n1', '02:00:00:00:00:01', '10.0.0.1', 'c')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	db.Close()
	st, err := Open(path)
	must(t, err)
	defer st.Close()
	if n := nodeOf(t, st, "n1"); n.OnceCluster != "" || n.BootCluster() != "c" {
		t.Fatalf("migrated node %+v, want no once pending", n)
	}
	g0, err := st.Generation(ctx)
	must(t, err)
	_, err = st.db.Exec(`UPDATE nodes SET once_cluster = 'd'`)
	must(t, err)
	if g1, err := st.Generation(ctx); err != nil || g1 == g0 {
		t.Errorf("generation %d after setting a once by hand, was %d (%v)", g1, g0, err)
	}
	if _, err := st.db.Exec(`UPDATE nodes SET once_cluster = 'nosuch'`); err == nil {
		t.Errorf("a once to a cluster that does not exist was stored")
	}
}
