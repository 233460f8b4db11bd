// Package pge2e runs several boot servers on one PostgreSQL inventory:
// two "node-switch serve" in network namespaces of their own, each on its
// own bridge with busybox udhcpc clients, a PostgreSQL the test starts
// (nodes/pgtest: initdb in a temporary directory as an unprivileged user,
// unix socket only, which both namespaces reach through the file system),
// and the CLI moving nodes against it.
//
//	go test ./e2e/pge2e/   (as root; skips without root, busybox or PostgreSQL)
package pge2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes/pgtest"
)

const (
	linuxFile = "um64_linux/pxelinux.0"
	winFile   = "um64_win/pxelinux.0"
)

// segment is one boot server's namespace and bridge, with one client.
type segment struct {
	name   string
	srv    *netlab.NS
	client *netlab.NS
	mac    string // the client's, a node's
	server *netlab.Proc
}

func newSegment(t *testing.T, lab *netlab.Lab, i int, cidr, mac string) *segment {
	s := &segment{name: fmt.Sprintf("seg%d", i), mac: mac}
	s.srv = lab.Namespace(fmt.Sprintf("s%d", i))
	s.srv.Bridge("br0", cidr)
	s.client = s.plug(lab, fmt.Sprintf("c%d", i), "p0", mac)
	return s
}

func (s *segment) plug(lab *netlab.Lab, short, port, mac string) *netlab.NS {
	ns := lab.Namespace(short)
	lab.Veth(s.srv, port, ns, "eth0")
	s.srv.Enslave(port, "br0")
	ns.MustRun("ip", "link", "set", "eth0", "down")
	ns.SetMAC("eth0", mac)
	ns.MustRun("ip", "link", "set", "eth0", "up")
	return ns
}

func cli(t *testing.T, db string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(netlab.Binary(t), append([]string{"--db", db}, args...)...).CombinedOutput()
	return string(out), err
}

func mustCLI(t *testing.T, db string, args ...string) string {
	t.Helper()
	out, err := cli(t, db, args...)
	if err != nil {
		t.Fatalf("node-switch %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func serve(t *testing.T, ns *netlab.NS, db string) *netlab.Proc {
	t.Helper()
	p := ns.Start(nil, netlab.Binary(t), "--db", db, "serve", "--interface", "br0", "--log-level", "debug",
		"--tftp-listen=", "--http-listen=", "--ssh-listen=")
	if !netlab.WaitFor(30*time.Second, func() bool { return strings.Contains(p.Output(), "dhcp listening") || p.Exited() }) || p.Exited() {
		t.Fatalf("node-switch serve did not start listening:\n%s", p.Output())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serve in %s:\n%s", ns.Name, p.Output())
		}
	})
	return p
}

// udhcpc runs one busybox udhcpc exchange on eth0 of ns and returns the
// boot file it was given, or ok=false when nobody answered.
func udhcpc(t *testing.T, ns *netlab.NS, tries int) (file string, ok bool) {
	t.Helper()
	return udhcpcWith(t, ns, tries, newLeaseScript(t))
}

// leaseScript is the script udhcpc runs on a lease, writing the boot file
// to out.
type leaseScript struct{ path, out string }

// newLeaseScript writes a lease script. Write those of concurrent udhcpc
// runs before starting any: a file being written while another goroutine
// forks is open in the child until it execs, and executing it then fails
// (ETXTBSY, golang.org/issue/22315), which udhcpc ignores.
func newLeaseScript(t *testing.T) leaseScript {
	t.Helper()
	dir := t.TempDir()
	ls := leaseScript{filepath.Join(dir, "script"), filepath.Join(dir, "bound")}
	if err := os.WriteFile(ls.path, []byte("#!/bin/sh\n[ \"$1\" = bound ] && echo \"$boot_file\" > "+ls.out+"\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return ls
}

func udhcpcWith(t *testing.T, ns *netlab.NS, tries int, ls leaseScript) (file string, ok bool) {
	t.Helper()
	out := ls.out
	log, err := ns.Run("busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", fmt.Sprint(tries), "-T", "1", "-s", ls.path)
	b, rerr := os.ReadFile(out)
	if rerr != nil {
		if err == nil {
			// Errorf: concurrent runs call this from goroutines.
			t.Errorf("udhcpc succeeded without calling its script:\n%s", log)
			return "", false
		}
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// TestTwoServersOnePostgres: a move made with the CLI reaches both boot
// servers' very next answers, after each of 20 moves (the CLI returns once
// every server recorded the change); commit-to-answer time is measured on
// each. A mask followed at once by PostgreSQL stopping, with no request
// between, leaves the masked nodes unanswered by every server. PostgreSQL
// stopped: both keep answering known nodes from their snapshot, stay
// silent to unknown and masked ones, say so, and a move fails clearly;
// PostgreSQL started again: the next move is seen everywhere.
func TestTwoServersOnePostgres(t *testing.T) {
	netlab.Require(t, "busybox=busybox-static")
	pg := pgtest.Start(t)
	db := pg.NewDB(t)
	lab := netlab.New(t)
	segs := []*segment{
		newSegment(t, lab, 1, "10.81.0.1/24", "02:81:00:00:00:20"),
		newSegment(t, lab, 2, "10.82.0.1/24", "02:82:00:00:00:20"),
	}
	mustCLI(t, db, "profile", "add", "linux", "--kind", "linux", "--boot-file", "bios="+linuxFile)
	mustCLI(t, db, "profile", "add", "windows", "--kind", "localdisk", "--boot-file", "bios="+winFile)
	mustCLI(t, db, "cluster", "add", "linux", "--profile", "linux")
	mustCLI(t, db, "cluster", "add", "windows", "--profile", "windows")
	mustCLI(t, db, "node", "add", "a20", "--mac", segs[0].mac, "--ip", "10.81.0.20", "--cluster", "windows")
	mustCLI(t, db, "node", "add", "b20", "--mac", segs[1].mac, "--ip", "10.82.0.20", "--cluster", "windows")
	// The negative controls of each segment: a masked node and a MAC
	// nobody reserved.
	mustCLI(t, db, "node", "add", "a21", "--mac", "02:81:00:00:00:21", "--ip", "10.81.0.21", "--cluster", "linux")
	mustCLI(t, db, "node", "add", "b21", "--mac", "02:82:00:00:00:21", "--ip", "10.82.0.21", "--cluster", "linux")
	mustCLI(t, db, "mask", "a21,b21", "--reason", "being reinstalled")
	masked := []*netlab.NS{segs[0].plug(lab, "m1", "p1", "02:81:00:00:00:21"), segs[1].plug(lab, "m2", "p1", "02:82:00:00:00:21")}
	unknown := []*netlab.NS{segs[0].plug(lab, "u1", "p2", "02:81:00:00:00:99"), segs[1].plug(lab, "u2", "p2", "02:82:00:00:00:99")}
	// Masked right before PostgreSQL stops, with no request between.
	mustCLI(t, db, "node", "add", "a22", "--mac", "02:81:00:00:00:22", "--ip", "10.81.0.22", "--cluster", "linux")
	mustCLI(t, db, "node", "add", "b22", "--mac", "02:82:00:00:00:22", "--ip", "10.82.0.22", "--cluster", "linux")
	late := []*netlab.NS{segs[0].plug(lab, "l1", "p3", "02:81:00:00:00:22"), segs[1].plug(lab, "l2", "p3", "02:82:00:00:00:22")}
	for _, s := range segs {
		s.server = serve(t, s.srv, db)
	}
	for k, s := range segs {
		if f, ok := udhcpc(t, s.client, 3); !ok || f != winFile {
			t.Fatalf("%s: boot file %q (answered %v), want %s", s.name, f, ok, winFile)
		}
		if f, ok := udhcpc(t, late[k], 3); !ok || f != linuxFile {
			t.Fatalf("%s: %s before its mask: boot file %q (answered %v), want %s", s.name, late[k].Name, f, ok, linuxFile)
		}
	}

	// Moves back and forth; after each, the very next request on each
	// segment must get the new boot file. The time from the CLI's return
	// (the commit acknowledged) to that answer is measured per server.
	const moves = 20
	lat := make([][]time.Duration, len(segs))
	var to, want string
	for i := range moves {
		if i%2 == 0 {
			to, want = "linux", linuxFile
		} else {
			to, want = "windows", winFile
		}
		if out := mustCLI(t, db, "move", "a20,b20", "--to", to, "--reason", fmt.Sprintf("move %d", i)); strings.Contains(out, "warning") {
			t.Errorf("move %d: %s", i, out)
		}
		committed := time.Now()
		done := make(chan struct{}, len(segs))
		scripts := make([]leaseScript, len(segs))
		for k := range segs {
			scripts[k] = newLeaseScript(t)
		}
		for k, s := range segs {
			go func() {
				defer func() { done <- struct{}{} }()
				f, ok := udhcpcWith(t, s.client, 3, scripts[k])
				lat[k] = append(lat[k], time.Since(committed))
				if !ok || f != want {
					t.Errorf("move %d to %s: %s's next answer had boot file %q (answered %v), want %s", i, to, s.name, f, ok, want)
				}
			}()
		}
		for range segs {
			<-done
		}
	}
	// The same exchange with no move before it: what udhcpc itself takes,
	// to read the numbers above against.
	for _, s := range segs {
		var base []time.Duration
		for range moves {
			start := time.Now()
			udhcpc(t, s.client, 3)
			base = append(base, time.Since(start))
		}
		slices.Sort(base)
		t.Logf("%s: udhcpc exchange with no move before it, over %d runs: median %v, p99 %v", s.name, moves, base[len(base)/2], base[(len(base)*99)/100])
	}
	for k, s := range segs {
		slices.Sort(lat[k])
		t.Logf("%s: commit-to-answer over %d moves (CLI exit to udhcpc bound, udhcpc start-up included): median %v, p99 %v, max %v",
			s.name, moves, lat[k][len(lat[k])/2], lat[k][(len(lat[k])*99)/100], lat[k][len(lat[k])-1])
	}

	// PostgreSQL stopped right after a mask: the CLI returned once both
	// servers had the mask in their copies.
	if out := mustCLI(t, db, "mask", "a22,b22", "--reason", "reinstall, then the database goes"); strings.Contains(out, "warning") {
		t.Errorf("mask: %s", out)
	}
	pg.Stop()
	for k, s := range segs {
		if f, ok := udhcpc(t, late[k], 2); ok {
			t.Errorf("PostgreSQL stopped right after the mask: %s answered masked %s (boot file %q), which must stay silent", s.name, late[k].Name, f)
		}
		mac := "02:8" + fmt.Sprint(k+1) + ":00:00:00:22"
		if !netlab.WaitFor(10*time.Second, func() bool { return noReplyLogged(s.server.Output(), mac) }) {
			t.Errorf("%s: no deliberate no-reply logged for masked %s: its silence proves nothing", s.name, mac)
		}
	}
	if out, err := cli(t, db, "move", "a20,b20", "--to", "windows", "--reason", "db down"); err == nil {
		t.Errorf("move with PostgreSQL stopped succeeded:\n%s", out)
	} else if !strings.Contains(out, "cannot reach PostgreSQL") {
		t.Errorf("move with PostgreSQL stopped: the error does not say the database cannot be reached:\n%s", out)
	} else {
		t.Logf("move with PostgreSQL stopped: %v: %s", err, strings.TrimSpace(out))
	}
	for k, s := range segs {
		if f, ok := udhcpc(t, s.client, 3); !ok || f != want {
			t.Errorf("PostgreSQL down: %s's known node got boot file %q (answered %v), want %s from the snapshot", s.name, f, ok, want)
		}
		for _, ns := range []*netlab.NS{masked[k], unknown[k]} {
			if f, ok := udhcpc(t, ns, 2); ok {
				t.Errorf("PostgreSQL down: %s answered %s (boot file %q), which must stay silent", s.name, ns.Name, f)
			}
		}
		for _, mac := range []string{"02:8" + fmt.Sprint(k+1) + ":00:00:00:21", "02:8" + fmt.Sprint(k+1) + ":00:00:00:99"} {
			if !netlab.WaitFor(10*time.Second, func() bool { return noReplyLogged(s.server.Output(), mac) }) {
				t.Errorf("%s: no deliberate no-reply logged for %s: its silence proves nothing", s.name, mac)
			}
		}
		if !strings.Contains(s.server.Output(), "answering from the last snapshot") {
			t.Errorf("%s did not log that it answers from its snapshot", s.name)
		}
	}

	// Started again: the next move is seen everywhere.
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	// Each server's listener reconnects with backoff; once it listens
	// again (it says so), the next move reaches the next answer.
	for _, s := range segs {
		if !netlab.WaitFor(30*time.Second, func() bool { return strings.Contains(s.server.Output(), "PostgreSQL is back") }) {
			t.Fatalf("%s did not reconnect to PostgreSQL", s.name)
		}
	}
	if to == "linux" {
		to, want = "windows", winFile
	} else {
		to, want = "linux", linuxFile
	}
	mustCLI(t, db, "move", "a20,b20", "--to", to, "--reason", "db back")
	for _, s := range segs {
		if f, ok := udhcpc(t, s.client, 3); !ok || f != want {
			t.Errorf("PostgreSQL back: %s's next answer had boot file %q (answered %v), want %s", s.name, f, ok, want)
		}
		if !netlab.WaitFor(10*time.Second, func() bool { return strings.Contains(s.server.Output(), "reachable again") }) {
			t.Errorf("%s did not log that the inventory is reachable again", s.name)
		}
	}
}

func noReplyLogged(out, mac string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `msg="dhcp no reply"`) && strings.Contains(line, "mac="+mac) {
			return true
		}
	}
	return false
}
