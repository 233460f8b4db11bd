package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/web"
)

// TestWebUserToken: token add prints the token alone on standard output
// and once; list and the logbook show its id, never the token; bad input
// exits 2 and changes nothing; rm revokes it.
func TestWebUserToken(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "inventory.db")
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, db, "web-user", "add", "alice", "--role", "read", "--password-file", pw)

	out, errs, st := run(t, db, "web-user", "token", "add", "alice", "--expires", "30d", "--comment", "grafana")
	if st != 0 || !regexp.MustCompile(`^nst_[A-Za-z0-9_-]{43}\n$`).MatchString(out) {
		t.Fatalf("token add: exit %d, stdout %q, stderr %q", st, out, errs)
	}
	token := strings.TrimSpace(out)
	id := web.TokenHash(token)[:12]
	if !strings.Contains(errs, "added API token "+id+" for web user alice") {
		t.Fatalf("token add said %q", errs)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"web-user", "token", "add", "mallory"}, "not found"},
		{[]string{"web-user", "token", "add", "alice", "--expires", "0d"}, "want a lifetime"},
		{[]string{"web-user", "token", "add", "alice", "--expires", "-1h"}, "want a lifetime"},
		{[]string{"web-user", "token", "add", "alice", "--comment", "two\nlines"}, "one line"},
		{[]string{"web-user", "token", "add"}, "want exactly one"},
		{[]string{"web-user", "token", "list", "mallory"}, "not found"},
		{[]string{"web-user", "token", "rm", "alice"}, "want a user name and a token id"},
		{[]string{"web-user", "token", "rm", "alice", "000000000000"}, "not found"},
	} {
		before := countEvents(t, db)
		_, errs, st := run(t, db, tc.args...)
		if st != exitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, %q; want %d with %q", strings.Join(tc.args, " "), st, errs, exitUsage, tc.want)
		}
		if countEvents(t, db) != before {
			t.Errorf("%s: the logbook changed", strings.Join(tc.args, " "))
		}
	}

	list := mustRun(t, db, "web-user", "token", "list", "alice")
	if !strings.Contains(list, id) || !strings.Contains(list, "grafana") {
		t.Fatalf("token list:\n%s", list)
	}
	var ts []nodes.WebToken
	if err := json.Unmarshal([]byte(mustRun(t, db, "web-user", "token", "list", "alice", "--json")), &ts); err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || ts[0].ID != id || ts[0].ExpiresAt.Sub(ts[0].CreatedAt).Hours() != 30*24 {
		t.Fatalf("token list --json: %+v", ts)
	}
	if out := mustRun(t, db, "web-user", "token", "rm", "alice", id); !strings.Contains(out, "revoked API token "+id) {
		t.Fatalf("token rm: %q", out)
	}
	if out := mustRun(t, db, "web-user", "token", "list", "alice", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("after rm: %s", out)
	}
	logbook := mustRun(t, db, "log", "--json")
	if strings.Contains(logbook, token) || strings.Contains(logbook, web.TokenHash(token)) || strings.Count(logbook, id) != 2 {
		t.Fatalf("logbook (want the id in the add and the rm, never the token or its hash):\n%s", logbook)
	}
}
