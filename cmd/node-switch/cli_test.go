package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/pgtest"
	"github.com/node-switch/node-switch/ops"
)

// run runs one command line in-process against db, as the local CLI would.
func run(t *testing.T, db string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader(""), Actor: nodes.Actor{Name: "tester", Channel: nodes.ChannelCLI, From: "local"}}
	err := Run(context.Background(), env, append([]string{"node-switch", "--db", db}, args...))
	status = exitStatus(env, err)
	return out.String(), errb.String(), status
}

func mustRun(t *testing.T, db string, args ...string) string {
	t.Helper()
	out, errs, st := run(t, db, args...)
	if st != 0 {
		t.Fatalf("node-switch %s: exit %d: %s", strings.Join(args, " "), st, errs)
	}
	return out
}

func sourceDB(t *testing.T) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "inventory.db")
	mustRun(t, db, "import", "dhcpd", um64Conf, "--name-map", "um64_win=windows", "--name-map", "um64_linux=linux")
	return db
}

var headerRE = regexp.MustCompile(`(?m)^# ISC dhcpd.conf written by node-switch.*\n`)

// TestSourceSystemScripts replays the source system's scripts 1 (Windows →
// Linux) and 3 (mask) and checks the dhcpd.conf they would have left.
func TestSourceSystemScripts(t *testing.T) {
	db := sourceDB(t)
	status := mustRun(t, db, "status")
	for _, want := range []string{"linux    linux    linux      umu[20-23]  4", "windows  windows  localdisk  umu[18-19]  2"} {
		if !strings.Contains(status, want) {
			t.Errorf("status after import lacks %q:\n%s", want, status)
		}
	}
	mustRun(t, db, "move", "umu[18-19]", "--to", "linux", "--reason", "script 1")
	mustRun(t, db, "mask", "umu20", "--reason", "script 3")
	got := headerRE.ReplaceAllString(mustRun(t, db, "export", "dhcpd"), "")
	golden := filepath.Join("..", "..", "testdata", "um64-after-script1-script3.conf")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("export after scripts 1 and 3 differs from %s:\n%s", golden, got)
	}
}

func TestImportExportLossless(t *testing.T) {
	db := sourceDB(t)
	mustRun(t, db, "subnet", "set", "192.168.1.0/24", "--router", "192.168.1.1", "--dns", "192.168.1.2,192.168.1.3",
		"--domain", "um64.example", "--next-server", "192.168.1.1", "--lease-time", "12h")
	mustRun(t, db, "mask", "umu19,umu22", "--reason", "reinstall")
	mustRun(t, db, "move", "umu21", "--to", "windows")
	mustRun(t, db, "profile", "add", "empty", "--kind", "linux", "--boot-file", "bios=empty/lpxelinux.0")
	mustRun(t, db, "cluster", "add", "spare", "--profile", "empty")
	conf := filepath.Join(t.TempDir(), "dhcpd.conf")
	mustRun(t, db, "export", "dhcpd", "-o", conf)
	// The fallback must really be usable: ISC dhcpd itself checks it.
	dhcpdAccepts(t, conf)

	db2 := filepath.Join(t.TempDir(), "copy.db")
	mustRun(t, db2, "import", "dhcpd", conf)
	for _, cmd := range [][]string{
		{"node", "list", "--json"}, {"status", "--json"}, {"subnet", "list", "--json"}, {"cluster", "list", "--json"},
	} {
		a, b := mustRun(t, db, cmd...), mustRun(t, db2, cmd...)
		if cmd[0] == "node" {
			// Event numbers are the logbook's; dhcpd.conf has no place for them.
			re := regexp.MustCompile(`(?m)^\s*"event": .*\n`)
			a, b = re.ReplaceAllString(a, ""), re.ReplaceAllString(b, "")
		}
		if a != b {
			t.Errorf("%v differs after export+import:\nbefore: %s\nafter:  %s", cmd, a, b)
		}
	}
	pa, pb := mustRun(t, db, "profile", "show", "windows", "--json"), mustRun(t, db2, "profile", "show", "windows", "--json")
	if pa != pb {
		t.Errorf("profile windows differs: %s vs %s", pa, pb)
	}
}

// dhcpdAccepts has ISC dhcpd check a config the way it would load it, as a
// subtest that skips (visibly) where isc-dhcp-server is not installed.
// Debian installs dhcpd in /usr/sbin, which a user's PATH often lacks, so
// the path is fixed rather than looked up.
func dhcpdAccepts(t *testing.T, conf string) {
	t.Helper()
	t.Run("dhcpd -t", func(t *testing.T) {
		netlab.Require(t, dhcpdPath+"=isc-dhcp-server")
		if out, err := exec.Command(dhcpdPath, "-t", "-4", "-cf", conf).CombinedOutput(); err != nil {
			t.Errorf("dhcpd -t rejects the export %s: %v\n%s", conf, err, out)
		}
	})
}

const dhcpdPath = "/usr/sbin/dhcpd"

func TestImportMalformed(t *testing.T) {
	tests := []struct {
		name, conf, want string
	}{
		{"missing semicolon", "group {\nfilename \"a/pxelinux.0\"\nhost n1 {hardware ethernet 00:18:F3:4E:5D:59; fixed-address 10.0.0.1; }\n}\n", "bad.conf:2: missing ';' after filename \"a/pxelinux.0\""},
		{"bad MAC", "group {\nfilename \"a/pxelinux.0\";\nhost n1 {hardware ethernet 00:18:F3:4E:5D;\nfixed-address 10.0.0.1; }\n}\n", "bad.conf:3: host n1: malformed MAC"},
		{"bad IP", "group {\nfilename \"a/pxelinux.0\";\nhost n1 {hardware ethernet 00:18:F3:4E:5D:59;\nfixed-address 10.0.0.300; }\n}\n", "bad.conf:4: host n1: fixed-address"},
		{"unclosed group", "group {\nfilename \"a/pxelinux.0\";\n", "missing '}'"},
		{"stray brace", "}\n", "bad.conf:1: '}' without"},
		{"duplicate MAC", "group {\nfilename \"a/pxelinux.0\";\nhost n1 {hardware ethernet 00:18:F3:4E:5D:59; fixed-address 10.0.0.1; }\nhost n2 {hardware ethernet 00:18:F3:4E:5D:59; fixed-address 10.0.0.2; }\n}\n", "node n2: duplicate MAC"},
		{"no boot file", "host n1 {hardware ethernet 00:18:F3:4E:5D:59; fixed-address 10.0.0.1; }\n", "bad.conf:1: host n1: no filename"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "bad.conf")
			os.WriteFile(conf, []byte(tt.conf), 0o644)
			db := filepath.Join(dir, "inv.db")
			_, errs, st := run(t, db, "import", "dhcpd", conf)
			if st == 0 || !strings.Contains(errs, tt.want) || !strings.Contains(errs, "nothing imported") {
				t.Fatalf("import: exit %d, stderr %q, want %q", st, errs, tt.want)
			}
			if out := mustRun(t, db, "node", "list", "--json"); strings.TrimSpace(out) != "[]" {
				t.Errorf("a failed import left nodes: %s", out)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	db := sourceDB(t)
	tests := []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"node", "add", "umu24", "--mac", "00:18:F3:4E:5D:59", "--ip", "192.168.1.24", "--cluster", "linux"}, 1, "add node umu24: duplicate MAC 00:18:f3:4e:5d:59: already reserved for umu18"},
		{[]string{"node", "add", "umu24", "--mac", "00:18:F3:4E:5D:99", "--ip", "192.168.1.18", "--cluster", "linux"}, 1, "add node umu24: duplicate IP 192.168.1.18: already reserved for umu18"},
		{[]string{"node", "add", "umu24", "--mac", "zz:18:F3:4E:5D:99", "--ip", "192.168.1.24", "--cluster", "linux"}, 2, `node add umu24: malformed MAC address "zz:18:F3:4E:5D:99"`},
		{[]string{"node", "add", "umu24", "--mac", "00:18:F3:4E:5D:99", "--ip", "192.168.1", "--cluster", "linux"}, 2, `node add umu24: malformed IPv4 address "192.168.1"`},
		{[]string{"node", "add", "umu24", "--mac", "00:18:F3:4E:5D:99", "--ip", "192.168.1.24", "--cluster", "solaris"}, 1, `add node umu24: unknown cluster "solaris"`},
		{[]string{"move", "umu[18-30]", "--to", "linux"}, 2, "unknown node umu[24-30]"},
		{[]string{"move", "umu18", "--to", "solaris"}, 2, `unknown cluster "solaris"`},
		{[]string{"move", "--to", "linux"}, 2, "which nodes?"},
		{[]string{"move", "umu[20-21]", "--to", "linux"}, 1, "umu[20-21] already in cluster linux"},
		{[]string{"mask", "nosuch"}, 2, "unknown node nosuch"},
		{[]string{"unmask", "umu18"}, 1, "umu18 already not masked"},
	}
	before := mustRun(t, db, "node", "list", "--json")
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, errs, st := run(t, db, tt.args...)
			if st != tt.status || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", st, errs, tt.status, tt.want)
			}
			if n := strings.Count(strings.TrimSpace(errs), "\n"); n > 0 {
				t.Errorf("error is %d lines, want one: %q", n+1, errs)
			}
		})
	}
	if after := mustRun(t, db, "node", "list", "--json"); after != before {
		t.Errorf("bad input changed the inventory:\n%s", after)
	}
}

func TestFlagsAnywhere(t *testing.T) {
	db := sourceDB(t)
	// Flags after the range, before it, "=" forms, and an exclusion range
	// that starts with '-'.
	mustRun(t, db, "move", "--to", "linux", "umu18", "--dry-run")
	mustRun(t, db, "move", "umu18", "--to=linux", "--reason", "a b c")
	// windows is only umu19 now, so the exclusion leaves nothing.
	if _, errs, st := run(t, db, "move", "windows,-umu19", "--json", "--to", "linux"); st != 2 || !strings.Contains(errs, "names no nodes") {
		t.Fatalf("move windows,-umu19: exit %d, %q", st, errs)
	}
	mustRun(t, db, "move", "all,-linux", "--to", "linux")
}

func TestMoveJSON(t *testing.T) {
	db := sourceDB(t)
	out := mustRun(t, db, "move", "umu[18-20]", "--to", "linux", "--json", "--reason", "nightly")
	var r ops.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.Nodes, ",") != "umu18,umu19" || r.From != "windows" || r.To != "linux" || strings.Join(r.Skipped, ",") != "umu20" || r.Event == 0 {
		t.Errorf("move --json = %+v", r)
	}
	var evs []nodes.Event
	if err := json.Unmarshal([]byte(mustRun(t, db, "log", "umu19", "--json")), &evs); err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Action != nodes.ActionMove || last.Reason != "nightly" || last.Actor != "tester" || last.Channel != "cli" {
		t.Errorf("log entry = %+v", last)
	}
}

// TestConcurrentProcesses runs 50 CLI processes at once, moving and masking,
// on each backend; no "database is locked" (or serialization failure) may
// reach a user and no logbook entry may be lost.
func TestConcurrentProcesses(t *testing.T) {
	bin := netlab.Binary(t)
	for _, b := range []struct {
		name string
		db   func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "inventory.db") }},
		{"postgres", func(t *testing.T) string { return pgtest.Start(t).NewDB(t) }},
	} {
		t.Run(b.name, func(t *testing.T) { concurrentProcesses(t, bin, b.db(t)) })
	}
}

func concurrentProcesses(t *testing.T, bin, db string) {
	mustRun(t, db, "profile", "add", "p", "--kind", "linux")
	for i := 0; i < 2; i++ {
		mustRun(t, db, "cluster", "add", fmt.Sprintf("c%d", i), "--profile", "p")
	}
	for i := 0; i < 50; i++ {
		mustRun(t, db, "node", "add", fmt.Sprintf("n%d", i), "--mac", fmt.Sprintf("02:00:00:00:00:%02x", i), "--ip", fmt.Sprintf("10.0.0.%d", i+1), "--cluster", "c0")
	}
	before := countEvents(t, db)
	var wg sync.WaitGroup
	errs := make(chan string, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			args := []string{"--db", db, "move", fmt.Sprintf("n%d", i), "--to", "c1", "--reason", "concurrent"}
			if i%2 == 1 {
				args = []string{"--db", db, "mask", fmt.Sprintf("n%d", i), "--reason", "concurrent"}
			}
			out, err := exec.Command(bin, args...).CombinedOutput()
			if err != nil {
				errs <- fmt.Sprintf("%v: %v: %s", args, err, out)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := countEvents(t, db) - before; got != 50 {
		t.Errorf("logbook grew by %d entries, want 50", got)
	}
	out := mustRun(t, db, "status", "--json")
	var d nodes.Distribution
	json.Unmarshal([]byte(out), &d)
	if len(d.Masked) != 25 {
		t.Errorf("%d masked, want 25", len(d.Masked))
	}
}

func countEvents(t *testing.T, db string) int {
	var evs []nodes.Event
	if err := json.Unmarshal([]byte(mustRun(t, db, "log", "--json")), &evs); err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// TestKillDuringMove kills "move" of 1,000 nodes with SIGKILL, at random
// moments and at moments known to be inside the move's transaction: every
// time, either all nodes moved with their logbook entry or none did.
//
// A kill is known to land inside the transaction when, after the pre-move
// hook's logbook entry has committed (the last write before the move's
// own), the test's BEGIN IMMEDIATE finds the write lock taken, and the kill
// follows: the lock holder can only be the move, and if no node moved, the
// move had begun and was rolled back.
func TestKillDuringMove(t *testing.T) {
	bin := netlab.Binary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "inventory.db")
	hooksDir := filepath.Join(dir, "hooks.d")
	if err := os.Mkdir(hooksDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hooksDir, "10-mark"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, db, "profile", "add", "p", "--kind", "linux")
	mustRun(t, db, "cluster", "add", "a", "--profile", "p")
	mustRun(t, db, "cluster", "add", "b", "--profile", "p")
	st, err := nodes.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	inv := nodes.Inventory{}
	for i := 1; i <= 1000; i++ {
		n := nodes.Node{Name: fmt.Sprintf("n%d", i), MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff), Cluster: "a"}
		n.IP, _ = nodes.ParseIP(fmt.Sprintf("10.1.%d.%d", i>>8, i&0xff))
		inv.Nodes = append(inv.Nodes, n)
	}
	ctx := context.Background()
	if _, err := st.Import(ctx, nodes.Actor{Name: "t", Channel: "cli"}, inv, ""); err != nil {
		t.Fatal(err)
	}
	// The probe: a writer that never waits, so a taken lock is an error.
	probe, err := sql.Open("sqlite3", "file:"+db+"?_busy_timeout=0&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	probe.SetMaxOpenConns(1)
	lockTaken := func() bool {
		tx, err := probe.Begin()
		if err == nil {
			tx.Rollback()
			return false
		}
		var se sqlite3.Error
		if !errors.As(err, &se) || se.Code != sqlite3.ErrBusy {
			t.Fatalf("probe: %v", err)
		}
		return true
	}
	lastHook := func() int64 {
		evs, err := st.Log(ctx, nodes.LogFilter{Action: nodes.ActionHook, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return 0
		}
		return evs[0].ID
	}

	rng := rand.New(rand.NewSource(1))
	var random, inside, insideRolledBack, completed int
	target := "b"
	for round := 0; round < 24; round++ {
		hookBefore := lastHook()
		cmd := exec.Command(bin, "--db", db, "--hooks-dir", hooksDir, "move", "n[1-1000]", "--to", target)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		var werr error
		go func() { werr = cmd.Wait(); close(exited) }()
		killedInside := false
		if round%2 == 1 {
			// Spin (no sleeps: the transaction lasts milliseconds) until
			// the move holds the lock or has finished.
		spin:
			for {
				select {
				case <-exited:
					break spin
				default:
				}
				if lastHook() > hookBefore && lockTaken() {
					cmd.Process.Signal(syscall.SIGKILL)
					inside++
					killedInside = true
					break spin
				}
			}
		} else {
			time.Sleep(time.Duration(rng.Intn(80)) * time.Millisecond)
			cmd.Process.Signal(syscall.SIGKILL)
			random++
		}
		<-exited
		if werr == nil {
			completed++
		}
		// Whatever happened, the inventory is whole: all in one cluster,
		// and the newest move in the logbook says which.
		out := mustRun(t, db, "status", "--json")
		var d nodes.Distribution
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatal(err)
		}
		var full string
		for _, c := range d.Clusters {
			switch len(c.Nodes) {
			case 1000:
				full = c.Name
			case 0:
			default:
				t.Fatalf("round %d: cluster %s has %d of 1000 nodes: a half-applied move", round, c.Name, len(c.Nodes))
			}
		}
		var evs []nodes.Event
		json.Unmarshal([]byte(mustRun(t, db, "log", "--json", "--action", "move", "--limit", "1")), &evs)
		want := "a"
		if len(evs) > 0 {
			want = evs[0].Target
		}
		if full != want {
			t.Fatalf("round %d: nodes are in %s but the logbook's last move says %s", round, full, want)
		}
		if full == target {
			target = map[string]string{"a": "b", "b": "a"}[target]
		} else if killedInside {
			insideRolledBack++
		}
	}
	t.Logf("%d kills at random moments, %d while the move held the lock (%d of them rolled back), %d moves completed",
		random, inside, insideRolledBack, completed)
	if insideRolledBack == 0 {
		t.Fatalf("no kill landed inside the move's transaction in %d tries: the test proved nothing about rollback", inside)
	}
}

// A node or key may be called "h" or "help": urfave/cli's help subcommand
// on every command took such an argument for itself, printed help and
// exited 0 with nothing done (ssh-key rm of a fingerprint starting "h"
// did so in TestSSHKeyRemoveByFingerprint now and then).
func TestArgumentsNamedHelp(t *testing.T) {
	db := sourceDB(t)
	for i, name := range []string{"h", "help"} {
		mustRun(t, db, "node", "add", name, "--mac", fmt.Sprintf("00:18:f3:4e:5e:%02x", 0x70+i), "--ip", fmt.Sprintf("192.168.1.%d", 70+i), "--cluster", "linux")
		out := mustRun(t, db, "move", name, "--to", "windows", "--reason", "named like help")
		if !strings.Contains(out, "moved "+name+" from linux to windows") {
			t.Errorf("move %s: %q, want it moved", name, out)
		}
	}
	if _, errs, st := run(t, db, "ssh-key", "rm", "h"); st != exitUsage || !strings.Contains(errs, "remove ssh key h") {
		t.Errorf("ssh-key rm h: exit %d, %q; want exit %d naming the key", st, errs, exitUsage)
	}
	if out := mustRun(t, db, "move", "--help"); !strings.Contains(out, "USAGE") {
		t.Errorf("move --help no longer shows help:\n%s", out)
	}
}

// um64Conf is the source system's dhcpd.conf (the demo embeds it; testdata
// links to it).
const um64Conf = "../../testdata/um64-dhcpd.conf"
