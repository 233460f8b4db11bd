package nfse2e

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

var unitFiles = []string{"node-switch-lab-night.service", "node-switch-lab-night.timer", "node-switch-lab-morning.service", "node-switch-lab-morning.timer"}

const unitDir = "../../systemd"

// installedUnits copies the shipped units to a temporary directory with
// ExecStart pointing at the freshly built binary, as a package would
// install them.
func installedUnits(t *testing.T, bin string) string {
	dir := t.TempDir()
	for _, f := range unitFiles {
		b, err := os.ReadFile(filepath.Join(unitDir, f))
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.ReplaceAll(string(b), "/usr/bin/node-switch", bin))
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestUnitsVerify(t *testing.T) {
	netlab.Require(t, "systemd-analyze=systemd")
	dir := installedUnits(t, netlab.Binary(t))
	args := []string{"verify"}
	for _, f := range unitFiles {
		args = append(args, filepath.Join(dir, f))
	}
	cmd := exec.Command("systemd-analyze", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// unit is what a test needs of a service file.
type unit struct {
	env          []string // Environment= entries
	execStartPre []string
	execStart    string
}

func readUnit(t *testing.T, name string) unit {
	f, err := os.Open(filepath.Join(unitDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var u unit
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		switch {
		case !ok:
		case k == "Environment":
			u.env = append(u.env, strings.Trim(v, `"`))
		case k == "ExecStart":
			u.execStart = v
		case k == "ExecStartPre":
			u.execStartPre = append(u.execStartPre, v)
		}
	}
	if u.execStart == "" {
		t.Fatalf("%s has no ExecStart", name)
	}
	return u
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// execArgs splits an ExecStart line into words the way systemd does for the
// forms the units use: double-quoted words and ${VAR} expanded from env.
func execArgs(line string, env map[string]string) []string {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted = !quoted
			inWord = true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	for i, w := range words {
		words[i] = envRef.ReplaceAllStringFunc(w, func(m string) string { return env[m[2:len(m)-1]] })
	}
	return words
}

func TestExecArgs(t *testing.T) {
	got := execArgs(`/usr/bin/node-switch move ${A} --to ${B} --reason "nightly lab conversion"`, map[string]string{"A": "lab-day", "B": "lab-night"})
	want := []string{"/usr/bin/node-switch", "move", "lab-day", "--to", "lab-night", "--reason", "nightly lab conversion"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestNightlyConversion runs the exact command lines of the night and
// morning units against an inventory whose night cluster boots a checked
// NFS root served by nfs-ganesha: the lab's PCs move in one transaction,
// the logbook records the timer as the channel, switched-off PCs get their
// magic packets, and the failing reboot (no sshd on these PCs) makes the
// unit fail without undoing the move.
func TestNightlyConversion(t *testing.T) {
	lab := netlab.New(t)
	ns := lab.Namespace("lab")
	_, server := lab.HostLink(ns)
	good, _, _ := netlab.NFSRootFixtures(t)
	g := ns.StartGanesha(netlab.GaneshaExport{Path: good})
	listener := wolListener(t, ns)
	pc01MAC, pc02MAC := linkMAC(t, ns), "52:54:00:0c:00:02"

	c := newCLI(t)
	c.must("nfsroot", "add", "lab-root", "--server", server, "--export", good, "--kernel", "lab/vmlinuz", "--initrd", "lab/initrd.img",
		"--kernel-version", netlab.FixtureKernelVersion)
	c.must("nfsroot", "check", "lab-root")
	c.must("profile", "add", "day", "--kind", "localdisk")
	c.must("profile", "add", "night", "--kind", "nfsroot", "--nfsroot", "lab-root")
	c.must("cluster", "add", "lab-day", "--profile", "day")
	c.must("cluster", "add", "lab-night", "--profile", "night")
	c.must("node", "add", "pc01", "--mac", pc01MAC, "--ip", server, "--cluster", "lab-day")
	c.must("node", "add", "pc02", "--mac", pc02MAC, "--ip", netlab.Spare(server, 1), "--cluster", "lab-day")
	// /etc/node-switch/lab.env as README.md ("Diskless lab") describes it.
	labEnv := map[string]string{"LAB_DAY_CLUSTER": "lab-day", "LAB_NIGHT_CLUSTER": "lab-night"}

	st, err := nodes.Open(c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()

	rebootKey, knownHosts := filepath.Join(t.TempDir(), "id_ed25519"), filepath.Join(t.TempDir(), "known_hosts")
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "night run")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rebootKey, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(knownHosts, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	// runUnit runs a service's ExecStartPre and ExecStart lines as systemd
	// would, returning the output and the main command's exit error.
	runUnit := func(name string) (string, error) {
		u := readUnit(t, name)
		saved := c.env
		// A real key and an empty known_hosts: the move's checks pass, and
		// each PC's reboot then fails on its own (no sshd there).
		c.env = append(append([]string{}, u.env...), "NODE_SWITCH_REBOOT_KEY="+rebootKey, "NODE_SWITCH_KNOWN_HOSTS="+knownHosts)
		defer func() { c.env = saved }()
		var all strings.Builder
		for _, line := range append(u.execStartPre, u.execStart) {
			ignoreFailure := strings.HasPrefix(line, "-")
			args := execArgs(strings.TrimPrefix(line, "-"), labEnv)
			if args[0] != "/usr/bin/node-switch" {
				t.Fatalf("%s runs %s, want /usr/bin/node-switch", name, args[0])
			}
			out, errs, err := c.run(args[1:]...)
			all.WriteString(out + errs)
			if err != nil && line != u.execStart && !ignoreFailure {
				return all.String(), err
			}
			if line == u.execStart {
				return all.String(), err
			}
		}
		panic("unreachable")
	}
	clusterOf := func(name string) string {
		n, err := st.Node(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return n.Cluster
	}

	out, err := runUnit("node-switch-lab-night.service")
	t.Logf("night run (%v):\n%s", err, out)
	if err == nil || !strings.Contains(out, "reboot") {
		t.Fatalf("night run: want a failure naming the reboot (no sshd on the PCs), got %v:\n%s", err, out)
	}
	if clusterOf("pc01") != "lab-night" || clusterOf("pc02") != "lab-night" {
		t.Fatalf("after the night run the PCs are not in lab-night:\n%s", out)
	}
	if !waitMagic(listener, pc01MAC) || !waitMagic(listener, pc02MAC) {
		t.Fatalf("the night run woke nobody; listener saw:\n%s\nrun said:\n%s", listener.Output(), out)
	}
	moves, err := st.Log(ctx, nodes.LogFilter{Action: nodes.ActionMove})
	if err != nil || len(moves) != 1 {
		t.Fatalf("logbook moves: %+v, %v", moves, err)
	}
	if m := moves[0]; m.Channel != nodes.ChannelTimer || m.Actor != "node-switch-lab-night.timer" || m.Reason != "nightly lab conversion" || nodes.Compress(m.Nodes) != "pc[01-02]" ||
		m.Source != "lab-day" || m.Target != "lab-night" {
		t.Fatalf("logbook move entry: %+v", m)
	}
	wakes, err := st.Log(ctx, nodes.LogFilter{Action: nodes.ActionPowerOn})
	if err != nil || len(wakes) != 1 || wakes[0].Channel != nodes.ChannelTimer || !strings.HasPrefix(wakes[0].Result, "magic packets sent to pc[01-02]") {
		t.Fatalf("logbook power-on entries: %+v, %v", wakes, err)
	}

	out, err = runUnit("node-switch-lab-morning.service")
	if err == nil {
		t.Fatalf("morning run: want the reboot failure reported, got success:\n%s", out)
	}
	if clusterOf("pc01") != "lab-day" || clusterOf("pc02") != "lab-day" {
		t.Fatalf("after the morning run the PCs are not back in lab-day:\n%s", out)
	}
	moves, _ = st.Log(ctx, nodes.LogFilter{Action: nodes.ActionMove})
	if len(moves) != 2 || moves[1].Reason != "morning lab conversion" || moves[1].Channel != nodes.ChannelTimer {
		t.Fatalf("logbook moves: %+v", moves)
	}

	// The NFS server dies during the day: the next night run's re-check
	// records the failure and the move refuses it, so the PCs stay on
	// their local disks instead of hanging at boot.
	g.Stop()
	out, err = runUnit("node-switch-lab-night.service")
	if err == nil || !strings.Contains(out, "whose last check failed") || !strings.Contains(out, "not registered with the portmapper") {
		t.Fatalf("night run with the NFS server down: want the move refused with the check's reason, got %v:\n%s", err, out)
	}
	if clusterOf("pc01") != "lab-day" || clusterOf("pc02") != "lab-day" {
		t.Fatalf("the PCs moved onto a dead NFS root:\n%s", out)
	}
}
