package dhcp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

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
// last look, from SQLite's shared WAL index (nodes.Commits: a few memory
// loads, no query). Only when something was, and at least once a second
// whatever the WAL index says, does it confirm with SQLite's PRAGMA
// data_version on a connection of our own, which changes when any other
// connection (a CLI process, the SSH front door, our own sightings flush)
// commits; it reads no table. When that has changed, the newest logbook id
// tells a change that matters from one that does not: every inventory
// operation appends its logbook entry in the same transaction (nodes'
// rule), while the sightings flush (last-seen time, firmware) appends none
// and would otherwise force a reload of every node every few seconds under
// a boot storm. A change outside node-switch (a hand-made sqlite3 UPDATE)
// has no logbook entry either; it is picked up when the copy is older than
// maxQuietAge.
//
// Because a check that started after the request arrived is part of every
// lookup, a move committed before a request arrives is always in the answer
// to that request. Lookups waiting on the same check share it.
type CachedInventory struct {
	store *nodes.Store
	db    *sql.DB

	started atomic.Uint64 // checks begun; a lookup needs one begun after it

	mu           sync.Mutex // serializes checks and reloads on conn
	conn         *sql.Conn
	versionStmt  *sql.Stmt // PRAGMA data_version, prepared once: the per-lookup cost
	lastEv       *sql.Stmt
	checked      uint64         // number of the last completed check
	commits      *nodes.Commits // nil: confirm with SQLite on every lookup
	stamp        nodes.Stamp    // WAL index when data_version was last read
	confirmedAt  time.Time      // when data_version was last read
	confirmEvery time.Duration
	version      int64 // data_version at that check
	event        int64 // newest logbook id in the copy
	loadedAt     time.Time
	valid        bool
	snap         map[string]Record
	reloads      int
	confirms     int   // data_version reads
	watchErr     error // why commits is nil
}

// maxQuietAge bounds how long a copy is kept across commits that added no
// logbook entry.
const maxQuietAge = 30 * time.Second

// confirmEvery bounds how long the WAL index alone is trusted: should it
// ever miss a commit, the answer is at most this late.
const confirmEvery = time.Second

// NewCachedInventory opens its own connection to the store's file.
func NewCachedInventory(ctx context.Context, st *nodes.Store) (*CachedInventory, error) {
	// A plain connection to the same file: data_version is per connection
	// and must be asked on the same one each time.
	db, err := sql.Open("sqlite3", "file:"+url.PathEscape(st.Path())+"?_busy_timeout=30000")
	if err != nil {
		return nil, fmt.Errorf("inventory cache: open %s: %w", st.Path(), err)
	}
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("inventory cache: connect to %s: %w", st.Path(), err)
	}
	c := &CachedInventory{store: st, db: db, conn: conn, confirmEvery: confirmEvery}
	if c.versionStmt, err = conn.PrepareContext(ctx, "PRAGMA data_version"); err == nil {
		c.lastEv, err = conn.PrepareContext(ctx, "SELECT coalesce(max(id), 0) FROM events")
	}
	if err != nil {
		conn.Close()
		db.Close()
		return nil, fmt.Errorf("inventory cache: %s: %w", st.Path(), err)
	}
	c.watch()
	return c, nil
}

// watch (re)maps the WAL index. Without one the cache still works, with a
// query per lookup; FastCheck tells which.
func (c *CachedInventory) watch() {
	if c.commits != nil {
		c.commits.Close()
		c.commits = nil
	}
	// Our own connection keeps the -shm file in place; reading through it
	// once makes sure SQLite has created it.
	var v int64
	if err := c.versionStmt.QueryRowContext(context.Background()).Scan(&v); err != nil {
		c.watchErr = err
		return
	}
	c.commits, c.watchErr = c.store.WatchCommits()
}

// FastCheck reports nil when lookups check for changes without a query, or
// why they cannot.
func (c *CachedInventory) FastCheck() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.watchErr
}

// Close releases the cache's connection.
func (c *CachedInventory) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.commits != nil {
		c.commits.Close()
	}
	c.versionStmt.Close()
	c.lastEv.Close()
	c.conn.Close()
	return c.db.Close()
}

// Lookup implements Inventory.
func (c *CachedInventory) Lookup(ctx context.Context, mac string) (Record, error) {
	snap, err := c.current(ctx)
	if err != nil {
		return Record{}, err
	}
	r, ok := snap[mac]
	if !ok {
		return Record{}, fmt.Errorf("mac %s: %w", mac, nodes.ErrNotFound)
	}
	if r.Profile.Name == "" {
		return Record{}, fmt.Errorf("node %s: cluster %s or its profile vanished while the inventory was read; the next request rereads it", r.Node.Name, r.Node.Cluster)
	}
	return r, nil
}

func (c *CachedInventory) current(ctx context.Context) (map[string]Record, error) {
	need := c.started.Load() + 1
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.valid && c.checked >= need {
		// A check that began after this lookup did has just completed.
		return c.snap, nil
	}
	n := c.started.Add(1)
	if c.valid && c.commits != nil && time.Since(c.confirmedAt) < c.confirmEvery && c.commits.Stamp() == c.stamp {
		// Nothing committed anywhere since data_version was read.
		c.checked = n
		return c.snap, nil
	}
	// The stamp is read before data_version, so a commit landing between
	// the two changes the stamp again and is looked at next time.
	if c.commits != nil && c.commits.Stale() {
		c.watch()
	}
	if c.commits != nil {
		c.stamp = c.commits.Stamp()
	}
	c.confirmedAt = time.Now()
	c.confirms++
	// Without a cancel channel go-sqlite3 starts no watcher goroutine per
	// query; the check is too short to need cancelling (the profile showed
	// the goroutine churn).
	qctx := context.WithoutCancel(ctx)
	var v int64
	if err := c.versionStmt.QueryRowContext(qctx).Scan(&v); err != nil {
		c.valid = false
		return nil, fmt.Errorf("inventory %s: check for changes: %w", c.store.Path(), err)
	}
	if c.valid && v == c.version {
		c.checked = n
		return c.snap, nil
	}
	var ev int64
	if err := c.lastEv.QueryRowContext(qctx).Scan(&ev); err != nil {
		c.valid = false
		return nil, fmt.Errorf("inventory %s: read the logbook: %w", c.store.Path(), err)
	}
	if c.valid && ev == c.event && time.Since(c.loadedAt) < maxQuietAge {
		// Only sightings (or nothing DHCP serves) changed.
		c.version, c.checked = v, n
		return c.snap, nil
	}
	snap, complete, err := loadSnapshot(ctx, c.store)
	if err != nil {
		c.valid = false
		return nil, fmt.Errorf("inventory %s: reload: %w", c.store.Path(), err)
	}
	// The snapshot is read in several queries; a commit landing between
	// them can leave a node pointing at a cluster the snapshot missed.
	// Such a snapshot serves this request but is reread next time.
	c.snap, c.version, c.event, c.checked, c.valid = snap, v, ev, n, complete
	c.loadedAt = time.Now()
	c.reloads++
	return snap, nil
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
		r := Record{Node: n, Profile: byCluster[n.Cluster]}
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
