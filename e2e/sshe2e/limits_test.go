package sshe2e

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/sshfront"
)

// limitsHead is serve's SSH front door in a namespace of its own, with an
// operate and a read key registered, and the host key pinned from what the
// daemon itself presents (ssh-keyscan), not from any file.
type limitsHead struct {
	t          *testing.T
	dir, db    string
	operate    string
	read       string
	head       *netlab.NS
	srv        *netlab.Proc
	knownHosts string
	hostFP     string // the daemon's host key as ssh-keygen -l shows it
	hostKey    string // "ssh-ed25519 AAAA..."
}

const limitsHost = "winhead@127.0.0.1"

// startLimitsHead starts serve with extra arguments and env.
func startLimitsHead(t *testing.T, env []string, args ...string) *limitsHead {
	netlab.Require(t, "ssh=openssh-client", "ssh-keygen=openssh-client", "ssh-keyscan=openssh-client")
	lab := netlab.New(t)
	bin := netlab.Binary(t)
	h := &limitsHead{t: t, dir: t.TempDir()}
	h.db = inventory(t, h.dir, 2, 2, netip.MustParseAddr("10.77.0.10"))
	h.operate = keygen(t, h.dir, "winhead", "-t", "ed25519")
	h.read = keygen(t, h.dir, "monitor", "-t", "ed25519")
	for _, k := range []struct{ path, role string }{{h.operate, "operate"}, {h.read, "read"}} {
		if out, errOut, code := nodeSwitch(t, bin, h.db, "ssh-key", "add", k.path+".pub", "--role", k.role); code != 0 {
			t.Fatalf("ssh-key add %s: %d %s %s", k.path, code, out, errOut)
		}
	}
	h.head = lab.Namespace("head")
	env = append([]string{"NODE_SWITCH_HOOKS_DIR=" + filepath.Join(h.dir, "hooks.d")}, env...)
	h.srv = h.head.Start(env, bin, append(append([]string{"--db", h.db, "serve", "--ssh-listen", "127.0.0.1:2222"}, onlySSH(t, bin)...), args...)...)
	if !netlab.WaitFor(30*time.Second, func() bool { return h.srv.Exited() || strings.Contains(h.srv.Output(), "SSH front door listening") }) || h.srv.Exited() {
		t.Fatalf("serve did not start:\n%s", h.srv.Output())
	}
	scan, errOut, code := run(t, h.head.Command("ssh-keyscan", "-p", "2222", "-t", "ed25519", "127.0.0.1"))
	if code != 0 || !strings.HasPrefix(scan, "[127.0.0.1]:2222 ssh-ed25519 ") {
		t.Fatalf("ssh-keyscan: exit %d %q %s", code, scan, errOut)
	}
	h.knownHosts = filepath.Join(h.dir, "known_hosts")
	must(t, os.WriteFile(h.knownHosts, []byte(scan), 0o600))
	h.hostKey = strings.TrimSpace(strings.TrimPrefix(scan, "[127.0.0.1]:2222 "))
	lf, errOut, code := run(t, h.head.Command("ssh-keygen", "-l", "-f", h.knownHosts))
	if f := strings.Fields(lf); code != 0 || len(f) < 2 {
		t.Fatalf("ssh-keygen -l: %q %s", lf, errOut)
	} else {
		h.hostFP = f[1]
	}
	return h
}

// ssh runs OpenSSH's client in the head namespace, checking the host key.
func (h *limitsHead) ssh(key string, extra ...string) (string, string, int) {
	return run(h.t, h.head.Command("ssh", h.sshArgs(key, extra...)...))
}

func (h *limitsHead) sshArgs(key string, extra ...string) []string {
	return append([]string{"-p", "2222", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + h.knownHosts, "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=30", "-i", key}, extra...)
}

// files lists every file under dir, for "nothing was written".
func files(t *testing.T, dir string) []string {
	var out []string
	must(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), "inventory.db") {
			out = append(out, p)
		}
		return err
	}))
	sort.Strings(out)
	return out
}

// TestFrontDoorHostKeyOverSSH runs "ssh hostkey" through the front door with
// a read key. The daemon's key lives where --ssh-host-key puts it, not
// beside the inventory: the command must show that key, the one ssh-keyscan
// and the client's known_hosts see, and write no key anywhere.
func TestFrontDoorHostKeyOverSSH(t *testing.T) {
	keyDir := t.TempDir()
	h := startLimitsHead(t, nil, "--ssh-host-key", filepath.Join(keyDir, "front_ed25519"))
	before, beforeKeys := files(t, h.dir), files(t, keyDir)

	out, errOut, code := h.ssh(h.read, limitsHost, "ssh hostkey")
	if code != 0 {
		t.Fatalf("ssh hostkey over SSH: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || lines[0] != h.hostFP+" (ssh-ed25519)" || lines[2] != h.hostKey {
		t.Fatalf("ssh hostkey over SSH shows\n%s\nwant the daemon's key %s\n%s", out, h.hostFP, h.hostKey)
	}
	out, errOut, code = h.ssh(h.read, limitsHost, "ssh hostkey --json")
	var info map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &info) != nil || info["fingerprint"] != h.hostFP || info["public_key"] != h.hostKey {
		t.Fatalf("ssh hostkey --json over SSH: exit %d: %s %s", code, out, errOut)
	}
	if _, ok := info["path"]; ok {
		t.Errorf("ssh hostkey --json over SSH names the daemon's key file: %s", out)
	}
	// The flag that would write a key is the head node's.
	if _, errOut, code := h.ssh(h.read, limitsHost, "ssh hostkey --generate"); code != 3 || !strings.Contains(errOut, "not accepted over SSH") {
		t.Errorf("ssh hostkey --generate over SSH: exit %d: %s", code, errOut)
	}
	if after, afterKeys := files(t, h.dir), files(t, keyDir); strings.Join(after, " ") != strings.Join(before, " ") ||
		strings.Join(afterKeys, " ") != strings.Join(beforeKeys, " ") {
		t.Fatalf("ssh hostkey over SSH wrote files:\nbefore %v %v\nafter  %v %v", before, beforeKeys, after, afterKeys)
	}
}

// TestFrontDoorSessionsPerConnection multiplexes OpenSSH sessions over one
// connection (ControlMaster): four run a move held by a pre-move hook, a
// fifth is refused ("resource shortage"), and once the four are done the
// same connection runs commands again. OpenSSH's client itself puts no cap
// on the sessions of a master (sshd caps them with MaxSessions), so what is
// refused here is the front door's doing.
func TestFrontDoorSessionsPerConnection(t *testing.T) {
	if sshfront.MaxSessionsPerConn != 4 {
		t.Fatalf("this test holds 4 sessions, the front door allows %d", sshfront.MaxSessionsPerConn)
	}
	h := startLimitsHead(t, nil)
	gate := filepath.Join(h.dir, "gate")
	must(t, os.MkdirAll(filepath.Join(h.dir, "hooks.d"), 0o755))
	must(t, os.WriteFile(filepath.Join(h.dir, "hooks.d", "10-hold"),
		[]byte("#!/bin/sh\n[ \"$NODE_SWITCH_EVENT\" = pre-move ] || exit 0\nwhile [ ! -e "+gate+" ]; do sleep 0.1; done\n"), 0o755))
	ctl := filepath.Join(h.dir, "ctl")
	master := h.head.Start(nil, "ssh", h.sshArgs(h.operate, "-M", "-S", ctl, "-o", "ControlPersist=no", "-N", limitsHost)...)
	if !netlab.WaitFor(30*time.Second, func() bool {
		_, _, code := h.ssh(h.operate, "-S", ctl, "-O", "check", limitsHost)
		return code == 0 || master.Exited()
	}) || master.Exited() {
		t.Fatalf("ssh master did not start:\n%s", master.Output())
	}
	// A mux client whose session the master cannot open falls back to a
	// connection of its own; ProxyCommand=false makes that fail, so every
	// session below runs on the master's one connection or not at all.
	mux := func(cmd string) []string {
		return h.sshArgs(h.operate, "-S", ctl, "-o", "ControlMaster=no", "-o", "ProxyCommand=/bin/false", limitsHost, cmd)
	}

	var held []*netlab.Proc
	for i, n := range []string{"n01", "n02", "w01", "w02"} {
		to := "windows"
		if n[0] == 'w' {
			to = "linux"
		}
		held = append(held, h.head.Start(nil, "ssh", mux("move "+n+" --to "+to)...))
		// One at a time: each move's command line is in serve's log
		// once its session runs, so the four are open before the fifth.
		if !netlab.WaitFor(30*time.Second, func() bool { return strings.Count(h.srv.Output(), ` command="move `) == i+1 }) {
			t.Fatalf("session %d did not start:\n%s", i+1, h.srv.Output())
		}
	}
	_, errOut, code := run(t, h.head.Command("ssh", mux("status")...))
	if code != 255 || !strings.Contains(errOut, "Session open refused by peer") {
		t.Fatalf("a fifth session on the connection: exit %d, want 255 and the session refused: %s\nmaster: %s", code, errOut, master.Output())
	}
	// The master shows why: the front door's reason code and message.
	if !netlab.WaitFor(10*time.Second, func() bool {
		return strings.Contains(master.Output(), "open failed: resource shortage: node-switch: at most 4 sessions at once on one connection")
	}) {
		t.Errorf("the master did not see a resource shortage: %s", master.Output())
	}
	if !strings.Contains(h.srv.Output(), "at most 4 sessions at once on one connection") {
		t.Errorf("serve did not log the refusal:\n%s", h.srv.Output())
	}
	must(t, os.WriteFile(gate, nil, 0o644))
	for i, p := range held {
		if exited, _ := p.Wait(90 * time.Second); !exited || p.Cmd.ProcessState.ExitCode() != 0 {
			t.Fatalf("held session %d: exited %v: %s", i+1, exited, p.Output())
		}
	}
	if out, errOut, code := run(t, h.head.Command("ssh", mux("status --json")...)); code != 0 || !strings.Contains(out, `"clusters"`) {
		t.Fatalf("a session after the four ended: exit %d: %s %s", code, out, errOut)
	}
}

// TestFrontDoorRefusalBurst sends 50 refused commands from one address, each
// on a connection of its own as a script in a loop would: every one is
// refused to the client, but the logbook gets the first at once and the
// count of the rest when the minute is up, here when the daemon stops.
func TestFrontDoorRefusalBurst(t *testing.T) {
	h := startLimitsHead(t, nil)
	const burst = 50
	for i := range burst {
		_, errOut, code := h.ssh(h.read, limitsHost, "move n01 --to windows")
		if code != 3 || !strings.Contains(errOut, "needs a key with role operate") {
			t.Fatalf("refusal %d: exit %d: %s", i+1, code, errOut)
		}
	}
	if _, errOut, code := h.ssh(h.read, limitsHost, "status"); code != 0 {
		t.Fatalf("status after the burst: exit %d: %s", code, errOut)
	}
	h.srv.Stop()

	st, err := nodes.Open(h.db)
	must(t, err)
	defer st.Close()
	log, err := st.Log(t.Context(), nodes.LogFilter{})
	must(t, err)
	count := regexp.MustCompile(`the last of (\d+) refusals from 127\.0\.0\.1 since `)
	rows, refusals := 0, 0
	for _, e := range log {
		switch {
		case e.Action == nodes.ActionSSHRefused:
			rows++
			if e.Origin != "127.0.0.1" || !strings.Contains(e.Actor, "(monitor)") || e.Reason != "move n01 --to windows" {
				t.Errorf("refusal row: %+v", e)
			}
			if m := count.FindStringSubmatch(e.Result); m != nil {
				n, _ := strconv.Atoi(m[1])
				refusals += n
			} else {
				refusals++
			}
		case e.Action == nodes.ActionSSHCommand && e.Reason != "status":
			t.Errorf("a refused command also has an ssh-command row: %+v", e)
		}
	}
	if rows > 2 || refusals != burst {
		for _, e := range log {
			t.Logf("%s %s %q %q", e.Action, e.Actor, e.Reason, e.Result)
		}
		t.Fatalf("%d refusals wrote %d logbook rows counting %d; want at most 2 rows counting all %d", burst, rows, refusals, burst)
	}
}
