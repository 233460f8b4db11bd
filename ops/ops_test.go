package ops

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/nodestest"
)

// The test binary doubles as a hook: run with OPS_TEST_HOOK_DB set, it
// changes that inventory the way a site's hook (or a second operator)
// might while an operation waits for its pre-hooks.
func TestMain(m *testing.M) {
	if db := os.Getenv("OPS_TEST_HOOK_DB"); db != "" && os.Getenv("NODE_SWITCH_EVENT") != "" {
		os.Exit(actAsHook(db, os.Getenv("OPS_TEST_HOOK_DO")))
	}
	os.Exit(m.Run())
}

// hookActor is who the hook's own change is logged as: not the operation's
// actor, so the logbook tells the two apart.
var hookActor = nodes.Actor{Name: "hook", Channel: nodes.ChannelCLI, From: "local"}

func actAsHook(db, what string) int {
	if !strings.HasPrefix(os.Getenv("NODE_SWITCH_EVENT"), "pre-") {
		return 0
	}
	st, err := nodes.Open(db)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer st.Close()
	ctx := context.Background()
	switch what {
	case "move n2 to a":
		_, err = st.Move(ctx, hookActor, nodes.MoveRequest{Range: "n2", To: "a"})
	case "mask n2":
		_, err = st.SetMask(ctx, hookActor, nodes.MaskRequest{Range: "n2", Mask: true})
	case "move n1 to c":
		_, err = st.Move(ctx, hookActor, nodes.MoveRequest{Range: "n1", To: "c"})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// lab is an inventory with clusters a, b, c and nodes n1 (a), n2 (b), n3 (a).
func lab(t *testing.T) (*nodes.Store, string) {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "inventory.db")
	st, err := nodes.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	must(t, st.AddProfile(ctx, nodestest.Actor, nodes.Profile{Name: "p", Kind: nodes.KindLinux}))
	for _, c := range []string{"a", "b", "c"} {
		must(t, st.AddCluster(ctx, nodestest.Actor, nodes.Cluster{Name: c, Profile: "p"}))
	}
	for i, c := range []string{"a", "b", "a"} {
		_, err := st.AddNode(ctx, nodestest.Actor, nodes.Node{Name: fmt.Sprintf("n%d", i+1), MAC: fmt.Sprintf("02:00:00:00:00:%02x", i+1),
			IP: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 10)}), Cluster: c}, "")
		must(t, err)
	}
	return st, db
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// hookDir installs the test binary as the only hook, acting on db.
func hookDir(t *testing.T, db, what string) string {
	t.Helper()
	exe, err := os.Executable()
	must(t, err)
	dir := t.TempDir()
	// Hooks get a minimal environment, not the test's: the script itself
	// tells the test binary what to do.
	script := fmt.Sprintf("#!/bin/sh\nOPS_TEST_HOOK_DB=%s OPS_TEST_HOOK_DO=%s exec %s\n", shellQuote(db), shellQuote(what), shellQuote(exe))
	must(t, os.WriteFile(filepath.Join(dir, "10-change"), []byte(script), 0o755))
	return dir
}

// A change commits exactly the plan its pre-hooks were told, or nothing:
// a node the Slurm drain hook never saw must not move.
func TestCommitExactlyThePlan(t *testing.T) {
	tests := []struct {
		name, hook string
		run        func(o *Ops) (Report, error)
		wantDiff   string
	}{
		{"a node joins the range", "move n2 to a", func(o *Ops) (Report, error) {
			return o.Move(context.Background(), MoveRequest{Request: Request{Actor: nodestest.Actor, Range: "a"}, To: "c"})
		}, "n2 was not in the plan"},
		{"a planned node leaves for another cluster", "move n1 to c", func(o *Ops) (Report, error) {
			return o.Move(context.Background(), MoveRequest{Request: Request{Actor: nodestest.Actor, Range: "n1,n3"}, To: "b"})
		}, "n1 is now in cluster c"},
		{"a node joins a mask", "move n2 to a", func(o *Ops) (Report, error) {
			return o.Mask(context.Background(), MaskRequest{Request: Request{Actor: nodestest.Actor, Range: "a"}, Mask: true})
		}, "n2 was not in the plan"},
		{"a planned node is masked meanwhile", "mask n2", func(o *Ops) (Report, error) {
			return o.Mask(context.Background(), MaskRequest{Request: Request{Actor: nodestest.Actor, Range: "n[1-2]"}, Mask: true})
		}, "n2 would no longer change"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, db := lab(t)
			o, err := New(st, Settings{HooksDir: hookDir(t, db, tt.hook)})
			must(t, err)
			before, err := st.Nodes(context.Background(), "all")
			must(t, err)
			_, err = tt.run(o)
			if !errors.Is(err, nodes.ErrChanged) || !strings.Contains(err.Error(), tt.wantDiff) {
				t.Fatalf("err = %v; want ErrChanged naming %q", err, tt.wantDiff)
			}
			after, err := st.Nodes(context.Background(), "all")
			must(t, err)
			// Only the hook's own change may show.
			changed := 0
			for i := range before {
				if before[i].Cluster != after[i].Cluster || before[i].Masked != after[i].Masked {
					changed++
				}
			}
			if changed != 1 {
				t.Errorf("%d nodes changed, want only the hook's one:\nbefore %+v\nafter  %+v", changed, before, after)
			}
			// The logbook holds the hook's change and nothing of the
			// refused operation.
			evs, err := st.Log(context.Background(), nodes.LogFilter{})
			must(t, err)
			hooks := 0
			for _, e := range evs {
				switch {
				case e.Actor == hookActor.Name:
					hooks++
				case e.Action == nodes.ActionMove || e.Action == nodes.ActionMask || e.Action == nodes.ActionUnmask:
					t.Errorf("logbook has the refused operation's commit: %+v", e)
				}
			}
			if hooks != 1 {
				t.Errorf("logbook has %d entries of the hook, want its one change: %+v", hooks, evs)
			}
		})
	}
}

// Without interference the same path commits, and the hooks see the plan.
func TestMoveRunsHooksAroundTheCommit(t *testing.T) {
	st, _ := lab(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "seen")
	must(t, os.WriteFile(filepath.Join(dir, "10-log"), []byte("#!/bin/sh\necho \"$NODE_SWITCH_EVENT $NODE_SWITCH_NODES $NODE_SWITCH_FROM $NODE_SWITCH_TO\" >> "+out+"\n"), 0o755))
	o, err := New(st, Settings{HooksDir: dir})
	must(t, err)
	rep, err := o.Move(context.Background(), MoveRequest{Request: Request{Actor: nodestest.Actor, Range: "n[1-3]", Reason: "r"}, To: "b"})
	must(t, err)
	if strings.Join(rep.Nodes, ",") != "n1,n3" || strings.Join(rep.Skipped, ",") != "n2" || rep.From != "a" || rep.Event == 0 {
		t.Errorf("report = %+v", rep)
	}
	got, err := os.ReadFile(out)
	must(t, err)
	if want := "pre-move n1,n3 a b\npost-move n1,n3 a b\n"; string(got) != want {
		t.Errorf("hooks saw %q, want %q", got, want)
	}
}

// A move that asks for a reboot checks it can reboot before it commits.
func TestMoveChecksRebootBeforeCommit(t *testing.T) {
	st, _ := lab(t)
	ctx := context.Background()
	must(t, st.AddProfile(ctx, nodestest.Actor, nodes.Profile{Name: "win", Kind: nodes.KindLocalDisk}))
	must(t, st.AddCluster(ctx, nodestest.Actor, nodes.Cluster{Name: "windows", Profile: "win"}))
	_, err := st.Move(ctx, nodestest.Actor, nodes.MoveRequest{Range: "n3", To: "windows"})
	must(t, err)
	missing := filepath.Join(t.TempDir(), "no-such-key")
	tests := []struct {
		name, rng string
		localDisk bool
		want      string
	}{
		{"no reboot key", "n1", false, "reboot key " + missing},
		{"a node runs the local disk", "n3", false, "Pass --reboot-localdisk"},
		{"local disk allowed, still no key", "n3", true, "reboot key " + missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := New(st, Settings{HooksDir: t.TempDir(), Reboot: RebootSettings{}})
			must(t, err)
			o.settings.Reboot.KeyFile = missing
			before, _ := st.Log(ctx, nodes.LogFilter{})
			_, err = o.Move(ctx, MoveRequest{Request: Request{Actor: nodestest.Actor, Range: tt.rng}, To: "b", Reboot: true, RebootLocalDisk: tt.localDisk})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "nothing changed") {
				t.Fatalf("err = %v; want %q and 'nothing changed'", err, tt.want)
			}
			var after *AfterCommitError
			if errors.As(err, &after) {
				t.Errorf("an error after a commit: %v", err)
			}
			if evs, _ := st.Log(ctx, nodes.LogFilter{}); len(evs) != len(before) {
				t.Errorf("logbook grew from %d to %d entries", len(before), len(evs))
			}
		})
	}
}

// A relative hooks directory is resolved once: hooks run in it and are found.
func TestRelativeHooksDir(t *testing.T) {
	st, _ := lab(t)
	dir := t.TempDir()
	t.Chdir(dir)
	must(t, os.Mkdir("hk", 0o755))
	must(t, os.WriteFile(filepath.Join("hk", "10-ok"), []byte("#!/bin/sh\nexit 0\n"), 0o755))
	o, err := New(st, Settings{HooksDir: "hk"})
	must(t, err)
	if o.Settings().HooksDir != filepath.Join(dir, "hk") {
		t.Errorf("hooks dir = %q", o.Settings().HooksDir)
	}
	if _, err := o.Move(context.Background(), MoveRequest{Request: Request{Actor: nodestest.Actor, Range: "n1"}, To: "b"}); err != nil {
		t.Fatal(err)
	}
}

// A move into a cluster whose kernel is missing from the boot root is
// refused unless forced; a boot root that is not here only warns.
func TestMoveChecksTheTargetProfile(t *testing.T) {
	st, _ := lab(t)
	ctx := context.Background()
	must(t, st.AddProfile(ctx, nodestest.Actor, nodes.Profile{Name: "k", Kind: nodes.KindLinux, Kernel: "sl63/vmlinuz", Initrd: "sl63/initrd.img"}))
	must(t, st.AddCluster(ctx, nodestest.Actor, nodes.Cluster{Name: "sl63", Profile: "k"}))
	root := t.TempDir()
	tests := []struct {
		name, bootRoot string
		force          bool
		wantErr        string
		wantWarning    string
	}{
		{"kernel missing", root, false, "files missing", ""},
		{"kernel missing, forced", root, true, "", "(forced)"},
		{"no boot root here", filepath.Join(root, "none"), false, "", "boot root does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := New(st, Settings{HooksDir: t.TempDir(), BootRoot: tt.bootRoot})
			must(t, err)
			rep, err := o.Move(ctx, MoveRequest{Request: Request{Actor: nodestest.Actor, Range: "n2"}, To: "sl63", Force: tt.force, DryRun: true})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, nodes.ErrRefused) {
					t.Fatalf("err = %v; want %q, refused", err, tt.wantErr)
				}
				return
			}
			must(t, err)
			if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], tt.wantWarning) {
				t.Errorf("warnings = %q; want %q", rep.Warnings, tt.wantWarning)
			}
		})
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
