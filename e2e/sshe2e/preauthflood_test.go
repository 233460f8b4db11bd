package sshe2e

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/sshfront"
)

// TestPreAuthFlood holds 100 TCP connections to the front door from one
// address, none of which ever sends a banner, and runs OpenSSH's ssh with a
// registered key from another address meanwhile: the key must get in. The
// head namespace reaches the flooder and the operator over a veth each.
func TestPreAuthFlood(t *testing.T) {
	netlab.Require(t, "ssh=openssh-client", "ssh-keygen=openssh-client", "bash", "ss=iproute2")
	lab := netlab.New(t)
	bin := netlab.Binary(t)
	dir := t.TempDir()
	db := inventory(t, dir, 2, 2, netip.MustParseAddr("10.77.0.10"))
	key := keygen(t, dir, "winhead", "-t", "ed25519")
	if out, errOut, code := nodeSwitch(t, bin, db, "ssh-key", "add", key+".pub", "--role", "operate"); code != 0 {
		t.Fatalf("ssh-key add: %d %s %s", code, out, errOut)
	}
	out, errOut, code := nodeSwitch(t, bin, db, "ssh", "hostkey", "--generate", "--json")
	if code != 0 {
		t.Fatalf("ssh hostkey: %s", errOut)
	}
	var hk struct {
		PublicKey string `json:"public_key"`
	}
	must(t, json.Unmarshal([]byte(out), &hk))
	knownHosts := filepath.Join(dir, "known_hosts")
	must(t, os.WriteFile(knownHosts, []byte("[10.79.2.1]:2222 "+hk.PublicKey+"\n"), 0o600))

	head, flooder, operator := lab.Namespace("head"), lab.Namespace("flood"), lab.Namespace("op")
	lab.Veth(head, "fl0", flooder, "fl1")
	head.Addr("fl0", "10.79.1.1/24")
	flooder.Addr("fl1", "10.79.1.2/24")
	lab.Veth(head, "op0", operator, "op1")
	head.Addr("op0", "10.79.2.1/24")
	operator.Addr("op1", "10.79.2.2/24")

	// Default limits on purpose: they are what a site runs.
	srv := head.Start([]string{"NODE_SWITCH_HOOKS_DIR=" + filepath.Join(dir, "hooks.d")}, bin,
		append([]string{"--db", db, "serve", "--ssh-listen", ":2222"}, onlySSH(t, bin)...)...)
	if !netlab.WaitFor(30*time.Second, func() bool { return srv.Exited() || strings.Contains(srv.Output(), "SSH front door listening") }) || srv.Exited() {
		t.Fatalf("serve did not start:\n%s", srv.Output())
	}

	// bash's /dev/tcp connects and sends nothing; exec keeps every
	// descriptor open in the sleep that replaces the shell.
	const flood = 100
	fl := flooder.Start(nil, "bash", "-c", `for i in $(seq `+strconv.Itoa(flood)+`); do exec {fd}<>/dev/tcp/10.79.1.1/2222 || exit 1; done; echo held; exec sleep 600`)
	if !netlab.WaitFor(30*time.Second, func() bool { return fl.Exited() || strings.Contains(fl.Output(), "held") }) || fl.Exited() {
		t.Fatalf("flood did not connect:\n%s", fl.Output())
	}
	// Once the listener's accept queue is empty the server has decided on
	// every flood connection; those it holds are still established.
	if !netlab.WaitFor(30*time.Second, func() bool { return acceptQueue(t, head) == 0 }) {
		t.Fatal("the server never accepted the flood's connections")
	}
	heldBefore := heldFrom(t, head, "10.79.1.2")
	if heldBefore != sshfront.DefaultPerSourceMaxStartups {
		t.Errorf("server holds %d of the flood's %d connections, want PerSourceMaxStartups = %d", heldBefore, flood, sshfront.DefaultPerSourceMaxStartups)
	}

	start := time.Now()
	out, errOut, code = run(t, operator.Command("ssh", "-p", "2222", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile="+knownHosts, "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=30", "-i", key, "winhead@10.79.2.1", "status --json"))
	took := time.Since(start)
	if code != 0 {
		t.Errorf("a registered key from another address was locked out by the flood: exit %d: %s", code, errOut)
	} else {
		var d nodes.Distribution
		if err := json.Unmarshal([]byte(out), &d); err != nil || len(d.Clusters) != 2 {
			t.Errorf("status --json: %v\n%s", err, out)
		}
	}
	// The flood must still have been held when ssh finished, or this run
	// proved nothing.
	if held := heldFrom(t, head, "10.79.1.2"); held == 0 {
		t.Fatalf("the flood was no longer held when ssh finished (%s after it started); nothing was proved", took)
	}

	// One line at the first refusal, then a sum for the window: not a line
	// per refused connection.
	refused := flood - heldBefore
	if !netlab.WaitFor(60*time.Second, func() bool { return strings.Contains(srv.Output(), "ssh connections refused") }) {
		t.Fatalf("no summary of the refused connections in the log:\n%s", srv.Output())
	}
	logged := srv.Output()
	for _, l := range strings.Split(logged, "\n") {
		if strings.Contains(l, "refused") {
			t.Log(l)
		}
	}
	t.Logf("held %d of %d flood connections; ssh status took %s", heldBefore, flood, took.Round(time.Millisecond))
	if n := strings.Count(logged, "ssh connection refused"); n != 1 {
		t.Errorf("%d lines for single refusals, want 1:\n%s", n, logged)
	}
	if !strings.Contains(logged, "PerSourceMaxStartups") || !strings.Contains(logged, "count="+strconv.Itoa(refused-1)) ||
		!strings.Contains(logged, "10.79.1.2") {
		t.Errorf("want the first refusal and a sum of %d more from 10.79.1.2 naming PerSourceMaxStartups:\n%s", refused-1, logged)
	}
}

// acceptQueue is how many connections wait in the SSH listener's accept
// queue (Recv-Q of a listening socket).
func acceptQueue(t *testing.T, ns *netlab.NS) int {
	t.Helper()
	f := strings.Fields(ns.MustRun("ss", "-Hltn", "sport = :2222"))
	if len(f) < 2 {
		t.Fatalf("no listener on :2222 in %s", ns.Name)
	}
	n, err := strconv.Atoi(f[1])
	must(t, err)
	return n
}

// heldFrom counts established connections to the SSH port from addr, as
// the server's side sees them: a connection the server refused is closed on
// its side even while the flooder keeps its end open.
func heldFrom(t *testing.T, ns *netlab.NS, addr string) int {
	t.Helper()
	out := ns.MustRun("ss", "-Htn", "state", "established", "sport = :2222 and dst "+addr)
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return n
}
