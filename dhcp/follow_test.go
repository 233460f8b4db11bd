package dhcp

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/pgtest"
)

// syncBound is how long these tests let a change wait for the servers: far
// above what applying takes, so the outcome never depends on the machine's
// load; a server that never applies fails after it.
const syncBound = time.Minute

// follow runs Follow on a cache of its own over loc, as a serve process
// does, until the test ends.
func follow(t *testing.T, loc string) *CachedInventory {
	t.Helper()
	st := openPG(t, loc)
	c, err := NewCachedInventory(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	beat := st.JoinServers(time.Hour)
	if err := c.Join(ctx, beat); err != nil {
		t.Fatal(err)
	}
	go func() { defer close(done); c.Follow(ctx, beat) }()
	t.Cleanup(func() { cancel(); <-done; c.Close() })
	return c
}

// applied reports what the cache's copy says of node i, without a lookup
// (a lookup would itself reread the copy).
func applied(c *CachedInventory, i int) nodes.Node {
	v := c.view.Load()
	if v == nil {
		return nodes.Node{}
	}
	return v.recs[testNodeMAC(i)].Node
}

// testFollow: two following servers record themselves; a change waits
// until both copies have it, and they have it with no request asking
// (applied at once, not at the next request). A server that stops leaves.
func testFollow(t *testing.T, loc string) {
	ctx := context.Background()
	cli := fillStore(t, openPG(t, loc), 3)
	caches := []*CachedInventory{follow(t, loc), follow(t, loc)}
	for _, step := range []struct {
		name   string
		change func() error
		ok     func(nodes.Node) bool
	}{
		{"move", func() error {
			_, err := cli.Move(ctx, testActor, nodes.MoveRequest{Range: "n00000", To: "windows", Reason: "test"})
			return err
		}, func(n nodes.Node) bool { return n.Cluster == "windows" }},
		{"mask", func() error {
			_, err := cli.SetMask(ctx, testActor, nodes.MaskRequest{Range: "n00000", Mask: true, Reason: "test"})
			return err
		}, func(n nodes.Node) bool { return n.Masked }},
	} {
		if err := step.change(); err != nil {
			t.Fatal(err)
		}
		gen, err := cli.Generation(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Both servers are there once they recorded a first generation.
		for {
			all, err := cli.BootServers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) == len(caches) {
				break
			}
			waitABit()
		}
		behind, err := cli.WaitServers(ctx, gen, syncBound)
		if err != nil || len(behind) > 0 {
			t.Fatalf("%s: servers behind after %v: %s (%v)", step.name, syncBound, nodes.Behind(behind, gen), err)
		}
		for i, c := range caches {
			if n := applied(c, 0); !step.ok(n) {
				t.Errorf("%s: server %d recorded generation %d but its copy has n00000 as %+v", step.name, i, gen, n)
			}
		}
	}
}

func TestFollowSQLite(t *testing.T) {
	testFollow(t, filepath.Join(t.TempDir(), "inventory.db"))
}

func TestFollowPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	testFollow(t, pg.NewDB(t))
}

// TestMaskThenStopPostgres: a mask the servers recorded is in their copies
// before PostgreSQL stops, so with no request between the mask and the stop
// they still answer the node as masked (silence) from their snapshot.
func TestMaskThenStopPostgres(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	loc := pg.NewDB(t)
	cli := fillStore(t, openPG(t, loc), 3)
	caches := []*CachedInventory{follow(t, loc), follow(t, loc)}
	for _, c := range caches {
		// One answer before the mask: each server has a copy.
		if r, err := c.Lookup(ctx, testNodeMAC(1)); err != nil || r.Node.Masked {
			t.Fatalf("before the mask: %+v, %v", r.Node, err)
		}
	}
	if _, err := cli.SetMask(ctx, testActor, nodes.MaskRequest{Range: "n00001", Mask: true, Reason: "reinstall"}); err != nil {
		t.Fatal(err)
	}
	gen, err := cli.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if behind, err := cli.WaitServers(ctx, gen, syncBound); err != nil || len(behind) > 0 {
		t.Fatalf("servers behind after %v: %s (%v)", syncBound, nodes.Behind(behind, gen), err)
	}
	pg.Stop()
	for i, c := range caches {
		r, err := c.Lookup(ctx, testNodeMAC(1))
		if err != nil || !r.Node.Masked {
			t.Errorf("server %d, PostgreSQL stopped right after the mask: n00001 %+v, %v; want masked", i, r.Node, err)
		}
	}
}
