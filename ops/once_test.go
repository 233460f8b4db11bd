package ops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/nodestest"
)

// A once goes through the move hooks, told it is a once, and leaves the
// nodes in their cluster with the once pending.
func TestMoveOnceRunsMoveHooks(t *testing.T) {
	st, _ := lab(t)
	ctx := context.Background()
	dir := t.TempDir()
	out := filepath.Join(dir, "seen")
	must(t, os.WriteFile(filepath.Join(dir, "10-log"), []byte("#!/bin/sh\necho \"$NODE_SWITCH_EVENT $NODE_SWITCH_NODES $NODE_SWITCH_FROM $NODE_SWITCH_TO once=$NODE_SWITCH_ONCE\" >> "+out+"\n"), 0o755))
	o, err := New(st, Settings{HooksDir: dir})
	must(t, err)
	rep, err := o.Move(ctx, MoveRequest{Request: Request{Actor: nodestest.Actor, Range: "n[1-3]", Reason: "reinstall"}, To: "b", Once: true})
	must(t, err)
	if rep.Action != nodes.ActionMoveOnce || strings.Join(rep.Nodes, ",") != "n1,n3" || strings.Join(rep.Skipped, ",") != "n2" || rep.From != "a" || rep.To != "b" {
		t.Errorf("report = %+v", rep)
	}
	got, err := os.ReadFile(out)
	must(t, err)
	if want := "pre-move n1,n3 a b once=1\npost-move n1,n3 a b once=1\n"; string(got) != want {
		t.Errorf("hooks saw %q, want %q", got, want)
	}
	for _, name := range []string{"n1", "n3"} {
		n, err := st.Node(ctx, name)
		must(t, err)
		if n.Cluster != "a" || n.OnceCluster != "b" || n.OnceEvent != rep.Event {
			t.Errorf("%s = %+v, want cluster a with a once to b (event %d)", name, n, rep.Event)
		}
	}
	// A plain move's hooks are told it is none.
	must(t, os.Remove(out))
	_, err = o.Move(ctx, MoveRequest{Request: Request{Actor: nodestest.Actor, Range: "n2"}, To: "c"})
	must(t, err)
	if got, _ := os.ReadFile(out); !strings.HasSuffix(string(got), "once=\n") {
		t.Errorf("a plain move's hooks saw %q, want once= empty", got)
	}

	rep, err = o.CancelOnce(ctx, CancelOnceRequest{Request: Request{Actor: nodestest.Actor, Range: "n[1-2]", Reason: "not today"}})
	must(t, err)
	if rep.Action != nodes.ActionCancelOnce || strings.Join(rep.Nodes, ",") != "n1" || strings.Join(rep.Skipped, ",") != "n2" || rep.From != "b" || rep.To != "a" {
		t.Errorf("cancel report = %+v", rep)
	}
	if n, _ := st.Node(ctx, "n1"); n.OnceCluster != "" {
		t.Errorf("n1 after cancel: %+v", n)
	}
}

// A once commits exactly its plan, like a move.
func TestMoveOnceCommitsExactlyThePlan(t *testing.T) {
	st, db := lab(t)
	ctx := context.Background()
	o, err := New(st, Settings{HooksDir: hookDir(t, db, "move n2 to a")})
	must(t, err)
	_, err = o.Move(ctx, MoveRequest{Request: Request{Actor: nodestest.Actor, Range: "a"}, To: "c", Once: true})
	if !errors.Is(err, nodes.ErrChanged) || !strings.Contains(err.Error(), "n2 was not in the plan") {
		t.Fatalf("err = %v; want ErrChanged naming n2", err)
	}
	ns, err := st.Nodes(ctx, "all")
	must(t, err)
	for _, n := range ns {
		if n.OnceCluster != "" {
			t.Errorf("%s has a once after a refused commit: %+v", n.Name, n)
		}
	}
}

// A once into a cluster that sends some firmware no boot file could never
// end: refused as bad input, nothing changed.
func TestMoveOnceRefusesATargetWithoutBootFile(t *testing.T) {
	st, _ := lab(t)
	ctx := context.Background()
	must(t, st.AddProfile(ctx, nodestest.Actor, nodes.Profile{Name: "win", Kind: nodes.KindLocalDisk}))
	must(t, st.AddCluster(ctx, nodestest.Actor, nodes.Cluster{Name: "windows", Profile: "win"}))
	must(t, st.AddProfile(ctx, nodestest.Actor, nodes.Profile{Name: "win-exit", Kind: nodes.KindLocalDisk, UEFILocalBoot: "exit"}))
	must(t, st.AddCluster(ctx, nodestest.Actor, nodes.Cluster{Name: "windows-exit", Profile: "win-exit"}))
	must(t, st.AddProfile(ctx, nodestest.Actor, nodes.Profile{Name: "noipxe", Kind: nodes.KindLinux, BootFiles: map[string]string{nodes.BootIPXE: ""}}))
	must(t, st.AddCluster(ctx, nodestest.Actor, nodes.Cluster{Name: "noipxe", Profile: "noipxe"}))
	o, err := New(st, Settings{HooksDir: t.TempDir()})
	must(t, err)
	tests := []struct {
		cluster, want string
	}{
		{"windows", "sends uefi firmware no boot file"},
		{"noipxe", "(iPXE) firmware no boot file"},
		{"windows-exit", ""},
	}
	for _, tt := range tests {
		t.Run(tt.cluster, func(t *testing.T) {
			before, _ := st.Log(ctx, nodes.LogFilter{})
			_, err := o.Move(ctx, MoveRequest{Request: Request{Actor: nodestest.Actor, Range: "n1"}, To: tt.cluster, Once: true})
			if tt.want == "" {
				must(t, err)
				return
			}
			if !errors.Is(err, nodes.ErrInvalid) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "nothing changed") {
				t.Fatalf("err = %v; want invalid input naming %q", err, tt.want)
			}
			if after, _ := st.Log(ctx, nodes.LogFilter{}); len(after) != len(before) {
				t.Errorf("logbook grew from %d to %d", len(before), len(after))
			}
			if n, _ := st.Node(ctx, "n1"); n.OnceCluster != "" {
				t.Errorf("n1 = %+v after a refusal", n)
			}
		})
	}
}

// A node whose once is still pending runs its own cluster: the reboot
// check judges that, not where the next boot goes.
func TestRebootJudgesTheRunningCluster(t *testing.T) {
	st, _ := lab(t)
	ctx := context.Background()
	must(t, st.AddProfile(ctx, nodestest.Actor, nodes.Profile{Name: "win", Kind: nodes.KindLocalDisk}))
	must(t, st.AddCluster(ctx, nodestest.Actor, nodes.Cluster{Name: "windows", Profile: "win"}))
	_, err := st.Move(ctx, nodestest.Actor, nodes.MoveRequest{Range: "n3", To: "windows"})
	must(t, err)
	o, err := New(st, Settings{HooksDir: t.TempDir()})
	must(t, err)
	o.settings.Reboot.KeyFile = filepath.Join(t.TempDir(), "no-such-key")
	_, err = o.Move(ctx, MoveRequest{Request: Request{Actor: nodestest.Actor, Range: "n3"}, To: "b", Once: true})
	must(t, err)
	_, err = o.Reboot(ctx, RebootRequest{Request: Request{Actor: nodestest.Actor, Range: "n3"}})
	if err == nil || !strings.Contains(err.Error(), "boot the local disk (cluster windows)") {
		t.Fatalf("reboot of a Windows node with a once to linux pending = %v; want the local-disk refusal", err)
	}
}
