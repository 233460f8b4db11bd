package sshe2e

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

// TestFrontDoor drives "node-switch serve"'s SSH listener with OpenSSH's ssh
// client, both inside a namespace of their own (loopback only there).
func TestFrontDoor(t *testing.T) {
	netlab.Require(t, "ssh=openssh-client", "ssh-keygen=openssh-client")
	lab := netlab.New(t)
	bin := netlab.Binary(t)
	dir := t.TempDir()
	db := inventory(t, dir, 2, 2, netip.MustParseAddr("10.77.0.10"))

	operate := keygen(t, dir, "winhead", "-t", "rsa", "-b", "3072", "-m", "PEM") // what Posh-SSH reads best
	read := keygen(t, dir, "monitor", "-t", "ed25519")
	stranger := keygen(t, dir, "stranger", "-t", "ed25519")
	for _, k := range []struct{ path, role string }{{operate, "operate"}, {read, "read"}} {
		if out, errOut, code := nodeSwitch(t, bin, db, "ssh-key", "add", k.path+".pub", "--role", k.role); code != 0 {
			t.Fatalf("ssh-key add %s: %d %s %s", k.path, code, out, errOut)
		}
	}
	// Pin the host key before the daemon ever starts (--generate makes it).
	out, errOut, code := nodeSwitch(t, bin, db, "ssh", "hostkey", "--generate", "--json")
	if code != 0 {
		t.Fatalf("ssh hostkey: %s", errOut)
	}
	var hk struct {
		Fingerprint string `json:"fingerprint"`
		PublicKey   string `json:"public_key"`
	}
	must(t, json.Unmarshal([]byte(out), &hk))
	knownHosts := filepath.Join(dir, "known_hosts")
	must(t, os.WriteFile(knownHosts, []byte("[127.0.0.1]:2222 "+hk.PublicKey+"\n"), 0o600))

	head := lab.Namespace("head")
	// Every refusal gets a logbook row of its own here, as the subtests
	// below look for particular ones; TestFrontDoorRefusalBurst tests the
	// default of one row a minute per address.
	srv := head.Start([]string{"NODE_SWITCH_HOOKS_DIR=" + filepath.Join(dir, "hooks.d"), "NODE_SWITCH_SSH_REFUSAL_LOG_EVERY=1ns"}, bin,
		append([]string{"--db", db, "serve", "--ssh-listen", "127.0.0.1:2222"}, onlySSH(t, bin)...)...)
	if !netlab.WaitFor(30*time.Second, func() bool { return srv.Exited() || strings.Contains(srv.Output(), "SSH front door listening") }) || srv.Exited() {
		t.Fatalf("serve did not start:\n%s", srv.Output())
	}
	if !strings.Contains(srv.Output(), hk.Fingerprint) {
		t.Fatalf("serve uses another host key than 'ssh hostkey' printed (%s):\n%s", hk.Fingerprint, srv.Output())
	}

	ssh := func(key string, extra ...string) (string, string, int) {
		args := []string{"ssh", "-p", "2222", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
			"-o", "UserKnownHostsFile=" + knownHosts, "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=30"}
		if key != "" {
			args = append(args, "-i", key)
		}
		args = append(args, extra...)
		return run(t, head.Command(args[0], args[1:]...))
	}
	const host = "winhead@127.0.0.1"

	t.Run("status --json with a registered key", func(t *testing.T) {
		out, errOut, code := ssh(operate, host, "status --json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var d nodes.Distribution
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		if len(d.Clusters) != 2 || strings.Join(d.Clusters[0].Nodes, ",") != "n01,n02" {
			t.Fatalf("status: %+v", d)
		}
	})
	t.Run("unregistered key refused", func(t *testing.T) {
		_, errOut, code := ssh(stranger, host, "status")
		if code != 255 || !strings.Contains(errOut, "Permission denied (publickey)") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
	t.Run("password refused", func(t *testing.T) {
		// The server offers no password method at all; the client, told to
		// use only passwords, has nothing to try.
		_, errOut, code := ssh("", "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive", host, "status")
		if code != 255 || !strings.Contains(errOut, "Permission denied (publickey)") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
	t.Run("pty refused", func(t *testing.T) {
		// OpenSSH gives up itself when a forced pty is refused (exit 255);
		// the server refuses the command that follows anyway (logbook below).
		_, errOut, code := ssh(operate, "-tt", host, "log --limit 1")
		if code == 0 || !strings.Contains(errOut, "PTY allocation request failed") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
	t.Run("interactive shell refused", func(t *testing.T) {
		_, errOut, code := ssh(operate, "-T", host)
		if code == 0 || !strings.Contains(errOut, "failed") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
	t.Run("local forwarding refused", func(t *testing.T) {
		// -W opens the same direct-tcpip channel that -L opens per connection.
		_, errOut, code := ssh(operate, "-W", "127.0.0.1:2222", host)
		if code != 255 || !strings.Contains(errOut, "administratively prohibited") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
	t.Run("remote forwarding refused", func(t *testing.T) {
		_, errOut, code := ssh(operate, "-o", "ExitOnForwardFailure=yes", "-R", "127.0.0.1:0:127.0.0.1:22", host, "status")
		if code != 255 || !strings.Contains(errOut, "remote port forwarding failed") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
	t.Run("subsystem refused", func(t *testing.T) {
		_, errOut, code := ssh(operate, "-s", host, "sftp")
		if code == 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
	// 3: refused by the policy; 2: not a command line at all.
	for cmd, status := range map[string]int{"serve": 3, "ssh-key add /dev/stdin --role operate": 3, "node rm n01": 3, "status; id": 2,
		"--db /tmp/other.db status": 3, "status --db=/tmp/other.db": 3, "reboot n01 --reboot-command id": 3, "sh -c id": 3,
		"move n01 --to windows --hooks-dir /tmp": 3, "move n01 --to windows --resaon x": 2} {
		t.Run("outside the allowlist: "+cmd, func(t *testing.T) {
			_, errOut, code := ssh(operate, host, "--", cmd)
			if code != status || !strings.Contains(errOut, "refused") {
				t.Fatalf("exit %d: %s", code, errOut)
			}
		})
	}
	t.Run("read key cannot move", func(t *testing.T) {
		_, errOut, code := ssh(read, host, "move n01 --to windows")
		if code != 3 || !strings.Contains(errOut, "needs a key with role operate") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		// n01 itself must still be in linux (other nodes are there anyway).
		out, errOut, code := ssh(read, host, "node list n01 --json")
		var list []struct {
			Name    string `json:"name"`
			Cluster string `json:"cluster"`
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil || code != 0 {
			t.Fatalf("node list n01: exit %d, %v: %s%s", code, err, out, errOut)
		}
		if len(list) != 1 || list[0].Name != "n01" || list[0].Cluster != "linux" {
			t.Fatalf("n01 after the refused move: %+v, want in cluster linux", list)
		}
	})
	var moved struct {
		Event int64    `json:"event"`
		Nodes []string `json:"nodes"`
		To    string   `json:"to"`
	}
	t.Run("operate key moves", func(t *testing.T) {
		out, errOut, code := ssh(operate, host, `move n01 --to windows --reason "Windows job queue" --json`)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if err := json.Unmarshal([]byte(out), &moved); err != nil || moved.To != "windows" || strings.Join(moved.Nodes, ",") != "n01" {
			t.Fatalf("move output %q: %v", out, err)
		}
		// Nothing left to move is an error the PowerShell client must see.
		_, errOut, code = ssh(operate, host, "move n01 --to windows")
		if code == 0 || !strings.Contains(errOut, "already in cluster windows") {
			t.Fatalf("second move: exit %d: %s", code, errOut)
		}
	})
	t.Run("logbook names the key and the address", func(t *testing.T) {
		st, err := nodes.Open(db)
		must(t, err)
		defer st.Close()
		log, err := st.Log(t.Context(), nodes.LogFilter{})
		must(t, err)
		var sawMove, sawRefusal, sawStatus, sawPty bool
		for _, e := range log {
			if e.Channel != nodes.ChannelSSH {
				continue
			}
			if e.Origin != "127.0.0.1" || !strings.HasPrefix(e.Actor, "key SHA256:") {
				t.Errorf("ssh entry without key or address: %+v", e)
			}
			switch {
			case e.Action == nodes.ActionMove && e.ID == moved.Event:
				sawMove = strings.Contains(e.Actor, "(winhead)") && e.Reason == "Windows job queue"
			case e.Action == nodes.ActionSSHRefused && strings.Contains(e.Reason, "move n01 --to windows"):
				sawRefusal = strings.Contains(e.Actor, "(monitor)") && strings.Contains(e.Result, "role operate")
			case e.Action == nodes.ActionSSHRefused && e.Reason == "log --limit 1":
				sawPty = strings.Contains(e.Result, "no terminals")
			case e.Action == nodes.ActionSSHCommand && e.Reason == "status --json":
				sawStatus = e.Result == "exit 0"
			}
		}
		if !sawMove || !sawRefusal || !sawStatus || !sawPty {
			for _, e := range log {
				t.Logf("%+v", e)
			}
			t.Fatalf("logbook: move by winhead %v, refusal of monitor %v, status %v, pty refusal %v", sawMove, sawRefusal, sawStatus, sawPty)
		}
	})
	t.Run("the Windows head script's commands run", func(t *testing.T) {
		cmds := psCommands(t, map[string]string{"range": "n02", "linux": "linux", "windows": "windows", "reason": `Switch-ClusterNode by UM64W\o'brien`})
		for _, op := range []string{"Status", "ToWindows", "ToLinuxPlan", "ToLinux", "Mask", "Unmask"} {
			out, errOut, code := ssh(operate, host, "--", cmds[op])
			if code != 0 {
				t.Fatalf("%s: %q: exit %d: %s", op, cmds[op], code, errOut)
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("%s: not JSON: %v\n%s", op, err, out)
			}
			if op == "ToLinuxPlan" && v["dry_run"] != true {
				t.Fatalf("ToLinuxPlan is not a dry run: %s", out)
			}
		}
		// No reboot key on this head: the command runs and fails, it is not refused.
		_, errOut, code := ssh(operate, host, "--", cmds["Reboot"])
		if code != 1 || strings.Contains(errOut, "refused") || !strings.Contains(errOut, "reboot key") {
			t.Fatalf("Reboot: exit %d: %s", code, errOut)
		}
	})
	t.Run("removed key is locked out at once", func(t *testing.T) {
		st, err := nodes.Open(db)
		must(t, err)
		keys, err := st.SSHKeys(t.Context())
		st.Close()
		must(t, err)
		var fp string
		for _, k := range keys {
			if k.Comment == "monitor" {
				fp = k.Fingerprint
			}
		}
		if _, errOut, code := nodeSwitch(t, bin, db, "ssh-key", "rm", fp); code != 0 {
			t.Fatalf("ssh-key rm: %s", errOut)
		}
		if _, errOut, code := ssh(read, host, "status"); code != 255 {
			t.Fatalf("removed key still works: exit %d %s", code, errOut)
		}
	})
}
