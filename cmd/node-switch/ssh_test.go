package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/sshfront"
)

// The SSH vocabulary names real commands: a renamed command must not
// silently vanish from (or linger in) what the Windows head may run.
func TestSSHVocabularyNamesRealCommands(t *testing.T) {
	app := NewApp(&Env{})
	paths := map[string]bool{}
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			p := strings.TrimSpace(prefix + " " + c.Name)
			if c.Action != nil {
				paths[p] = true
			}
			walk(p, c.Subcommands)
		}
	}
	walk("", app.Commands)
	for _, p := range sshfront.Commands(nodes.RoleOperate) {
		if !paths[p] {
			t.Errorf("SSH vocabulary allows %q, which is not a command", p)
		}
	}
}

// The app itself refuses a command the key's role does not allow, even if
// the words were never vetted by sshfront.Check.
func TestSSHRunnerEnforcesRoleInTheApp(t *testing.T) {
	st, err := nodes.Open(filepath.Join(t.TempDir(), "inventory.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	admin := nodes.Actor{Name: "t", Channel: nodes.ChannelCLI}
	if err := st.AddProfile(ctx, admin, nodes.Profile{Name: "linux", Kind: nodes.KindLinux}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddCluster(ctx, admin, nodes.Cluster{Name: "linux", Profile: "linux"}); err != nil {
		t.Fatal(err)
	}
	run := sshRunner(st, filepath.Join(t.TempDir(), "no-hooks"))
	id := sshfront.Identity{Fingerprint: "SHA256:test", Comment: "monitor", Role: nodes.RoleRead, Addr: "192.0.2.7:50000"}

	var out, errb bytes.Buffer
	if code := run(ctx, []string{"status", "--json"}, id, &out, &errb); code != 0 {
		t.Fatalf("status: exit %d: %s", code, errb.String())
	}
	var d nodes.Distribution
	if err := json.Unmarshal(out.Bytes(), &d); err != nil || len(d.Clusters) != 1 {
		t.Fatalf("status output %q: %v", out.String(), err)
	}
	out.Reset()
	errb.Reset()
	if code := run(ctx, []string{"ssh-key", "add", "/dev/null", "--role", "operate"}, id, &out, &errb); code != 3 || !strings.Contains(errb.String(), "not available over SSH") {
		t.Fatalf("ssh-key add from a read key: exit %d: %s", code, errb.String())
	}
	log, err := st.Log(ctx, nodes.LogFilter{Action: "ssh-refused"})
	if err != nil || len(log) != 1 || log[0].Actor != "key SHA256:test (monitor)" || log[0].Channel != nodes.ChannelSSH || log[0].From != "192.0.2.7" {
		t.Fatalf("refusal in the logbook: %+v %v", log, err)
	}
}
