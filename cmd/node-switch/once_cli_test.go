package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/sshfront"
)

// move --once and --cancel-once from the command line, and where a pending
// once shows: status, node list (text and JSON), render.
func TestMoveOnceCLI(t *testing.T) {
	db := sourceDB(t)
	mustRun(t, db, "profile", "set", "linux", "--kernel", "vmlinuz", "--initrd", "initrd.img")
	steps := []struct {
		args   []string
		status int
		out    string // in stdout (or stderr when the status is not 0)
	}{
		{[]string{"move", "umu18", "--to", "linux", "--once", "--reason", "firmware update", "--json"}, exitOK, `"action": "move-once"`},
		{[]string{"status"}, exitOK, "umu18  → linux  then windows"},
		{[]string{"node", "list", "umu18"}, exitOK, "windows  linux"},
		{[]string{"render", "umu18"}, exitOK, "# boot once: this boot only, later boots go to cluster windows"},
		{[]string{"render", "umu18"}, exitOK, "cluster linux"},
		{[]string{"move", "umu18", "--to", "linux", "--once"}, exitFailed, "already in cluster linux or booting it once"},
		{[]string{"move", "umu20", "--to", "windows", "--once"}, exitUsage, "no boot file"},
		{[]string{"move", "umu18", "--cancel-once", "--to", "linux"}, exitUsage, "--to makes no sense"},
		{[]string{"move", "umu18"}, exitUsage, `"to" not set`},
		{[]string{"move", "umu18", "--cancel-once", "--reason", "not today"}, exitOK, "cancelled the boot once of umu18 (to linux): their next boot goes to windows"},
		{[]string{"move", "umu18", "--cancel-once"}, exitFailed, "no boot once pending"},
		{[]string{"log", "umu18", "--action", "cancel-once"}, exitOK, "not today"},
	}
	for _, s := range steps {
		out, errs, st := run(t, db, s.args...)
		if st != exitOK {
			out = errs
		}
		if st != s.status || !strings.Contains(out, s.out) {
			t.Errorf("node-switch %s: exit %d, want %d; output lacks %q:\n%s", strings.Join(s.args, " "), st, s.status, s.out, out)
		}
	}
	var ns []map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, db, "node", "list", "umu[18-19]", "--json")), &ns); err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if v, ok := n["once_cluster"]; !ok || v != nil {
			t.Errorf("node list --json: %v, want once_cluster null", n)
		}
	}
}

// The SSH allowlist lets an operate key ask for and cancel a once.
func TestSSHPolicyOnce(t *testing.T) {
	p, err := sshPolicy()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		line, role string
		ok         bool
	}{
		{"move umu18 --to installer --once --reboot --reason x --json", nodes.RoleOperate, true},
		{"move umu18 --cancel-once --reason x", nodes.RoleOperate, true},
		{"move umu18 --to installer --once", nodes.RoleRead, false},
		{"move umu18 --cancel-once", nodes.RoleRead, false},
	}
	for _, tc := range tests {
		words, err := sshfront.Split(tc.line)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Check(words, tc.role); (err == nil) != tc.ok {
			t.Errorf("%q as %s: %v, want allowed %v", tc.line, tc.role, err, tc.ok)
		}
	}
}
