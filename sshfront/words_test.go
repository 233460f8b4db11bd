package sshfront

import (
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

func TestCheck(t *testing.T) {
	r, o := nodes.RoleRead, nodes.RoleOperate
	tests := []struct {
		words   string
		role    string
		path    string
		wantErr string
	}{
		{"status --json", r, "status", ""},
		{"node list --json", r, "node list", ""},
		{"log umu[18-19]", r, "log", ""},
		{"ssh hostkey", r, "ssh hostkey", ""},
		{"move n1 --to linux", r, "", "needs a key with role operate"},
		{"mask n1", r, "", "needs a key with role operate"},
		{"reboot n1", r, "", "needs a key with role operate"},
		{"move n1 --to linux", o, "move", ""},
		{"power on n1", o, "power on", ""},
		{"status", "", "", "not read or operate"},
		{"", o, "", "no command"},
		{"serve", o, "", "not available over SSH"},
		{"import dhcpd /etc/dhcp/dhcpd.conf", o, "", "not available over SSH"},
		{"ssh-key add /tmp/k.pub --role operate", o, "", "not available over SSH"},
		{"ssh-key rm SHA256:x", o, "", "not available over SSH"},
		{"node add x --mac 1 --ip 2", o, "", "not available over SSH"},
		{"node rm x", o, "", "not available over SSH"},
		{"help", o, "", "not available over SSH"},
		{"sh -c id", o, "", "not available over SSH"},
		{"--db /tmp/other.db status", o, "", "global flags"},
		{"status --db /tmp/other.db", o, "", "not accepted over SSH"},
		{"status -db=/tmp/other.db", o, "", "not accepted over SSH"},
		{"move n1 --to linux --hooks-dir=/tmp", o, "", "not accepted over SSH"},
		{"reboot n1 --reboot-command=id", o, "", "not accepted over SSH"},
		{"reboot n1 --reboot-key /etc/shadow", o, "", "not accepted over SSH"},
		{"reboot n1 --known-hosts /dev/null", o, "", "not accepted over SSH"},
		{"ssh hostkey --ssh-host-key /root/.ssh/id_rsa", r, "", "not accepted over SSH"},
		{"status --channel timer", r, "", "not accepted over SSH"},
	}
	for _, tc := range tests {
		path, err := Check(strings.Fields(tc.words), tc.role)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Check(%q, %s) = %q, %v; want error containing %q", tc.words, tc.role, path, err, tc.wantErr)
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
		path, err := Check(words, role)
		if err != nil {
			return
		}
		if aerr := Allowed(path, role); aerr != nil {
			t.Fatalf("Check accepted %q as %q but Allowed refuses: %v", line, path, aerr)
		}
		if !strings.HasPrefix(strings.Join(words, " "), path) {
			t.Fatalf("Check(%q) = %q, not the command's first words", line, path)
		}
		for _, w := range words[1:] {
			name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
			if strings.HasPrefix(w, "-") && refusedFlags[name] {
				t.Fatalf("Check accepted refused flag %q in %q", w, line)
			}
		}
		if vocabulary[path] == nodes.RoleOperate && role != nodes.RoleOperate {
			t.Fatalf("read key accepted for %q", path)
		}
	})
}
