package main

import (
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/nodestest"
)

// The reason, as a shell's $'...' hands it over.
const injectReason = "x\nDEFAULT evil\nLABEL evil\n  KERNEL ::rescue/vmlinuz\n  APPEND init=/bin/sh"

// Free text with a control character is bad input: exit 2, a message that
// names the character and where it is, and nothing changed or logged.
func TestBadTextRefused(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"move reason with line breaks", []string{"move", "umu20", "--to", "windows", "--reason", injectReason}, "reason: character U+000A (line feed) at byte 1 (character 2)"},
		{"mask reason with an escape", []string{"mask", "umu20", "--reason", "ok\x1b[2K\x1b[1A"}, "character U+001B (escape) at byte 2 (character 3)"},
		{"dry run too", []string{"move", "umu20", "--to", "windows", "--dry-run", "--reason", "a\u009bb"}, "U+009B"},
		{"reason too long", []string{"move", "umu20", "--to", "windows", "--reason", strings.Repeat("r", 1025)}, "reason is 1025 bytes long, at most 1024"},
		{"cluster description", []string{"cluster", "add", "c9", "--profile", "linux", "--description", "a\nb"}, "description: character U+000A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := sourceDB(t)
			before := mustRun(t, db, "node", "list", "--json")
			events := countEvents(t, db)
			_, errs, status := run(t, db, tt.args...)
			if status != 2 || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, stderr %q: want exit 2 and %q", status, errs, tt.want)
			}
			if after := mustRun(t, db, "node", "list", "--json"); after != before {
				t.Errorf("the nodes changed:\n%s", after)
			}
			if n := countEvents(t, db); n != events {
				t.Errorf("%d logbook entries written", n-events)
			}
		})
	}
}

// Text stored before the check (written here straight into the file) is
// printed escaped by every listing: no escape sequence or line break of it
// reaches the terminal.
func TestPrintersEscapeStoredText(t *testing.T) {
	db := sourceDB(t)
	mustRun(t, db, "mask", "umu20", "--reason", "placeholder")
	st, err := nodes.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const esc = "\x1b[2K\x1b[1A\x1b]0;owned\x07"
	nodestest.Exec(t, st, `UPDATE events SET reason = ?, actor = ?, origin = ?, result = ?`,
		injectReason+esc, "eve"+esc, "192.0.2.1\r", "done\n"+esc)
	nodestest.Exec(t, st, `UPDATE nodes SET mask_reason = ?, firmware = ? WHERE name = 'umu20'`, "m\nLABEL m"+esc, "bios"+esc)
	nodestest.Exec(t, st, `UPDATE clusters SET description = ?`, "c\tx\n"+esc)
	nodestest.Exec(t, st, `UPDATE profiles SET description = ?`, "p\u2028"+esc)
	nodestest.Exec(t, st, `INSERT INTO ssh_keys (fingerprint, public_key, role, comment, added_at) VALUES ('SHA256:abc', 'ssh-ed25519 AAAA', 'read', ?, 0)`, "me"+esc)
	nodestest.Exec(t, st, `INSERT INTO unknown_macs (mac, first_seen, last_seen, hostname, vendor_class) VALUES ('02:00:00:00:00:99', 0, 0, ?, ?)`, "h"+esc, "PXEClient\n"+esc)
	for _, args := range [][]string{
		{"log"}, {"log", "umu20"}, {"node", "list"}, {"status"}, {"cluster", "list"}, {"profile", "list"},
		{"profile", "show", "linux"}, {"ssh-key", "list"}, {"node", "unknown"}, {"render", "umu20"},
	} {
		out, errs, status := run(t, db, args...)
		if status != 0 && args[0] != "render" {
			t.Errorf("node-switch %s: exit %d: %s", strings.Join(args, " "), status, errs)
		}
		for _, s := range []string{out, errs} {
			if strings.ContainsAny(s, "\x1b\x07\r\u2028") || strings.Contains(s, "\nDEFAULT evil") || strings.Contains(s, "\nLABEL m") {
				t.Errorf("node-switch %s printed stored text raw:\n%q", strings.Join(args, " "), s)
			}
		}
	}
	if out := mustRun(t, db, "log"); !strings.Contains(out, `x\nDEFAULT evil\nLABEL evil`) || !strings.Contains(out, `\x1b[2K\x1b[1A`) {
		t.Errorf("log does not show the reason escaped:\n%s", out)
	}
}
