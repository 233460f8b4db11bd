package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/ops"
	"github.com/node-switch/node-switch/sshfront"
)

// The SSH policy names real commands and flags: a renamed command or flag
// must not silently vanish from (or linger in) what the Windows head may run.
func TestSSHPolicyNamesRealCommands(t *testing.T) {
	p, err := sshPolicy()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Commands) != len(remote) {
		t.Errorf("policy has %d commands, the allowlist %d", len(p.Commands), len(remote))
	}
}

// What the real policy lets through and refuses, by name.
func TestSSHPolicy(t *testing.T) {
	p, err := sshPolicy()
	if err != nil {
		t.Fatal(err)
	}
	r, o := nodes.RoleRead, nodes.RoleOperate
	tests := []struct {
		line, role, path, wantErr string
	}{
		{"status --json", r, "status", ""},
		{"log umu19 --since 7d --action move --json", r, "log", ""},
		{"move 'umu[18-19]' --to linux --reason 'x y' --reboot --json", o, "move", ""},
		{"move linux,-umu20 --to windows --dry-run", o, "move", ""},
		{"power on lab --json", o, "power on", ""},
		{"move umu18 --to linux", r, "", "needs a key with role operate"},
		{"move umu18 --to linux --reboot-key /etc/shadow", o, "", "--reboot-key is not accepted over SSH"},
		{"move umu18 --to linux --reboot-command id", o, "", "--reboot-command is not accepted over SSH"},
		{"move umu18 --to linux --wake-interface eth0", o, "", "--wake-interface is not accepted over SSH"},
		{"reboot umu18 --known-hosts=/dev/null", o, "", "--known-hosts=/dev/null is not accepted over SSH"},
		{"reboot umu18 --parallel 1000", o, "", "--parallel is not accepted over SSH"},
		{"status --db /tmp/x.db", o, "", "not accepted over SSH"},
		{"move umu18 --to linux --hooks-dir /tmp", o, "", "not accepted over SSH"},
		{"move umu18 --to linux --resaon x", o, "", "unknown flag --resaon"},
		{"node add x --mac 02:00:00:00:00:01 --ip 10.0.0.9 --cluster linux", o, "", "not available over SSH"},
		{"serve", o, "", "not available over SSH"},
		{"power status 'umu[18-19]' --json", r, "power status", ""},
		{"power off umu18 --reason x", o, "power off", ""},
		{"power reset umu18", r, "", "needs a key with role operate"},
		{"power cycle umu18 --bmc-timeout 1h", o, "", "--bmc-timeout is not accepted over SSH"},
		{"reboot umu18 --via bmc --json", o, "reboot", ""},
		{"move umu18 --to linux --reboot --via ssh", o, "move", ""},
		{"node set umu18 --bmc 10.0.0.1 --bmc-user a --bmc-password-file /etc/shadow", o, "", "not available over SSH"},
		{"node bmc-import /tmp/x.csv", o, "", "not available over SSH"},
	}
	for _, tc := range tests {
		words, err := sshfront.Split(tc.line)
		if err != nil {
			t.Fatal(err)
		}
		path, err := p.Check(words, tc.role)
		if tc.wantErr == "" {
			if err != nil || path != tc.path {
				t.Errorf("%q as %s: %q, %v; want %q", tc.line, tc.role, path, err, tc.path)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q as %s: %q, %v; want error containing %q", tc.line, tc.role, path, err, tc.wantErr)
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
	policy, err := sshPolicy()
	if err != nil {
		t.Fatal(err)
	}
	o, err := ops.New(st, ops.Settings{HooksDir: filepath.Join(t.TempDir(), "no-hooks")})
	if err != nil {
		t.Fatal(err)
	}
	run := sshRunner(o, policy)
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
	log, err := st.Log(ctx, nodes.LogFilter{Action: nodes.ActionSSHRefused})
	if err != nil || len(log) != 1 || log[0].Actor != "key SHA256:test (monitor)" || log[0].Channel != nodes.ChannelSSH || log[0].Origin != "192.0.2.7" {
		t.Fatalf("refusal in the logbook: %+v %v", log, err)
	}
}
