package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/sshfront"
)

func clusterOf(t *testing.T, db, node string) string {
	t.Helper()
	var ns []nodes.Node
	if err := json.Unmarshal([]byte(mustRun(t, db, "node", "list", node, "--json")), &ns); err != nil || len(ns) != 1 {
		t.Fatalf("node list %s: %v", node, err)
	}
	return ns[0].Cluster
}

// A pre-move hook that changes the inventory (here: puts umu20 into the
// cluster being moved) must not make the move commit nodes the hook was
// never told about: with the Slurm drain hook, umu20 would move undrained.
func TestMoveCommitsExactlyWhatThePreHooksSaw(t *testing.T) {
	sqlite, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("sqlite3 not installed (apt-get install sqlite3): the hook edits the inventory with it")
	}
	db := sourceDB(t)
	hooks := t.TempDir()
	script := "#!/bin/sh\n[ \"$NODE_SWITCH_EVENT\" = pre-move ] || exit 0\n" +
		sqlite + " " + db + " \"PRAGMA busy_timeout=5000; UPDATE nodes SET cluster='windows' WHERE name='umu20'\"\n"
	if err := os.WriteFile(filepath.Join(hooks, "10-meddle"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	_, errs, st := run(t, db, "--hooks-dir", hooks, "move", "windows", "--to", "linux")
	if st != exitFailed || !strings.Contains(errs, "inventory changed underneath") || !strings.Contains(errs, "umu20 was not in the plan") {
		t.Fatalf("move: exit %d, %q; want exit 1 naming umu20", st, errs)
	}
	for _, n := range []string{"umu18", "umu19", "umu20"} {
		if c := clusterOf(t, db, n); c != "windows" {
			t.Errorf("%s is in %s, want windows (nothing moved; umu20 by the hook)", n, c)
		}
	}
}

// A relative --hooks-dir is resolved once, so its hooks are found.
func TestRelativeHooksDir(t *testing.T) {
	db := sourceDB(t)
	t.Chdir(t.TempDir())
	if err := os.Mkdir("hk", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("hk", "10-log"), []byte("#!/bin/sh\necho \"$NODE_SWITCH_EVENT\" >> seen\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, db, "--hooks-dir", "hk", "move", "umu18", "--to", "linux")
	if got, err := os.ReadFile(filepath.Join("hk", "seen")); err != nil || string(got) != "pre-move\npost-move\n" {
		t.Errorf("hooks ran: %q, %v", got, err)
	}
}

// Bad command lines are named and change nothing; each exit status means
// one thing: 0 done, 1 failed, 2 bad usage or input, 3 refused by policy.
func TestExitStatuses(t *testing.T) {
	db := sourceDB(t)
	tests := []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"status"}, exitOK, ""},
		{[]string{"import", "dhcpd", um64Conf, "--bogus", "x"}, exitUsage, "unknown flag --bogus"},
		{[]string{"move", "umu20", "--to", "windows", "--resaon", "x"}, exitUsage, "unknown flag --resaon"},
		{[]string{"node", "list", "--verbose"}, exitUsage, "unknown flag --verbose"},
		{[]string{"bogus"}, exitUsage, `unknown command "bogus"`},
		{[]string{"node", "bogus"}, exitUsage, `unknown command "node bogus"`},
		{[]string{"move", "umu20"}, exitUsage, `"to" not set`},
		{[]string{"log", "--limit", "many"}, exitUsage, "invalid value"},
		{[]string{"log", "--since", "1y"}, exitUsage, "units s, m, h, d"},
		{[]string{"log", "--action", "moved"}, exitUsage, "no such action"},
		{[]string{"node", "list", "umu[1-"}, exitUsage, "'[' without ']'"},
		{[]string{"log", "umu[1-"}, exitUsage, "'[' without ']'"},
		{[]string{"move", "umu99", "--to", "linux"}, exitUsage, "unknown node umu99"},
		{[]string{"move", "umu20", "--to", "linux"}, exitFailed, "already in cluster linux"},
		{[]string{"reboot", "umu18"}, exitFailed, "Pass --force"},
	}
	before := mustRun(t, db, "node", "list", "--json")
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, errs, st := run(t, db, tt.args...)
			if st != tt.status || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", st, errs, tt.status, tt.want)
			}
		})
	}
	if after := mustRun(t, db, "node", "list", "--json"); after != before {
		t.Errorf("bad input changed the inventory:\n%s", after)
	}
	// 3: refused by the SSH front door's policy, in the app itself.
	st, err := nodes.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out, errb bytes.Buffer
	id := sshfront.Identity{Fingerprint: "SHA256:x", Role: nodes.RoleRead, Addr: "192.0.2.1:1"}
	if code := testSSHRunner(t, st)(context.Background(), []string{"move", "umu20", "--to", "windows"}, id, &out, &errb); code != exitRefused {
		t.Errorf("read key moving: exit %d (%s), want %d", code, errb.String(), exitRefused)
	}
}

// move --reboot checks what it can before it commits: with no reboot key,
// or with nodes on the local disk and no --reboot-localdisk, nothing moves
// and the status is "failed", never "bad usage" after a change.
func TestMoveRebootChecksFirst(t *testing.T) {
	db := sourceDB(t)
	missing := filepath.Join(t.TempDir(), "id_ed25519")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"move", "umu20", "--to", "windows", "--reboot", "--reboot-key", missing}, "reboot key " + missing},
		{[]string{"move", "umu18", "--to", "linux", "--reboot", "--reboot-key", missing}, "Pass --reboot-localdisk"},
	}
	for _, tt := range tests {
		_, errs, st := run(t, db, tt.args...)
		if st != exitFailed || !strings.Contains(errs, tt.want) || !strings.Contains(errs, "nothing changed") {
			t.Errorf("%v: exit %d, %q; want exit 1, %q, nothing changed", tt.args, st, errs, tt.want)
		}
	}
	if c := clusterOf(t, db, "umu20"); c != "linux" {
		t.Errorf("umu20 moved to %s", c)
	}
	if c := clusterOf(t, db, "umu18"); c != "windows" {
		t.Errorf("umu18 moved to %s", c)
	}
}

// Global flags are honoured wherever they are written, and only commands
// that add to an inventory create one.
func TestGlobalFlagsAndMissingInventory(t *testing.T) {
	a, b := sourceDB(t), filepath.Join(t.TempDir(), "b.db")
	mustRun(t, b, "profile", "add", "p", "--kind", "linux")
	mustRun(t, b, "cluster", "add", "only-in-b", "--profile", "p")
	t.Setenv("NODE_SWITCH_DB", a)
	var out, errb bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &errb, Actor: nodes.Actor{Name: "tester", Channel: nodes.ChannelCLI}}
	if st := exitStatus(env, Run(context.Background(), env, []string{"node-switch", "status", "--db", b})); st != 0 || !strings.Contains(out.String(), "only-in-b") {
		t.Errorf("status --db b: exit %d, %q %q", st, out.String(), errb.String())
	}
	typo := filepath.Join(t.TempDir(), "typo.db")
	for _, args := range [][]string{{"status"}, {"node", "list"}, {"log"}, {"move", "n1", "--to", "x"}, {"export", "dhcpd"}} {
		_, errs, st := run(t, typo, args...)
		if st != exitUsage || !strings.Contains(errs, "does not exist") {
			t.Errorf("%v on a missing inventory: exit %d, %q", args, st, errs)
		}
		if _, err := os.Stat(typo); err == nil {
			t.Fatalf("%v created %s", args, typo)
		}
	}
}

// Shell completion answers and never runs a command.
func TestCompletionRunsNothing(t *testing.T) {
	db := sourceDB(t)
	t.Chdir(t.TempDir())
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"bootroot", "init", completionFlag}, nil},
		{[]string{"export", "dhcpd", "-o", "out.conf", completionFlag}, []string{"--output"}},
		{[]string{"node", completionFlag}, []string{"add", "list", "rm"}},
		{[]string{"move", completionFlag}, []string{"--to", "--reason", "--reboot"}},
		{[]string{completionFlag}, []string{"move", "status", "completion"}},
	}
	for _, tt := range tests {
		out, errs, st := run(t, db, tt.args...)
		if st != 0 {
			t.Errorf("%v: exit %d %s", tt.args, st, errs)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w+"\n") {
				t.Errorf("%v: completion %q lacks %q", tt.args, out, w)
			}
		}
	}
	if ents, _ := os.ReadDir("."); len(ents) != 0 {
		t.Errorf("completion created %v", ents)
	}
	for _, sh := range []string{"bash", "zsh"} {
		if out := mustRun(t, db, "completion", sh); !strings.Contains(out, completionFlag) {
			t.Errorf("completion %s: %q", sh, out)
		}
	}
}
