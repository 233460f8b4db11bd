package sshfront

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		line    string
		want    []string
		wantErr string
	}{
		{line: "status --json", want: []string{"status", "--json"}},
		{line: "  node   list\t--json  ", want: []string{"node", "list", "--json"}},
		{line: `move umu[18-19] --to linux --reason "nightly lab conversion"`, want: []string{"move", "umu[18-19]", "--to", "linux", "--reason", "nightly lab conversion"}},
		{line: `move n1 --to linux --reason 'it''s fine'`, want: []string{"move", "n1", "--to", "linux", "--reason", "its fine"}},
		{line: `move n1 --reason "say \"hi\" \\ \$x"`, want: []string{"move", "n1", "--reason", `say "hi" \ $x`}},
		{line: `move n1 --reason "keep \n as is"`, want: []string{"move", "n1", "--reason", `keep \n as is`}},
		{line: `a\ b c`, want: []string{"a b", "c"}},
		{line: `''`, want: []string{""}},
		{line: "", want: nil},
		{line: "status\r\n", want: []string{"status"}},
		{line: "status; rm -rf /", wantErr: "no shell"},
		{line: "status | cat", wantErr: "no shell"},
		{line: "status && reboot all", wantErr: "no shell"},
		{line: "log > /etc/passwd", wantErr: "no shell"},
		{line: "move $(cat x)", wantErr: "no shell"},
		{line: "move `id`", wantErr: "no shell"},
		{line: `status "unterminated`, wantErr: "unbalanced double"},
		{line: `status 'unterminated`, wantErr: "unbalanced single"},
		{line: `status \`, wantErr: "lone backslash"},
		{line: "status\x00", wantErr: "NUL"},
		{line: strings.Repeat("a", MaxCommandLen+1), wantErr: "bytes"},
		{line: strings.Repeat("a ", MaxWords+1), wantErr: "words"},
	}
	for _, tc := range tests {
		got, err := Split(tc.line)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Split(%.40q) = %q, %v; want error containing %q", tc.line, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
}

// testPolicy is a policy shaped like the CLI's (which derives the real one
// from its command definitions and tests it against them).
var testPolicy = Policy{
	Commands: map[string]Command{
		"status":      {Role: nodes.RoleRead, Flags: map[string]Flag{"json": {Role: nodes.RoleRead}}},
		"node list":   {Role: nodes.RoleRead, Flags: map[string]Flag{"json": {Role: nodes.RoleRead}}},
		"log":         {Role: nodes.RoleRead, Flags: map[string]Flag{"since": {Role: nodes.RoleRead, TakesValue: true}}},
		"ssh hostkey": {Role: nodes.RoleRead, Flags: map[string]Flag{"ssh-host-key": {TakesValue: true}}},
		"move": {Role: nodes.RoleOperate, Flags: map[string]Flag{
			"to": {Role: nodes.RoleOperate, TakesValue: true}, "reason": {Role: nodes.RoleOperate, TakesValue: true},
			"json": {Role: nodes.RoleOperate}, "reboot-key": {TakesValue: true}}},
		"mask":     {Role: nodes.RoleOperate, Flags: map[string]Flag{"reason": {Role: nodes.RoleOperate, TakesValue: true}}},
		"reboot":   {Role: nodes.RoleOperate, Flags: map[string]Flag{"reboot-command": {TakesValue: true}, "force": {Role: nodes.RoleOperate}}},
		"power on": {Role: nodes.RoleOperate, Flags: map[string]Flag{}},
	},
	Global: map[string]Flag{"db": {TakesValue: true}, "hooks-dir": {TakesValue: true}, "channel": {TakesValue: true}},
}

func TestCheck(t *testing.T) {
	r, o := nodes.RoleRead, nodes.RoleOperate
	tests := []struct {
		words      string
		role       string
		path       string
		wantErr    string
		notAllowed bool
	}{
		{"status --json", r, "status", "", false},
		{"node list --json", r, "node list", "", false},
		{"log umu[18-19] --since 24h", r, "log", "", false},
		{"ssh hostkey", r, "ssh hostkey", "", false},
		{"move n1 --to linux", r, "", "needs a key with role operate", true},
		{"mask n1", r, "", "needs a key with role operate", true},
		{"move n1 --to linux", o, "move", "", false},
		{"move n1 --to=linux --reason=x", o, "move", "", false},
		{"move linux,-n1 -n2 --to windows", o, "move", "", false},
		{"move n1 --to linux -- --db", o, "move", "", false},
		{"move n1 --reason --json --to linux", o, "move", "", false},
		{"power on n1", o, "power on", "", false},
		{"status", "", "", "not read or operate", true},
		{"", o, "", "no command", false},
		{"serve", o, "", "not available over SSH", true},
		{"import dhcpd /etc/dhcp/dhcpd.conf", o, "", "not available over SSH", true},
		{"help", o, "", "not available over SSH", true},
		{"sh -c id", o, "", "not available over SSH", true},
		{"--db /tmp/other.db status", o, "", "global flags", true},
		{"status --db /tmp/other.db", o, "", "not accepted over SSH", true},
		{"status -db=/tmp/other.db", o, "", "not accepted over SSH", true},
		{"move n1 --to linux --hooks-dir=/tmp", o, "", "not accepted over SSH", true},
		{"move n1 --to linux --reboot-key /etc/shadow", o, "", "--reboot-key is not accepted over SSH", true},
		{"reboot n1 --reboot-command=id", o, "", "not accepted over SSH", true},
		{"ssh hostkey --ssh-host-key /root/.ssh/id_rsa", r, "", "not accepted over SSH", true},
		{"status --channel timer", r, "", "not accepted over SSH", true},
		{"move n1 --to linux --resaon x", o, "", "unknown flag --resaon", false},
		{"status --bogus", r, "", "unknown flag --bogus", false},
	}
	for _, tc := range tests {
		path, err := testPolicy.Check(strings.Fields(tc.words), tc.role)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errors.Is(err, ErrNotAllowed) != tc.notAllowed {
				t.Errorf("Check(%q, %s) = %q, %v; want error containing %q (not allowed: %v)", tc.words, tc.role, path, err, tc.wantErr, tc.notAllowed)
			}
			continue
		}
		if err != nil || path != tc.path {
			t.Errorf("Check(%q, %s) = %q, %v; want %q", tc.words, tc.role, path, err, tc.path)
		}
	}
}

// FuzzSplitCheck: no input panics; an accepted line always names a command
// the role may run, never carries a refused flag, and splitting is stable
// (re-quoting the words and splitting again gives the same words).
func FuzzSplitCheck(f *testing.F) {
	for _, s := range []string{
		"status --json", `move umu[18-19] --to linux --reason "x y"`, "node list", "--db x status",
		"reboot n1 --reboot-command='id'", `a\ b 'c' "d\"e"`, "status; id", "power on n[1-3]", "\x00", `"`,
	} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, line string, operate bool) {
		role := nodes.RoleRead
		if operate {
			role = nodes.RoleOperate
		}
		words, err := Split(line)
		if err != nil {
			return
		}
		if len(words) > MaxWords {
			t.Fatalf("Split(%q) gave %d words", line, len(words))
		}
		requoted := make([]string, len(words))
		for i, w := range words {
			requoted[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
		again, err := Split(strings.Join(requoted, " "))
		if err == nil && !slices.Equal(again, words) {
			t.Fatalf("re-split of %q = %q, want %q", line, again, words)
		}
		path, err := testPolicy.Check(words, role)
		if err != nil {
			return
		}
		if aerr := testPolicy.Allowed(path, role); aerr != nil {
			t.Fatalf("Check accepted %q as %q but Allowed refuses: %v", line, path, aerr)
		}
		if !strings.HasPrefix(strings.Join(words, " "), path) {
			t.Fatalf("Check(%q) = %q, not the command's first words", line, path)
		}
		cmd := testPolicy.Commands[path]
		refused := map[string]bool{"db": true, "hooks-dir": true, "channel": true, "reboot-key": true, "reboot-command": true, "ssh-host-key": true}
		prevTakesValue := false
		for _, w := range words[1:] {
			if w == "--" {
				break
			}
			name, _, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
			if strings.HasPrefix(w, "-") && refused[name] && !prevTakesValue {
				t.Fatalf("Check accepted refused flag %q in %q", w, line)
			}
			f, ok := cmd.Flags[name]
			prevTakesValue = !prevTakesValue && strings.HasPrefix(w, "-") && ok && f.TakesValue && !hasValue
		}
		if cmd.Role == nodes.RoleOperate && role != nodes.RoleOperate {
			t.Fatalf("read key accepted for %q", path)
		}
	})
}
