package dhcp

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/pgtest"
)

func openPG(t *testing.T, loc string) *nodes.Store {
	t.Helper()
	st, err := nodes.Open(loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// waitStamp blocks until w's stamp differs from s (the notification of a
// commit arrived) and returns the new one. No deadline: if it never comes
// the test binary's -timeout reports it.
func waitStamp(w nodes.Watcher, s nodes.Stamp) nodes.Stamp {
	for w.Stamp() == s {
		waitABit()
	}
	return w.Stamp()
}

// TestCachedInventoryOnPostgres: two servers' caches on one PostgreSQL see a
// move made through a third store as soon as its notification arrives; with
// PostgreSQL stopped they answer from their snapshot (known nodes as they
// were, unknown and masked nodes still not), and after it restarts the
// next move reaches them.
func TestCachedInventoryOnPostgres(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	loc := pg.NewDB(t)
	cli := fillStore(t, openPG(t, loc), 3)
	if _, err := cli.SetMask(ctx, testActor, nodes.MaskRequest{Range: "n00002", Mask: true, Reason: "broken"}); err != nil {
		t.Fatal(err)
	}
	var caches []*CachedInventory
	for range 2 {
		c, err := NewCachedInventory(ctx, openPG(t, loc))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.FastCheck(); err != nil {
			t.Fatalf("no watcher on PostgreSQL: %v", err)
		}
		caches = append(caches, c)
		sameAsStore(t, c, cli, "start")
	}
	stamps := make([]nodes.Stamp, len(caches))
	for i, c := range caches {
		stamps[i] = c.commits.Stamp()
	}
	if _, err := cli.Move(ctx, testActor, nodes.MoveRequest{Range: "n00000", To: "windows", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	for i, c := range caches {
		stamps[i] = waitStamp(c.commits, stamps[i])
		sameAsStore(t, c, cli, "after move")
		if r, _ := c.Lookup(ctx, testNodeMAC(0)); r.Node.Cluster != "windows" {
			t.Fatalf("cache %d: n00000 in %s after the move, want windows", i, r.Node.Cluster)
		}
	}

	pg.Stop()
	if _, err := cli.Move(ctx, testActor, nodes.MoveRequest{Range: "n00001", To: "windows", Reason: "db down"}); err == nil {
		t.Fatal("a move succeeded with PostgreSQL stopped")
	}
	for i, c := range caches {
		// The listener lost its connection: the next lookups check, fail
		// to read, and fall back to the snapshot.
		for !c.Unreachable() {
			c.Lookup(ctx, testNodeMAC(0))
			waitABit()
		}
		for _, tc := range []struct {
			mac     string
			cluster string
			err     error
		}{
			{testNodeMAC(0), "windows", nil},
			{testNodeMAC(1), "linux", nil},
			{testNodeMAC(2), "linux", nil}, // masked: the reply function stays silent
			{"02:00:00:00:99:99", "", nodes.ErrNotFound},
		} {
			r, err := c.Lookup(ctx, tc.mac)
			if !errors.Is(err, tc.err) || (err == nil && r.Node.Cluster != tc.cluster) {
				t.Errorf("cache %d, PostgreSQL down: %s: %+v, %v; want cluster %q, err %v", i, tc.mac, r.Node, err, tc.cluster, tc.err)
			}
			if tc.mac == testNodeMAC(2) && !r.Node.Masked {
				t.Errorf("cache %d, PostgreSQL down: masked node no longer masked", i)
			}
		}
	}

	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	for i, c := range caches {
		stamps[i] = c.commits.Stamp()
	}
	if _, err := cli.Move(ctx, testActor, nodes.MoveRequest{Range: "n00001", To: "windows", Reason: "db back"}); err != nil {
		t.Fatalf("move after restart: %v", err)
	}
	for i, c := range caches {
		for {
			stamps[i] = waitStamp(c.commits, stamps[i])
			if r, err := c.Lookup(ctx, testNodeMAC(1)); err == nil && r.Node.Cluster == "windows" {
				break
			}
			// The stamp moved for the reconnect, before the move's
			// notification: wait for the next one.
		}
		if c.Unreachable() {
			t.Errorf("cache %d still says the inventory is unreachable", i)
		}
		sameAsStore(t, c, cli, "after restart")
	}
}

// waitABit paces a loop waiting for another goroutine or process.
func waitABit() { time.Sleep(10 * time.Millisecond) }
