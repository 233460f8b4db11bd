package sshe2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

const (
	rebootNodes = 50 // n01..n50: known host key, sshd up
	nUnknown    = "n51"
	nMismatch   = "n52"
	nDown       = "n53" // address nobody holds
)

type rebootOut struct {
	Results []struct {
		Node   string `json:"node"`
		Addr   string `json:"addr"`
		Status string `json:"status"`
		Detail string `json:"detail"`
	} `json:"results"`
	OK     int `json:"ok"`
	Failed int `json:"failed"`
}

// TestReboot reboots 50 "nodes" in parallel: one OpenSSH sshd in a nodes
// namespace answers on 52 addresses, and its "reboot command" only leaves a
// marker named after the address it was reached on.
func TestReboot(t *testing.T) {
	netlab.Require(t, "/usr/sbin/sshd=openssh-server", "ssh-keygen=openssh-client")
	lab := netlab.New(t)
	bin := netlab.Binary(t)
	dir := t.TempDir()
	base := netip.MustParseAddr("10.78.1.0")
	db := inventory(t, dir, rebootNodes+3, 1, base)

	head, nodesNS := lab.Namespace("head"), lab.Namespace("nodes")
	lab.Veth(head, "eth0", nodesNS, "eth0")
	head.Addr("eth0", "10.78.0.1/16")
	addrOf := func(i int) netip.Addr {
		a := base
		for ; i > 0; i-- {
			a = a.Next()
		}
		return a
	}
	for i := 1; i <= rebootNodes+2; i++ { // n53 stays unassigned
		nodesNS.MustRun("ip", "addr", "add", addrOf(i).String()+"/16", "dev", "eth0")
	}

	hostKey := keygen(t, dir, "ssh_host_ed25519_key", "-t", "ed25519")
	otherHost := keygen(t, dir, "other_host_key", "-t", "ed25519")
	clientKey := keygen(t, dir, "id_ed25519", "-t", "ed25519")
	pub := func(p string) string {
		b, err := os.ReadFile(p + ".pub")
		must(t, err)
		f := strings.Fields(string(b))
		return f[0] + " " + f[1]
	}
	var kh strings.Builder
	for i := 1; i <= rebootNodes; i++ {
		fmt.Fprintf(&kh, "%s %s\n", addrOf(i), pub(hostKey))
	}
	fmt.Fprintf(&kh, "%s %s\n", addrOf(rebootNodes+2), pub(otherHost)) // n52: someone else's key
	knownHosts := filepath.Join(dir, "known_hosts")
	must(t, os.WriteFile(knownHosts, []byte(kh.String()), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(pub(clientKey)+"\n"), 0o600))

	// sshd insists on its privilege separation directory.
	must(t, os.MkdirAll("/run/sshd", 0o755))
	conf := filepath.Join(dir, "sshd_config")
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf(`Port 22
ListenAddress 0.0.0.0
HostKey %s
PidFile %s/sshd.pid
AuthorizedKeysFile %s/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 200
LogLevel ERROR
`, hostKey, dir, dir)), 0o600))
	sshd := nodesNS.Start(nil, "/usr/sbin/sshd", "-D", "-e", "-f", conf)
	if !netlab.WaitFor(30*time.Second, func() bool {
		_, err := head.Run("bash", "-c", "exec 3<>/dev/tcp/"+addrOf(1).String()+"/22")
		return err == nil || sshd.Exited()
	}) || sshd.Exited() {
		t.Fatalf("sshd did not start:\n%s", sshd.Output())
	}

	markers := filepath.Join(dir, "markers")
	must(t, os.Mkdir(markers, 0o755))
	hooksDir := filepath.Join(dir, "hooks.d")
	must(t, os.Mkdir(hooksDir, 0o755))
	hookLog := filepath.Join(dir, "hooks.log")
	must(t, os.WriteFile(filepath.Join(hooksDir, "10-record"), []byte("#!/bin/sh\necho \"$NODE_SWITCH_EVENT $NODE_SWITCH_NODES\" >> "+hookLog+"\n"), 0o755))

	reboot := func(args ...string) (string, string, int) {
		argv := append([]string{"--db", db, "--hooks-dir", hooksDir, "reboot"}, args...)
		// All 52 "nodes" are one sshd on the test machine's own cores, so
		// every session's work queues behind the others': at the default
		// 32 at once under load, ok nodes took up to 59s of the 60s each
		// node has. 8 at once still reboots in parallel while a node's
		// time is its own again; real nodes do their sshd work themselves.
		argv = append(argv, "--reboot-key", clientKey, "--known-hosts", knownHosts, "--reboot-timeout", "60s", "--parallel", "8")
		return run(t, head.Command(bin, argv...))
	}
	// The node learns which address it was reached on from SSH_CONNECTION.
	markCmd := `set -- $SSH_CONNECTION; touch ` + markers + `/$3`

	out, errOut, code := reboot("n[01-53]", "--json", "--reboot-command", markCmd)
	if code != 1 {
		t.Fatalf("want exit 1 (some nodes failed), got %d\n%s\n%s", code, out, errOut)
	}
	var rep rebootOut
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(rep.Results) != rebootNodes+3 || rep.OK != rebootNodes || rep.Failed != 3 {
		t.Fatalf("results: %d, ok %d, failed %d\n%s", len(rep.Results), rep.OK, rep.Failed, out)
	}
	want := map[string]string{nUnknown: "host key unknown", nMismatch: "host key mismatch", nDown: "unreachable"}
	for _, r := range rep.Results {
		w, special := want[r.Node]
		if !special {
			w = "ok"
		}
		if r.Status != w {
			t.Errorf("%s: %s (%s), want %s", r.Node, r.Status, r.Detail, w)
		}
	}
	// Every node reported ok must have run the command: its marker is the
	// evidence. The report's words for the node go with a missing marker,
	// to tell "ok without the command" from a test that looks too early.
	reported := map[string]string{}
	for _, r := range rep.Results {
		reported[r.Node] = r.Status + " (" + r.Detail + ")"
	}
	for i := 1; i <= rebootNodes+2; i++ {
		_, err := os.Stat(filepath.Join(markers, addrOf(i).String()))
		if (err == nil) != (i <= rebootNodes) {
			n := fmt.Sprintf("n%02d", i)
			t.Errorf("marker for %s (%s, reported %s): %v (want one only for the %d known nodes)", addrOf(i), n, reported[n], err, rebootNodes)
		}
	}
	for _, r := range rep.Results {
		if r.Node == nUnknown && (!strings.Contains(r.Detail, "ssh-keyscan") || !strings.Contains(r.Detail, knownHosts)) {
			t.Errorf("unknown host key message does not say how to fix it: %s", r.Detail)
		}
	}
	if !strings.Contains(errOut, "reboot failed for n51 (host key unknown), n52 (host key mismatch), n53 (unreachable)") {
		t.Errorf("summary on stderr: %s", errOut)
	}
	hl, _ := os.ReadFile(hookLog)
	var okNodes []string
	for i := 1; i <= rebootNodes; i++ {
		okNodes = append(okNodes, fmt.Sprintf("n%02d", i))
	}
	all := append(append([]string{}, okNodes...), nUnknown, nMismatch, nDown)
	if wantLog := "pre-reboot " + strings.Join(all, ",") + "\npost-reboot " + strings.Join(okNodes, ",") + "\n"; string(hl) != wantLog {
		t.Errorf("hooks saw:\n%s\nwant:\n%s", hl, wantLog)
	}

	t.Run("logbook has every node's outcome and the hooks", func(t *testing.T) {
		st, err := nodes.Open(db)
		must(t, err)
		defer st.Close()
		log, err := st.Log(t.Context(), nodes.LogFilter{Action: nodes.ActionReboot})
		must(t, err)
		byNode := map[string]string{}
		for _, e := range log {
			byNode[strings.Join(e.Nodes, ",")] = e.Result
		}
		if len(byNode) != rebootNodes+3 || !strings.HasPrefix(byNode["n07"], "ok") || !strings.HasPrefix(byNode[nUnknown], "host key unknown") {
			t.Fatalf("reboot entries: %v", byNode)
		}
		hooks, err := st.Log(t.Context(), nodes.LogFilter{Action: nodes.ActionHook})
		must(t, err)
		if len(hooks) != 2 || hooks[0].Reason != "pre-reboot 10-record" || hooks[0].Result != "10-record: exit 0" {
			t.Fatalf("hook entries: %+v", hooks)
		}
	})
	t.Run("windows nodes are the Windows head's", func(t *testing.T) {
		_, errOut, code := reboot("w01", "--reboot-command", markCmd)
		if code != 1 || !strings.Contains(errOut, "Restart-HpcNode") || !strings.Contains(errOut, "--force") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
	t.Run("auth failed", func(t *testing.T) {
		out, errOut, code := reboot("n01", "--reboot-user", "nosuchuser", "--reboot-command", markCmd)
		if code != 1 || !strings.Contains(out, "auth failed") {
			t.Fatalf("exit %d: %s %s", code, out, errOut)
		}
	})
	t.Run("command failed", func(t *testing.T) {
		out, errOut, code := reboot("n01", "--reboot-command", "echo no reboot for you >&2; exit 3")
		if code != 1 || !strings.Contains(out, "command failed") || !strings.Contains(out, "exited 3: no reboot for you") {
			t.Fatalf("exit %d: %s %s", code, out, errOut)
		}
	})
	t.Run("connection dropped by the reboot counts as rebooted", func(t *testing.T) {
		out, errOut, code := reboot("n02", "--reboot-command", "kill -9 $PPID")
		if code != 0 || !strings.Contains(out, "connection closed by the reboot") {
			t.Fatalf("exit %d: %s %s", code, out, errOut)
		}
	})
	t.Run("move --reboot", func(t *testing.T) {
		flags := []string{"--reboot-key", clientKey, "--known-hosts", knownHosts, "--reboot-command", markCmd}
		os.Remove(filepath.Join(markers, addrOf(4).String()))
		// n04 runs Linux: moving it to Windows reboots it over SSH, and
		// stdout stays one JSON document for ConvertFrom-Json.
		out, errOut, code := run(t, head.Command(bin, append([]string{"--db", db, "move", "n04", "--to", "windows", "--reboot", "--json"}, flags...)...))
		var v map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil || !strings.Contains(errOut, "1 rebooted, 0 failed") {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		if _, err := os.Stat(filepath.Join(markers, addrOf(4).String())); err != nil {
			t.Fatalf("n04 not rebooted: %v", err)
		}
		if !strings.Contains(out, `"status": "ok"`) {
			t.Fatalf("move --reboot --json lacks the per-node reboot result:\n%s", out)
		}
		// Back to Linux: n04 is running Windows now, the Windows head
		// restarts it, so the move is refused before anything changes.
		_, errOut, code = run(t, head.Command(bin, append([]string{"--db", db, "move", "n04", "--to", "linux", "--reboot"}, flags...)...))
		if code != 1 || !strings.Contains(errOut, "Restart-HpcNode") || !strings.Contains(errOut, "nothing changed") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		st, err := nodes.Open(db)
		must(t, err)
		defer st.Close()
		n, err := st.Node(t.Context(), "n04")
		must(t, err)
		if n.Cluster != "windows" {
			t.Fatalf("n04 moved to %s although its reboot was refused", n.Cluster)
		}
	})
	t.Run("pre-reboot hook vetoes", func(t *testing.T) {
		must(t, os.WriteFile(filepath.Join(hooksDir, "05-veto"), []byte("#!/bin/sh\necho maintenance window closed; exit 1\n"), 0o755))
		defer os.Remove(filepath.Join(hooksDir, "05-veto"))
		os.Remove(filepath.Join(markers, addrOf(3).String()))
		_, errOut, code := reboot("n03", "--reboot-command", markCmd)
		if code != 1 || !strings.Contains(errOut, "vetoed") || !strings.Contains(errOut, "maintenance window closed") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if _, err := os.Stat(filepath.Join(markers, addrOf(3).String())); err == nil {
			t.Fatal("vetoed reboot happened")
		}
	})
}
