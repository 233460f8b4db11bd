package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/ops"
)

// TestSyncTimeout: --sync-timeout bounds a change's wait for the boot
// servers; a server still behind is named on stderr and in the JSON, and
// the change stands (exit 0); 0 does not wait; a negative bound is bad
// usage that changes nothing.
func TestSyncTimeout(t *testing.T) {
	db := sourceDB(t)
	st, err := nodes.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	gen, err := st.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A live server that never follows (it beats every hour).
	if err := st.JoinServers(time.Hour).Record(ctx, gen); err != nil {
		t.Fatal(err)
	}
	all, err := st.BootServers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stuck := all[0].String()
	for _, tc := range []struct {
		args   []string
		status int
		stderr string // "" = nothing on stderr; with --json, in the report's warnings
		behind bool
	}{
		{[]string{"move", "umu18", "--to", "linux", "--sync-timeout", "-1s"}, 2, "--sync-timeout -1s: want a duration such as 2s, or 0 not to wait", false},
		{[]string{"mask", "umu18", "--sync-timeout=-2s"}, 2, "--sync-timeout -2s", false},
		{[]string{"move", "umu18", "--to", "linux", "--sync-timeout", "50ms"}, 0, "warning: after 50ms, boot servers still answer from before this change: " + stuck, true},
		{[]string{"mask", "umu18", "--sync-timeout", "0", "--json"}, 0, "", false},
		{[]string{"unmask", "umu18", "--sync-timeout", "50ms", "--json"}, 0, "after 50ms, boot servers still answer from before this change: " + stuck, true},
	} {
		out, errs, status := run(t, db, tc.args...)
		name := strings.Join(tc.args, " ")
		var rep ops.Report
		isJSON := strings.Contains(name, "--json")
		if isJSON && status == 0 {
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("%s: %v\n%s", name, err, out)
			}
			errs += strings.Join(rep.Warnings, "\n")
		}
		if status != tc.status || (tc.stderr == "") != (errs == "") || !strings.Contains(errs, tc.stderr) {
			t.Errorf("%s: exit %d, stderr or warnings %q; want exit %d and %q", name, status, errs, tc.status, tc.stderr)
		}
		if !isJSON || status != 0 {
			continue
		}
		if got := strings.Join(rep.Lagging, ","); (got == stuck) != tc.behind || (!tc.behind && got != "") {
			t.Errorf("%s: lagging %q, want %s: %v", name, got, stuck, tc.behind)
		}
	}
	// The refused commands changed nothing: umu18 moved once (to linux)
	// and was masked and unmasked once each.
	evs, err := st.Log(ctx, nodes.LogFilter{Nodes: []string{"umu18"}, Since: time.Unix(1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var acts []string
	for _, e := range evs {
		if e.Action != nodes.ActionImport {
			acts = append(acts, string(e.Action))
		}
	}
	if got := strings.Join(acts, " "); got != "move servers-behind mask unmask servers-behind" {
		t.Errorf("umu18's logbook: %s", got)
	}
}
