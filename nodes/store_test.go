package nodes

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var testActor = Actor{Name: "tester", Channel: ChannelCLI, From: "local"}

// newTestStore opens a fresh inventory with a linux and a windows cluster.
func newTestStore(t testing.TB) *Store {
	t.Helper()
	return withClusters(t, openTestStore(t))
}

// withClusters gives a new store the profiles and clusters "linux" and
// "windows".
func withClusters(t testing.TB, st *Store) *Store {
	t.Helper()
	ctx := context.Background()
	must(t, st.AddProfile(ctx, testActor, Profile{Name: "linux", Kind: KindLinux, Kernel: "vmlinuz", Initrd: "initrd.img"}))
	must(t, st.AddProfile(ctx, testActor, Profile{Name: "windows", Kind: KindLocalDisk}))
	must(t, st.AddCluster(ctx, testActor, Cluster{Name: "linux", Profile: "linux"}))
	must(t, st.AddCluster(ctx, testActor, Cluster{Name: "windows", Profile: "windows"}))
	return st
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func addNodes(t testing.TB, st *Store, prefix, cluster string, n int) {
	t.Helper()
	inv := Inventory{}
	for i := 1; i <= n; i++ {
		inv.Nodes = append(inv.Nodes, Node{
			Name:    fmt.Sprintf("%s%d", prefix, i),
			MAC:     fmt.Sprintf("02:00:00:%02x:%02x:%02x", len(prefix), i>>8, i&0xff),
			IP:      netip.AddrFrom4([4]byte{10, byte(len(prefix)), byte(i >> 8), byte(i)}),
			Cluster: cluster,
		})
	}
	if _, err := st.Import(context.Background(), testActor, inv, "test"); err != nil {
		t.Fatal(err)
	}
}

func clusterOf(t testing.TB, st *Store, name string) string {
	t.Helper()
	n, err := st.Node(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return n.Cluster
}

func TestAddNodeRejects(t *testing.T) {
	st := newTestStore(t)
	ctx := context.Background()
	ip := netip.MustParseAddr("192.168.1.18")
	_, err := st.AddNode(ctx, testActor, Node{Name: "umu18", MAC: "00:18:F3:4E:5D:59", IP: ip, Cluster: "windows"}, "")
	must(t, err)
	tests := []struct {
		name string
		node Node
		want string
	}{
		{"duplicate MAC", Node{Name: "umu19", MAC: "00-18-f3-4e-5d-59", IP: netip.MustParseAddr("192.168.1.19"), Cluster: "windows"}, "duplicate MAC 00:18:f3:4e:5d:59: already reserved for umu18"},
		{"duplicate IP", Node{Name: "umu19", MAC: "00:18:F3:4E:5D:43", IP: ip, Cluster: "windows"}, "duplicate IP 192.168.1.18: already reserved for umu18"},
		{"duplicate name", Node{Name: "umu18", MAC: "00:18:F3:4E:5D:43", IP: netip.MustParseAddr("192.168.1.19"), Cluster: "windows"}, "node umu18 already exists"},
		{"malformed MAC", Node{Name: "umu19", MAC: "00:18:F3:4E:5D", IP: netip.MustParseAddr("192.168.1.19"), Cluster: "windows"}, `malformed MAC address "00:18:F3:4E:5D"`},
		{"no IP", Node{Name: "umu19", MAC: "00:18:F3:4E:5D:43", Cluster: "windows"}, "malformed IPv4"},
		{"unknown cluster", Node{Name: "umu19", MAC: "00:18:F3:4E:5D:43", IP: netip.MustParseAddr("192.168.1.19"), Cluster: "solaris"}, `unknown cluster "solaris"`},
		{"name of a cluster", Node{Name: "linux", MAC: "00:18:F3:4E:5D:43", IP: netip.MustParseAddr("192.168.1.19"), Cluster: "linux"}, "already a cluster"},
		{"bad name", Node{Name: "-x", MAC: "00:18:F3:4E:5D:43", IP: netip.MustParseAddr("192.168.1.19"), Cluster: "linux"}, "node name"},
		{"reserved name", Node{Name: "all", MAC: "00:18:F3:4E:5D:43", IP: netip.MustParseAddr("192.168.1.19"), Cluster: "linux"}, "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := st.AddNode(ctx, testActor, tt.node, "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("AddNode error = %v, want it to contain %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.node.Name) {
				t.Errorf("error %q does not name the node %s", err, tt.node.Name)
			}
		})
	}
	ns, _ := st.Nodes(ctx, "")
	if len(ns) != 1 {
		t.Fatalf("after rejected adds: %d nodes, want 1", len(ns))
	}
	evs, _ := st.Log(ctx, LogFilter{Action: ActionNodeAdd})
	if len(evs) != 1 {
		t.Fatalf("logbook has %d node-add entries, want 1 (rejected adds are not changes)", len(evs))
	}
}

func TestRanges(t *testing.T) {
	st := newTestStore(t)
	addNodes(t, st, "umu", "linux", 23)
	ctx := context.Background()
	_, err := st.Move(ctx, testActor, MoveRequest{Range: "umu[18-19]", To: "windows"})
	must(t, err)
	tests := []struct {
		expr string
		want string
		err  string
	}{
		{expr: "umu[18-20]", want: "umu[18-20]"},
		{expr: "umu18,umu20", want: "umu[18,20]"},
		{expr: "windows", want: "umu[18-19]"},
		{expr: "windows,umu1", want: "umu[1,18-19]"},
		{expr: "all,-linux", want: "umu[18-19]"},
		{expr: "linux,-umu[1-16]", want: "umu[17,20-23]"},
		{expr: "umu[20-25]", err: "unknown node umu[24-25]"},
		{expr: "-umu1", err: "only excludes"},
		{expr: "windows,-umu[18-19]", err: "names no nodes"},
		{expr: "all,-umu99", err: "unknown node umu99"},
		{expr: "solaris", err: "unknown node solaris"},
		{expr: "umu1,umu[1-2],umu1", want: "umu[1-2]"},
		{expr: "linux,windows,-umu1", want: "umu[2-23]"},
		// More names than the expansion looks up one by one: it reads
		// every node instead, with the same answer.
		{expr: "umu[1-" + strconv.Itoa(readAllAbove+1) + "]", err: "unknown node umu[24-" + strconv.Itoa(readAllAbove+1) + "]"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			ns, err := st.Nodes(ctx, tt.expr)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Nodes(%q) error = %v, want %q", tt.expr, err, tt.err)
				}
				return
			}
			must(t, err)
			var names []string
			for _, n := range ns {
				names = append(names, n.Name)
				// The whole row, as a lookup by name gives it.
				if one, err := st.Node(ctx, n.Name); err != nil || one != n {
					t.Errorf("Nodes(%q) gave %+v, Node(%s) = %+v, %v", tt.expr, n, n.Name, one, err)
				}
			}
			if got := Compress(names); got != tt.want {
				t.Errorf("Nodes(%q) = %s, want %s", tt.expr, got, tt.want)
			}
			if !slices.IsSortedFunc(names, func(a, b string) int {
				if naturalLess(a, b) {
					return -1
				}
				return 1
			}) {
				t.Errorf("Nodes(%q) = %v, not in natural order", tt.expr, names)
			}
		})
	}
}

func TestMove(t *testing.T) {
	st := newTestStore(t)
	addNodes(t, st, "umu", "windows", 4)
	ctx := context.Background()

	ch, err := st.Move(ctx, testActor, MoveRequest{Range: "umu[1-2]", To: "linux", Reason: "script 1"})
	must(t, err)
	if got := Compress(ch.Names()); got != "umu[1-2]" || ch.From() != "windows" {
		t.Fatalf("move changed %s from %s", got, ch.From())
	}
	e, err := st.Event(ctx, ch.Event)
	must(t, err)
	if e.Action != ActionMove || e.Source != "windows" || e.Target != "linux" || e.Reason != "script 1" || e.Actor != "tester" || e.Origin != "local" {
		t.Errorf("logbook entry = %+v", e)
	}
	n, _ := st.Node(ctx, "umu1")
	if n.Cluster != "linux" || n.Event != ch.Event {
		t.Errorf("umu1 = %+v, want cluster linux event %d", n, ch.Event)
	}

	// Part already there: the rest moves, the others are reported.
	ch, err = st.Move(ctx, testActor, MoveRequest{Range: "umu[1-3]", To: "linux"})
	must(t, err)
	if Compress(ch.Names()) != "umu3" || Compress(ch.Skipped) != "umu[1-2]" {
		t.Errorf("changed %v skipped %v", ch.Names(), ch.Skipped)
	}

	// All already there: an error, and no logbook entry.
	before, _ := st.Log(ctx, LogFilter{})
	_, err = st.Move(ctx, testActor, MoveRequest{Range: "umu[1-3]", To: "linux"})
	if !errors.Is(err, ErrNothingToDo) || !strings.Contains(err.Error(), "umu[1-3] already in cluster linux") {
		t.Fatalf("no-op move error = %v", err)
	}
	// Unknown node or cluster: nothing changes.
	for _, r := range []MoveRequest{{Range: "umu4,umu9", To: "linux"}, {Range: "umu4", To: "solaris"}, {Range: "", To: "linux"}} {
		if _, err := st.Move(ctx, testActor, r); err == nil {
			t.Errorf("Move(%+v) succeeded", r)
		}
	}
	if clusterOf(t, st, "umu4") != "windows" {
		t.Error("a failed move changed umu4")
	}
	// Dry run: reports, changes nothing, logs nothing.
	ch, err = st.Move(ctx, testActor, MoveRequest{Range: "umu4", To: "linux", DryRun: true})
	must(t, err)
	if !ch.DryRun || ch.Event != 0 || clusterOf(t, st, "umu4") != "windows" {
		t.Errorf("dry run: %+v, umu4 in %s", ch, clusterOf(t, st, "umu4"))
	}
	after, _ := st.Log(ctx, LogFilter{})
	if len(after) != len(before) {
		t.Errorf("failed and dry-run moves wrote %d logbook entries", len(after)-len(before))
	}
}

func TestMaskKeepsCluster(t *testing.T) {
	st := newTestStore(t)
	addNodes(t, st, "umu", "linux", 3)
	ctx := context.Background()
	_, err := st.SetMask(ctx, testActor, MaskRequest{Range: "umu2", Mask: true, Reason: "reinstall Windows"})
	must(t, err)
	if _, err := st.SetMask(ctx, testActor, MaskRequest{Range: "umu2", Mask: true}); !errors.Is(err, ErrNothingToDo) {
		t.Errorf("mask of a masked node: %v", err)
	}
	d, err := st.Status(ctx)
	must(t, err)
	if len(d.Masked) != 1 || d.Masked[0] != "umu2" || d.MaskedDetail[0].Cluster != "linux" || d.MaskedDetail[0].Reason != "reinstall Windows" {
		t.Errorf("status masked = %+v", d.MaskedDetail)
	}
	for _, c := range d.Clusters {
		if c.Name == "linux" && c.Range != "umu[1,3]" {
			t.Errorf("linux range = %q, want umu[1,3]", c.Range)
		}
	}
	// Moving a masked node changes the cluster it returns to.
	_, err = st.Move(ctx, testActor, MoveRequest{Range: "umu2", To: "windows"})
	must(t, err)
	_, err = st.SetMask(ctx, testActor, MaskRequest{Range: "umu2"})
	must(t, err)
	n, _ := st.Node(ctx, "umu2")
	if n.Masked || n.MaskReason != "" || n.Cluster != "windows" {
		t.Errorf("after unmask: %+v", n)
	}
	evs, _ := st.Log(ctx, LogFilter{Nodes: []string{"umu2"}})
	var actions []string
	for _, e := range evs {
		actions = append(actions, string(e.Action))
	}
	if strings.Join(actions, ",") != "import,mask,move,unmask" {
		t.Errorf("umu2's logbook = %v", actions)
	}
}

func TestImportAllOrNothing(t *testing.T) {
	st := newTestStore(t)
	ctx := context.Background()
	inv := Inventory{
		Profiles: []Profile{{Name: "lab", Kind: KindLinux}},
		Clusters: []Cluster{{Name: "lab", Profile: "lab"}},
		Nodes: []Node{
			{Name: "pc1", MAC: "02:00:00:00:00:01", IP: netip.MustParseAddr("10.0.0.1"), Cluster: "lab"},
			{Name: "pc2", MAC: "02:00:00:00:00:01", IP: netip.MustParseAddr("10.0.0.2"), Cluster: "lab"},
		},
	}
	_, err := st.Import(ctx, testActor, inv, "")
	if err == nil || !strings.Contains(err.Error(), "node pc2: duplicate MAC") {
		t.Fatalf("import error = %v", err)
	}
	if _, err := st.Profile(ctx, "lab"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a failed import left profile lab behind: %v", err)
	}
	if ns, _ := st.Nodes(ctx, ""); len(ns) != 0 {
		t.Errorf("a failed import left %d nodes", len(ns))
	}
}

func TestMoveRefusesUncheckedNFSRoot(t *testing.T) {
	st := newTestStore(t)
	ctx := context.Background()
	addNodes(t, st, "pc", "windows", 2)
	_, err := st.db.Exec(`INSERT INTO nfsroots (name, server, export) VALUES ('lab', '10.0.0.1', '/srv/lab')`)
	must(t, err)
	must(t, st.AddProfile(ctx, testActor, Profile{Name: "diskless", Kind: KindNFSRoot, NFSRoot: "lab"}))
	must(t, st.AddCluster(ctx, testActor, Cluster{Name: "night", Profile: "diskless"}))

	_, err = st.Move(ctx, testActor, MoveRequest{Range: "pc[1-2]", To: "night"})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "never checked") {
		t.Fatalf("move to unchecked root: %v", err)
	}
	_, err = st.db.Exec(`UPDATE nfsroots SET checked_at = 1, check_ok = 0, check_result = 'root /srv/lab has no /sbin/init'`)
	must(t, err)
	_, err = st.Move(ctx, testActor, MoveRequest{Range: "pc[1-2]", To: "night"})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no /sbin/init") {
		t.Fatalf("move to failed root: %v", err)
	}
	if clusterOf(t, st, "pc1") != "windows" {
		t.Fatal("refused move changed pc1")
	}
	_, err = st.Move(ctx, testActor, MoveRequest{Range: "pc[1-2]", To: "night", Force: true})
	must(t, err)
}

func TestReopenMigrates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inv.db")
	st, err := Open(path)
	must(t, err)
	must(t, st.AddProfile(context.Background(), testActor, Profile{Name: "p", Kind: KindLinux, KernelARM64: "arm64/vmlinuz", InitrdARM64: "arm64/initrd.gz"}))
	st.Close()
	st, err = Open(path)
	must(t, err)
	defer st.Close()
	p, err := st.Profile(context.Background(), "p")
	if err != nil {
		t.Fatal(err)
	}
	if p.KernelARM64 != "arm64/vmlinuz" || p.InitrdARM64 != "arm64/initrd.gz" {
		t.Errorf("ARM64 kernel/initrd after reopen: %q %q", p.KernelARM64, p.InitrdARM64)
	}
	var v int
	must(t, st.db.QueryRow("PRAGMA user_version").Scan(&v))
	if v != len(migrations) {
		t.Errorf("schema version %d, want %d", v, len(migrations))
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing-dir", "inv.db")); err == nil || !strings.Contains(err.Error(), "missing-dir") {
		t.Errorf("open in a missing directory: %v", err)
	}
}

// BenchmarkMove1000 measures one move of 1,000 nodes: one transaction with
// its logbook entry (goal in README: well under 100 ms).
// BenchmarkMove1000 moves 1,000 nodes back and forth on each backend:
// go test -run '^$' -bench Move1000 ./nodes/
func BenchmarkMove1000(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			st := withClusters(b, openAt(b, be.open(b)))
			ctx := context.Background()
			addNodes(b, st, "n", "linux", 1000)
			to := []string{"windows", "linux"}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := st.Move(ctx, testActor, MoveRequest{Range: "n[1-1000]", To: to[i%2]}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
