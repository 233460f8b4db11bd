package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
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
	for _, c := range []string{"linux", "other"} {
		if err := st.AddCluster(ctx, admin, nodes.Cluster{Name: c, Profile: "linux"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.AddNode(ctx, admin, nodes.Node{Name: "n1", MAC: "02:00:00:00:00:01", IP: netip.MustParseAddr("10.0.0.11"), Cluster: "linux"}, ""); err != nil {
		t.Fatal(err)
	}
	run := testSSHRunner(t, st)
	read := sshfront.Identity{Fingerprint: "SHA256:read", Comment: "monitor", Role: nodes.RoleRead, Addr: "192.0.2.7:50000"}
	operate := sshfront.Identity{Fingerprint: "SHA256:operate", Comment: "windows-head", Role: nodes.RoleOperate, Addr: "192.0.2.8:50000"}

	// "move" is on the allowlist for operate keys: only the key's role
	// tells the read key's attempt from the operate key's.
	tests := []struct {
		name      string
		id        sshfront.Identity
		args      []string
		wantCode  int
		wantErr   string
		wantNode  string       // n1's cluster afterwards
		wantLog   nodes.Action // the new logbook entry's action, if any
		wantActor string
	}{
		{"read key reads", read, []string{"status", "--json"}, 0, "", "linux", "", ""},
		{"read key cannot move", read, []string{"move", "n1", "--to", "other", "--reason", "r"}, 3,
			`"move" needs a key with role operate; this key has role read`, "linux", nodes.ActionSSHRefused, "key SHA256:read (monitor)"},
		{"read key cannot power on", read, []string{"power", "on", "n1"}, 3,
			`"power on" needs a key with role operate; this key has role read`, "linux", nodes.ActionSSHRefused, "key SHA256:read (monitor)"},
		{"no key adds keys", operate, []string{"ssh-key", "add", "/dev/null", "--role", "operate"}, 3,
			"not available over SSH", "linux", nodes.ActionSSHRefused, "key SHA256:operate (windows-head)"},
		{"operate key moves", operate, []string{"move", "n1", "--to", "other", "--reason", "r"}, 0, "", "other", nodes.ActionMove, "key SHA256:operate (windows-head)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := st.Log(ctx, nodes.LogFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := run(ctx, tt.args, tt.id, &out, &errb)
			if code != tt.wantCode || !strings.Contains(errb.String(), tt.wantErr) {
				t.Fatalf("%v from role %s: exit %d, stderr %q; want exit %d and %q", tt.args, tt.id.Role, code, errb.String(), tt.wantCode, tt.wantErr)
			}
			if tt.args[0] == "status" {
				var d nodes.Distribution
				if err := json.Unmarshal(out.Bytes(), &d); err != nil || len(d.Clusters) != 2 {
					t.Fatalf("status output %q: %v", out.String(), err)
				}
			}
			n, err := st.Nodes(ctx, "n1")
			if err != nil || len(n) != 1 || n[0].Cluster != tt.wantNode {
				t.Fatalf("n1 afterwards: %+v %v; want cluster %s", n, err, tt.wantNode)
			}
			after, err := st.Log(ctx, nodes.LogFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantLog == "" {
				if len(after) != len(before) {
					t.Fatalf("logbook grew from %d to %d entries: %+v", len(before), len(after), after)
				}
				return
			}
			if len(after) != len(before)+1 {
				t.Fatalf("logbook grew from %d to %d entries, want one more: %+v", len(before), len(after), after)
			}
			e := newest(after)
			if e.Action != tt.wantLog || e.Actor != tt.wantActor || e.Channel != nodes.ChannelSSH || e.Origin != strings.Split(tt.id.Addr, ":")[0] {
				t.Fatalf("logbook entry %+v; want %s by %s over ssh from %s", e, tt.wantLog, tt.wantActor, tt.id.Addr)
			}
		})
	}
}

// newest is the logbook entry with the highest number.
func newest(evs []nodes.Event) nodes.Event {
	var e nodes.Event
	for _, x := range evs {
		if x.ID > e.ID {
			e = x
		}
	}
	return e
}

// testSSHRunner is the front door's runner over st, as serve builds it,
// with no hooks.
func testSSHRunner(t *testing.T, st *nodes.Store) sshfront.RunFunc {
	t.Helper()
	policy, err := sshPolicy()
	if err != nil {
		t.Fatal(err)
	}
	o, err := ops.New(st, ops.Settings{HooksDir: filepath.Join(t.TempDir(), "no-hooks")})
	if err != nil {
		t.Fatal(err)
	}
	return sshRunner(o, policy)
}
