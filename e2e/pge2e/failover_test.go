package pge2e

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/pgtest"
)

// TestFailover: a primary and a synchronous standby, every node-switch
// process on a connection string naming both with
// target_session_attrs=read-write. The primary's machine is killed
// (SIGKILL to the postmaster and every backend) in the middle of a move of
// 1,000 nodes; the standby is promoted. On it the move is all or nothing,
// the move acknowledged before is there, the boot server answered
// throughout, and the CLI and the server work against the new primary
// without being told.
func TestFailover(t *testing.T) {
	netlab.Require(t, "busybox=busybox-static")
	ctx := context.Background()
	primary := pgtest.Start(t)
	u, err := url.Parse(primary.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	st, err := nodes.Open(primary.URL(dbName))
	if err != nil {
		t.Fatal(err)
	}
	actor := nodes.Actor{Name: "e2e", Channel: nodes.ChannelCLI}
	for _, p := range []nodes.Profile{
		{Name: "linux", Kind: nodes.KindLinux, BootFiles: map[string]string{nodes.BootBIOS: linuxFile}},
		{Name: "windows", Kind: nodes.KindLocalDisk, BootFiles: map[string]string{nodes.BootBIOS: winFile}},
	} {
		if err := st.AddProfile(ctx, actor, p); err != nil {
			t.Fatal(err)
		}
		if err := st.AddCluster(ctx, actor, nodes.Cluster{Name: p.Name, Profile: p.Name}); err != nil {
			t.Fatal(err)
		}
	}
	inv := nodes.Inventory{}
	for i := 1; i <= 1000; i++ {
		inv.Nodes = append(inv.Nodes, nodes.Node{Name: fmt.Sprintf("n%04d", i), MAC: fmt.Sprintf("02:83:00:00:%02x:%02x", i>>8, i&0xff),
			IP: netip.AddrFrom4([4]byte{10, 83, byte(1 + i/250), byte(1 + i%250)}), Cluster: "windows"})
	}
	if _, err := st.Import(ctx, actor, inv, "failover test"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	standby := primary.Standby(t, "standby1")
	both := fmt.Sprintf("postgres://postgres@/%s?host=%s,%s&target_session_attrs=read-write&sslmode=disable",
		dbName, url.QueryEscape(primary.SocketDir()), url.QueryEscape(standby.SocketDir()))

	lab := netlab.New(t)
	seg := newSegment(t, lab, 1, "10.83.0.1/16", "02:83:00:00:00:01")
	seg.server = serve(t, seg.srv, both)
	if f, ok := udhcpc(t, seg.client, 3); !ok || f != winFile {
		t.Fatalf("before: boot file %q (answered %v), want %s", f, ok, winFile)
	}
	// Move A, acknowledged: synchronous replication means the standby has it.
	mustCLI(t, both, "move", "n[0001-1000]", "--to", "linux", "--reason", "move A")
	// The server's copy has it before the primary dies (its notification
	// takes a moment): from then on every answer must be move A's.
	if !netlab.WaitFor(30*time.Second, func() bool { f, ok := udhcpc(t, seg.client, 3); return ok && f == linuxFile }) {
		t.Fatal("the boot server never answered with move A's boot file")
	}

	// The boot server answers throughout: udhcpc asks again and again
	// while the primary dies and the standby takes over.
	var asked, answered atomic.Int64
	var wrong sync.Map
	stop := make(chan struct{})
	var loop sync.WaitGroup
	loop.Add(1)
	go func() {
		defer loop.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			asked.Add(1)
			if f, ok := udhcpc(t, seg.client, 3); ok {
				answered.Add(1)
				if f != linuxFile {
					wrong.Store(f, true)
				}
			}
		}
	}()

	// Move B, killed in the middle: once a backend of the primary is
	// inside its transaction updating nodes.
	mon, err := sql.Open("pgx", primary.URL(dbName))
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	mon.SetMaxOpenConns(1)
	b := exec.Command(netlab.Binary(t), "--db", both, "move", "n[0001-1000]", "--to", "windows", "--reason", "move B")
	var bOut strings.Builder
	b.Stdout, b.Stderr = &bOut, &bOut
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	bDone := make(chan error, 1)
	go func() { bDone <- b.Wait() }()
	inside := false
	for !inside {
		select {
		case err := <-bDone:
			t.Fatalf("move B finished (%v) before the test saw it inside its transaction: too fast to kill in the middle here:\n%s", err, bOut.String())
		default:
		}
		var n int
		if err := mon.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'UPDATE nodes SET cluster%' AND xact_start IS NOT NULL AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		inside = n > 0
	}
	primary.Kill()
	bErr := <-bDone
	acked := bErr == nil
	t.Logf("move B after the kill: acknowledged %v (%v): %s", acked, bErr, strings.TrimSpace(bOut.String()))

	if err := standby.Promote(); err != nil {
		t.Fatalf("promote: %v", err)
	}
	// All or nothing on the promoted standby; move A is there.
	onStandby, err := nodes.Open(standby.URL(dbName))
	if err != nil {
		t.Fatal(err)
	}
	defer onStandby.Close()
	all, err := onStandby.Nodes(ctx, "all")
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, n := range all {
		count[n.Cluster]++
	}
	want := "linux"
	if acked {
		want = "windows"
	}
	if count[want] != 1000 {
		t.Errorf("on the promoted standby: %v; want all 1000 in %s (move B acknowledged: %v)", count, want, acked)
	}
	evs, err := onStandby.Log(ctx, nodes.LogFilter{Action: nodes.ActionMove})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, e := range evs {
		reasons = append(reasons, e.Reason)
	}
	wantLog := []string{"move A"}
	if acked {
		wantLog = append(wantLog, "move B")
	}
	if strings.Join(reasons, ",") != strings.Join(wantLog, ",") {
		t.Errorf("move entries on the promoted standby: %q, want %q", reasons, wantLog)
	}

	// The server finds the new primary by itself; the CLI too.
	if !netlab.WaitFor(60*time.Second, func() bool { return strings.Count(seg.server.Output(), "PostgreSQL is back") >= 1 }) {
		t.Fatal("the boot server did not reconnect to the promoted standby")
	}
	close(stop)
	loop.Wait()
	if asked.Load() == 0 || answered.Load() != asked.Load() {
		t.Errorf("during the failover the boot server answered %d of %d requests", answered.Load(), asked.Load())
	}
	wrong.Range(func(k, _ any) bool {
		t.Errorf("during the failover a node was given %q, want %s", k, linuxFile)
		return true
	})
	t.Logf("during the failover: %d requests, %d answered", asked.Load(), answered.Load())
	final := "windows"
	if acked {
		final = "linux"
	}
	mustCLI(t, both, "move", "n[0001-1000]", "--to", final, "--reason", "after failover")
	wantFile := map[string]string{"linux": linuxFile, "windows": winFile}[final]
	if f, ok := udhcpc(t, seg.client, 3); !ok || f != wantFile {
		t.Errorf("after failover: next answer had boot file %q (answered %v), want %s", f, ok, wantFile)
	}
}
