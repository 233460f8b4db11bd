package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/pgtest"
)

// TestMigrateDB copies the source system's imported inventory (with a move
// and a mask in its logbook) into PostgreSQL; the CLI then shows the same
// status and the same logbook against either, and a second copy is refused
// (exit 2) unless --force.
func TestMigrateDB(t *testing.T) {
	sqlite := sourceDB(t)
	mustRun(t, sqlite, "move", "umu[18-19]", "--to", "linux", "--reason", "before the copy")
	mustRun(t, sqlite, "mask", "umu20", "--reason", "before the copy")
	pg := pgtest.Start(t).NewDB(t)

	out := mustRun(t, sqlite, "migrate-db", "--from", sqlite, "--to", pg)
	for _, want := range []string{"nodes ", "events ", "verified every table"} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate-db output lacks %q:\n%s", want, out)
		}
	}
	for _, args := range [][]string{{"status", "--json"}, {"node", "list", "--json"}, {"subnet", "list", "--json"}, {"profile", "list", "--json"}} {
		if a, b := mustRun(t, sqlite, args...), mustRun(t, pg, args...); a != b {
			t.Errorf("%s differs after the copy:\nsqlite   %s\npostgres %s", strings.Join(args, " "), a, b)
		}
	}
	var logA, logB []nodes.Event
	json.Unmarshal([]byte(mustRun(t, sqlite, "log", "--json")), &logA)
	json.Unmarshal([]byte(mustRun(t, pg, "log", "--json")), &logB)
	if len(logA) < 3 || len(logB) != len(logA)+1 || !reflect.DeepEqual(logA, logB[:len(logA)]) || logB[len(logA)].Action != nodes.ActionInventoryCopy {
		t.Errorf("PostgreSQL logbook is not the SQLite one plus the copy's entry:\nsqlite   %+v\npostgres %+v", logA, logB)
	}

	mustRun(t, pg, "move", "umu18", "--to", "windows", "--reason", "after the copy")
	_, errs, st := run(t, sqlite, "migrate-db", "--from", sqlite, "--to", pg)
	if st != exitUsage || !strings.Contains(errs, "--force") {
		t.Errorf("copy into a non-empty database: exit %d, %s; want exit %d naming --force", st, errs, exitUsage)
	}
	if !strings.Contains(mustRun(t, pg, "log"), "after the copy") {
		t.Error("the refused copy changed the target")
	}
	mustRun(t, sqlite, "migrate-db", "--from", sqlite, "--to", pg, "--force")
	if strings.Contains(mustRun(t, pg, "log"), "after the copy") {
		t.Error("--force did not replace the target's contents")
	}
	for _, tc := range []struct{ from, to, want string }{
		{pg, pg, "SQLite inventory file"},
		{sqlite, sqlite, "postgres:// URL"},
		{sqlite + ".missing", pg, "no such file"},
	} {
		_, errs, st := run(t, sqlite, "migrate-db", "--from", tc.from, "--to", tc.to)
		if st != exitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("migrate-db --from %s --to %s: exit %d, %s; want exit %d saying %q", tc.from, tc.to, st, errs, exitUsage, tc.want)
		}
	}
}
