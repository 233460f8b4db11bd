package ops

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/nodestest"
)

// TestChangeWaitsForBootServers: a change waits for every live boot server
// to record its generation; one that never does (a server that stopped
// following) is named, after the bound, in the report and in the logbook,
// and the change stands. With the wait turned off nothing is waited for or
// logged; with no server behind nothing is said.
func TestChangeWaitsForBootServers(t *testing.T) {
	ctx := context.Background()
	st, _ := lab(t)
	o, err := New(st, Settings{HooksDir: t.TempDir()})
	must(t, err)
	req := func(rng string, sync time.Duration) Request {
		return Request{Actor: nodestest.Actor, Range: rng, Reason: "test", SyncTimeout: sync}
	}
	gen, err := st.Generation(ctx)
	must(t, err)
	// A live server (beats every hour) stuck at the generation before
	// every change below.
	stuck := st.JoinServers(time.Hour)
	must(t, stuck.Record(ctx, gen))
	all, err := st.BootServers(ctx)
	must(t, err)
	name := all[0].String()

	for _, tc := range []struct {
		name   string
		run    func() (Report, error)
		behind bool
	}{
		{"move, short bound", func() (Report, error) {
			return o.Move(ctx, MoveRequest{Request: req("n1", 20*time.Millisecond), To: "b"})
		}, true},
		{"mask, short bound", func() (Report, error) {
			return o.Mask(ctx, MaskRequest{Request: req("n1", 20*time.Millisecond), Mask: true})
		}, true},
		{"unmask, no wait", func() (Report, error) { return o.Mask(ctx, MaskRequest{Request: req("n1", -1), Mask: false}) }, false},
		{"move once, no wait", func() (Report, error) {
			return o.Move(ctx, MoveRequest{Request: req("n3", -1), To: "c", Once: true})
		}, false},
		{"cancel once, short bound", func() (Report, error) {
			return o.CancelOnce(ctx, CancelOnceRequest{Request: req("n3", 20*time.Millisecond)})
		}, true},
	} {
		before, err := st.Log(ctx, nodes.LogFilter{Action: nodes.ActionServersBehind})
		must(t, err)
		rep, err := tc.run()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		after, err := st.Log(ctx, nodes.LogFilter{Action: nodes.ActionServersBehind})
		must(t, err)
		said := slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, name) })
		if !tc.behind {
			if len(rep.Lagging) > 0 || said || len(after) != len(before) {
				t.Errorf("%s: lagging %v, warnings %q, %d logbook entries: want none (no wait)", tc.name, rep.Lagging, rep.Warnings, len(after)-len(before))
			}
			continue
		}
		if !slices.Equal(rep.Lagging, []string{name}) || !said {
			t.Errorf("%s: lagging %v, warnings %q; want %s named", tc.name, rep.Lagging, rep.Warnings, name)
		}
		if len(after) != len(before)+1 {
			t.Fatalf("%s: %d servers-behind entries in the logbook, want 1", tc.name, len(after)-len(before))
		}
		e := after[len(after)-1]
		if !strings.Contains(e.Reason, fmt.Sprintf("#%d", rep.Event)) || !strings.Contains(e.Result, name) || !slices.Equal(e.Nodes, rep.Nodes) {
			t.Errorf("%s: logbook entry %+v: want the change's #%d, its nodes %v and %s", tc.name, e, rep.Event, rep.Nodes, name)
		}
	}

	// Caught up (or gone), nothing is said, whatever the bound.
	gen, err = st.Generation(ctx)
	must(t, err)
	must(t, stuck.Record(ctx, gen+1000)) // ahead of the move below
	rep, err := o.Move(ctx, MoveRequest{Request: req("n1", time.Minute), To: "a"})
	must(t, err)
	if len(rep.Lagging) > 0 || len(rep.Warnings) > 0 {
		t.Errorf("with every server caught up: lagging %v, warnings %q", rep.Lagging, rep.Warnings)
	}
	n, err := st.Node(ctx, "n1")
	must(t, err)
	if n.Cluster != "a" {
		t.Errorf("n1 in %s after the move, want a", n.Cluster)
	}
}
