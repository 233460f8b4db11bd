package dhcp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/node-switch/node-switch/metrics"
	"github.com/node-switch/node-switch/nodes"
)

// StoreInventory reads every request's answer straight from the inventory:
// five small queries per packet. It is the reference the cached inventory is
// tested against.
type StoreInventory struct{ Store *nodes.Store }

// Lookup implements Inventory.
func (s StoreInventory) Lookup(ctx context.Context, mac string) (Record, error) {
	n, err := s.Store.LookupMAC(ctx, mac)
	if err != nil {
		return Record{}, err
	}
	_, p, err := s.Store.BootOf(ctx, n)
	if err != nil {
		return Record{}, err
	}
	sns, err := s.Store.Subnets(ctx)
	if err != nil {
		return Record{}, err
	}
	rec := Record{Node: n, Profile: p}
	if sn, ok := nodes.SubnetFor(sns, n.IP); ok {
		rec.Subnet = &sn
	}
	return rec, nil
}

// CachedInventory answers from an in-memory copy of the inventory and
// rereads the copy when a change that matters was committed since it was
// taken.
//
// Every lookup first asks whether anything at all was committed since the
// copy was last confirmed, from SQLite's shared WAL index (nodes.Commits: a
// few memory loads, no query, no lock). Only when something was, and at
// least once a second whatever the WAL index says, does it read the
// inventory's generation (nodes.GenerationQuery, one row) on a connection of
// its own; SQLite's triggers bump the generation for every change to what a
// boot answer is made of, whoever commits it (a CLI process, the SSH front
// door, a hand-run sqlite3), and for nothing else: logbook entries (every SSH
// command, hook output, reboot result) and our own sightings flush commit
// without moving it. Only a new generation rereads the copy.
//
// On PostgreSQL the watcher is nodes.PgCommits instead of the WAL index: a
// LISTEN on the channel the schema's generation trigger notifies, so a
// commit from any server or front end on the database moves the stamp as
// soon as its notification arrives. While the database cannot be read the
// cache answers from its last complete copy (keep), and rereads when it is
// back. A notification may arrive after the commit returned to its caller,
// and a snapshot reread only at the next request would be lost to a
// database that stopped meanwhile, so a serve runs Follow: it rereads as
// soon as the stamp moves and records the generation it answers from,
// which a change waits for (ops).
//
// The copy, the WAL-index stamp and the generation it was confirmed at form
// one immutable view, swapped atomically: a lookup that finds the WAL index
// where the view saw it answers from the view and never waits, even while
// another lookup rereads the inventory.
//
// A lookup that finds the WAL index moved has seen a commit that its answer
// must reflect (a move committed before a request arrives is always in the
// answer to that request). It waits for the one check-or-reload at a time
// (mu) and then reads the WAL index again: if the view published meanwhile
// saw it in that state, no commit came between, and the lookup answers from
// it without a query; otherwise it checks, and reloads if need be, itself.
// So lookups that saw the same commit share one reload, and none can answer
// from a check that began before the commit it saw. A periodic confirmation
// with no commit in sight is done by whichever lookup gets mu first; the
// others keep answering meanwhile.
type CachedInventory struct {
	store *nodes.Store
	db    *sql.DB

	view atomic.Pointer[view] // nil until the first load, and after Close

	mu           sync.Mutex    // one check or reload at a time; guards the fields below
	conn         *sql.Conn     // SQLite only: pins the WAL index
	genStmt      *sql.Stmt     // the generation, prepared once: the per-commit cost
	commits      nodes.Watcher // nil: ask the database on every lookup
	retired      []nodes.Watcher
	watchErr     error // why commits is nil
	confirmEvery time.Duration

	reloads  atomic.Uint64
	confirms atomic.Uint64 // generation reads
	// unreachable is set while the inventory cannot be read and lookups
	// answer from the last view (guarded by mu).
	unreachable bool
}

// view is what lookups answer from; it is never changed once published.
type view struct {
	recs     map[string]Record
	complete bool          // every node's cluster and profile were found
	commits  nodes.Watcher // the watcher stamp was read from; nil: none
	stamp    nodes.Stamp
	gen      int64 // generation recs reflect (at least)
	// confirmedAt is when gen was read, after stamp was: recs reflect every
	// commit made before the WAL index last read stamp.
	confirmedAt time.Time
}

// confirmEvery bounds how long the WAL index alone is trusted: should it
// ever miss a commit, the answer is at most this late.
const confirmEvery = time.Second

// NewCachedInventory opens its own connection to the store's inventory.
func NewCachedInventory(ctx context.Context, st *nodes.Store) (*CachedInventory, error) {
	// A connection of its own keeps the generation reads off the store's
	// pool.
	db, err := st.OpenSide()
	if err != nil {
		return nil, fmt.Errorf("inventory cache: %w", err)
	}
	db.SetMaxOpenConns(1)
	c := &CachedInventory{store: st, db: db, confirmEvery: confirmEvery}
	var prep interface {
		PrepareContext(context.Context, string) (*sql.Stmt, error)
	} = db
	if !st.Postgres() {
		// On SQLite the connection is held for as long as the cache
		// lives: it keeps the WAL index (-shm) in place for nodes.Commits.
		// On PostgreSQL it is not pinned, so that after a restart or a
		// failover the pool replaces the dead connection by itself.
		if c.conn, err = db.Conn(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("inventory cache: connect to %s: %w", st.Path(), err)
		}
		prep = c.conn
	}
	if c.genStmt, err = prep.PrepareContext(ctx, nodes.GenerationQuery); err != nil {
		if c.conn != nil {
			c.conn.Close()
		}
		db.Close()
		return nil, fmt.Errorf("inventory cache: %s: %w", st.Path(), err)
	}
	c.watch()
	return c, nil
}

// watch (re)maps the WAL index. Without one the cache still works, with a
// query per lookup; FastCheck tells which. The caller holds mu (or is
// NewCachedInventory).
func (c *CachedInventory) watch() {
	if c.commits != nil {
		// A lookup may still be reading the old mapping through its view;
		// it is unmapped on Close.
		c.retired = append(c.retired, c.commits)
		c.commits = nil
	}
	// Reading through our own connection once makes sure SQLite has
	// created the -shm file.
	var g int64
	if err := c.genStmt.QueryRowContext(context.Background()).Scan(&g); err != nil {
		c.watchErr = err
		return
	}
	c.commits, c.watchErr = c.store.Watch()
}

// FastCheck reports nil when lookups check for changes without a query, or
// why they cannot.
func (c *CachedInventory) FastCheck() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.watchErr
}

// Reloads is how many times the copy was reread from the inventory.
func (c *CachedInventory) Reloads() uint64 { return c.reloads.Load() }

// Close releases the cache's connection. Lookups must have returned: the
// WAL-index mapping they read without a lock goes away.
func (c *CachedInventory) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.view.Store(nil)
	for _, w := range append(c.retired, c.commits) {
		if w != nil {
			w.Close()
		}
	}
	c.commits, c.retired = nil, nil
	c.genStmt.Close()
	if c.conn != nil {
		c.conn.Close()
	}
	return c.db.Close()
}

// Lookup implements Inventory.
func (c *CachedInventory) Lookup(ctx context.Context, mac string) (Record, error) {
	v, err := c.current(ctx)
	if err != nil {
		return Record{}, err
	}
	r, ok := v.recs[mac]
	if !ok {
		return Record{}, fmt.Errorf("mac %s: %w", mac, nodes.ErrNotFound)
	}
	if r.Profile.Name == "" {
		return Record{}, fmt.Errorf("node %s: cluster %s or its profile vanished while the inventory was read; the next request rereads it", r.Node.Name, r.Node.BootCluster())
	}
	return r, nil
}

func (c *CachedInventory) current(ctx context.Context) (*view, error) {
	if v := c.view.Load(); v != nil && v.complete && v.commits != nil && v.commits.Stamp() == v.stamp {
		// Nothing committed anywhere since the view was confirmed.
		if time.Since(v.confirmedAt) < c.confirmEvery {
			return v, nil
		}
		if !c.mu.TryLock() {
			// Another lookup is checking or reloading; v is as good as
			// anything it can find for this request.
			return v, nil
		}
	} else {
		// A commit this answer must reflect, or no usable view: wait
		// for our turn to check.
		c.mu.Lock()
	}
	defer c.mu.Unlock()
	return c.check(ctx)
}

// check confirms the view, or reloads it; the caller holds mu.
func (c *CachedInventory) check(ctx context.Context) (*view, error) {
	if c.commits != nil && c.commits.Stale() {
		c.watch()
	}
	old := c.view.Load()
	var stamp nodes.Stamp
	if c.commits != nil {
		// Read after the caller's lookup began, so a view that saw the
		// same stamp saw every commit the caller may have seen.
		stamp = c.commits.Stamp()
		if old != nil && old.complete && old.commits == c.commits && old.stamp == stamp && time.Since(old.confirmedAt) < c.confirmEvery {
			return old, nil
		}
	}
	// The stamp is read before the generation, so a commit landing between
	// the two moves the WAL index again and is looked at next time.
	c.confirms.Add(1)
	// Without a cancel channel go-sqlite3 starts no watcher goroutine per
	// query; the read is too short to need cancelling (the profile showed
	// the goroutine churn).
	var gen int64
	err := c.genStmt.QueryRowContext(context.WithoutCancel(ctx)).Scan(&gen)
	if err != nil && c.conn == nil {
		// A pooled PostgreSQL connection that died with its server
		// (restart, failover) fails once and is dropped: try a fresh one
		// before falling back to the snapshot.
		err = c.genStmt.QueryRowContext(context.WithoutCancel(ctx)).Scan(&gen)
	}
	if err != nil {
		return c.keep(old, stamp, fmt.Errorf("inventory %s: check for changes: %w", c.store.Path(), err))
	}
	if c.unreachable {
		c.unreachable = false
		metrics.InventoryUnreachable(false)
		slog.Info("inventory cache: the inventory is reachable again", "inventory", c.store.Path(), "generation", gen)
	}
	if old != nil && old.complete && gen == old.gen {
		// Only the logbook, sightings, or nothing DHCP serves changed.
		v := &view{recs: old.recs, complete: true, commits: c.commits, stamp: stamp, gen: gen, confirmedAt: time.Now()}
		c.view.Store(v)
		return v, nil
	}
	// The copy is read in several queries, after the generation: a commit
	// landing meanwhile may be half in it (a node pointing at a cluster the
	// copy missed). It then reflects more than gen says and is reread when
	// the WAL index shows that commit; an incomplete copy serves this
	// request but is reread by the next one.
	start := time.Now()
	recs, complete, err := loadSnapshot(ctx, c.store)
	if err != nil && c.conn == nil {
		// As for the generation: a dead pooled connection fails once.
		recs, complete, err = loadSnapshot(ctx, c.store)
	}
	metrics.InventoryReload(time.Since(start), err)
	if err != nil {
		return c.keep(old, stamp, fmt.Errorf("inventory %s: reload: %w", c.store.Path(), err))
	}
	c.reloads.Add(1)
	v := &view{recs: recs, complete: complete, commits: c.commits, stamp: stamp, gen: gen, confirmedAt: time.Now()}
	c.view.Store(v)
	return v, nil
}

// followPoll is how often Follow looks at a watcher that cannot announce
// (SQLite's WAL index: a few memory loads), or asks the database when there
// is no watcher.
const followPoll = 10 * time.Millisecond

// Follow applies each commit as soon as it is announced, rather than at the
// next request, and records in the inventory which generation this server
// answers from (beat; also its heartbeat, every beat.Every()). A change
// (ops) waits until every live server recorded it, so the next request to
// any of them is answered from it, and a mask is in the copy before the
// database could go away. PostgreSQL announces through the watcher's
// Changed; SQLite's WAL index is polled every followPoll. Follow returns
// when ctx is done, after deleting the server's row (a server that stopped
// cleanly is not waited for).
// Join records, once and before this server answers anything, the
// generation its copy holds: a change committed from then on waits for it.
// Without it a server that had answered from an older copy but not yet
// recorded itself was not waited for, and a mask followed at once by the
// database stopping left it answering the masked node.
func (c *CachedInventory) Join(ctx context.Context, beat *nodes.ServerBeat) error {
	v, err := c.current(ctx)
	if err != nil {
		return fmt.Errorf("join the boot servers: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	if err := beat.Record(rctx, v.gen); err != nil {
		return fmt.Errorf("join the boot servers: %w", err)
	}
	return nil
}

func (c *CachedInventory) Follow(ctx context.Context, beat *nodes.ServerBeat) {
	poll := time.NewTicker(followPoll)
	defer poll.Stop()
	heart := time.NewTicker(beat.Every())
	defer heart.Stop()
	if err := beat.Forget(ctx); err != nil {
		slog.Debug("inventory cache: could not forget boot servers gone for a day", "err", err)
	}
	recorded, failing := int64(-1), false
	var lastTry time.Time
	for {
		// current confirms or reloads only when the watcher moved (or
		// the confirmation is due), as a lookup would. A new generation
		// is recorded at once; after a failed write (the database away)
		// only at the next beat.
		v, err := c.current(ctx)
		if err == nil && v.complete && ((v.gen != recorded && !failing) || time.Since(lastTry) >= beat.Every()) {
			lastTry = time.Now()
			rctx, cancel := context.WithTimeout(ctx, recordTimeout)
			err := beat.Record(rctx, v.gen)
			cancel()
			switch {
			case err != nil && !failing:
				failing = true
				slog.Warn("inventory cache: cannot record which generation this server answers from; changes stop waiting for it after 3 missed beats", "generation", v.gen, "err", err)
			case err == nil:
				if failing {
					failing = false
					slog.Info("inventory cache: recording the generation this server answers from again", "generation", v.gen)
				}
				recorded = v.gen
			}
		}
		var changed <-chan struct{}
		c.mu.Lock()
		if c.commits != nil {
			changed = c.commits.Changed()
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
			defer cancel()
			if err := beat.Leave(lctx); err != nil {
				slog.Warn("inventory cache: stopping, but this server's row stays until it ages out", "err", err)
			}
			return
		case <-changed:
		case <-poll.C:
		case <-heart.C:
		}
	}
}

// recordTimeout bounds a heartbeat's write, so a database that hangs does
// not stop the loop from applying what it can read.
const recordTimeout = 5 * time.Second

// keep answers from the last complete view while the inventory cannot be
// read (a PostgreSQL server down or failing over): nodes keep booting as
// they last were told, unknown and masked ones stay unanswered, and the
// view is tried again after confirmEvery or as soon as the watcher sees the
// database again. Without a view there is nothing to answer from. The
// caller holds mu.
func (c *CachedInventory) keep(old *view, stamp nodes.Stamp, err error) (*view, error) {
	if old == nil || !old.complete {
		return nil, err
	}
	if !c.unreachable {
		c.unreachable = true
		metrics.InventoryUnreachable(true)
		slog.Warn("inventory cache: cannot read the inventory; answering from the last snapshot until it is back", "generation", old.gen, "err", err)
	}
	v := &view{recs: old.recs, complete: true, commits: c.commits, stamp: stamp, gen: old.gen, confirmedAt: time.Now()}
	c.view.Store(v)
	return v, nil
}

// Unreachable reports whether lookups answer from the last snapshot because
// the inventory cannot be read.
func (c *CachedInventory) Unreachable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unreachable
}

func loadSnapshot(ctx context.Context, st *nodes.Store) (map[string]Record, bool, error) {
	sns, err := st.Subnets(ctx)
	if err != nil {
		return nil, false, err
	}
	profiles, err := st.Profiles(ctx)
	if err != nil {
		return nil, false, err
	}
	clusters, err := st.Clusters(ctx)
	if err != nil {
		return nil, false, err
	}
	all, err := st.Nodes(ctx, "")
	if err != nil {
		return nil, false, err
	}
	byProfile := make(map[string]nodes.Profile, len(profiles))
	for _, p := range profiles {
		byProfile[p.Name] = p
	}
	byCluster := make(map[string]nodes.Profile, len(clusters))
	for _, cl := range clusters {
		byCluster[cl.Name] = byProfile[cl.Profile]
	}
	// Subnets are shared between records: a pointer per distinct subnet.
	subnetPtrs := make([]*nodes.Subnet, len(sns))
	for i := range sns {
		subnetPtrs[i] = &sns[i]
	}
	complete := true
	snap := make(map[string]Record, len(all))
	for _, n := range all {
		r := Record{Node: n, Profile: byCluster[n.BootCluster()]}
		if r.Profile.Name == "" {
			complete = false
		}
		for i, sn := range sns {
			if sn.Prefix.Contains(n.IP) {
				r.Subnet = subnetPtrs[i]
				break
			}
		}
		snap[n.MAC] = r
	}
	return snap, complete, nil
}

// IsSilent reports whether err means "do not answer, and it is not a fault":
// unknown MAC, masked node, another server's exchange, a message that needs
// no reply, or not DHCP at all.
func IsSilent(err error) bool {
	return errors.Is(err, nodes.ErrNotFound) || errors.Is(err, ErrMasked) || errors.Is(err, ErrOtherServer) ||
		errors.Is(err, ErrNoReply) || errors.Is(err, ErrNotDHCP)
}
