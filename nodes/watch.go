package nodes

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Watcher tells, without a query, whether anyone may have committed to the
// inventory since an earlier look: two equal Stamps mean no commit came in
// between. It is a hint to skip work, never the data: when the Stamp moves
// the caller reads the generation (GenerationQuery). Two implementations:
// SQLite's shared WAL index (Commits) and PostgreSQL's LISTEN/NOTIFY
// (PgCommits).
type Watcher interface {
	Stamp() Stamp
	// Stale reports that the watcher no longer sees commits; the caller
	// should Watch again.
	Stale() bool
	// Changed receives after the Stamp moved, so a boot server applies a
	// commit when it is announced rather than at its next request. Nil
	// when the watcher cannot tell (SQLite's WAL index is memory, not an
	// event): the caller polls Stamp, which costs a few memory loads.
	Changed() <-chan struct{}
	Close() error
}

// Changed implements Watcher: nil, poll Stamp.
func (c *Commits) Changed() <-chan struct{} { return nil }

// Watch starts watching the inventory for commits.
func (s *Store) Watch() (Watcher, error) {
	if s.pg {
		return s.watchPostgres(), nil
	}
	c, err := s.WatchCommits()
	if err != nil {
		// Not a typed nil in the interface: callers test for nil.
		return nil, err
	}
	return c, nil
}

// OpenSide opens a second handle on the same inventory for a reader that
// must not queue behind the store's pool (the DHCP cache's generation
// reads). The caller closes it.
func (s *Store) OpenSide() (*sql.DB, error) {
	if s.pg {
		cfg, err := pgx.ParseConfig(s.dsn)
		if err != nil {
			return nil, fmt.Errorf("inventory %s: %w", s.path, err)
		}
		return sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg)}), nil
	}
	db, err := sql.Open("sqlite3", "file:"+url.PathEscape(s.path)+"?_busy_timeout=30000")
	if err != nil {
		return nil, fmt.Errorf("inventory %s: %w", s.path, err)
	}
	return db, nil
}

// dropIdle closes the store's idle connections, so the next query opens a
// new one (after a restart or failover the old ones are dead, and each
// would fail one query before the pool let it go).
func (s *Store) dropIdle() {
	s.db.SetMaxIdleConns(0)
	s.db.SetMaxIdleConns(2) // database/sql's default
}

// GenerationChannel is what the generation trigger of the PostgreSQL schema
// notifies at every commit that moved the generation (schema_pg.go).
const GenerationChannel = "node_switch_generation"

// PgCommits counts the notifications of GenerationChannel on a connection
// of its own, so a Stamp moves with every boot-affecting commit from any
// server or front end on the database, without a query per lookup. When
// the connection is lost it says so in the log, reconnects with backoff,
// and moves the Stamp once it listens again (whatever committed meanwhile
// was not notified to it), so the caller rereads.
//
// A notification arrives a moment after the commit it announces (the
// server sends it at commit, the listener reads it from the socket). A
// boot server applies it at once (Changed) and records that it did
// (boot_servers, servers.go); a change waits for that before it returns,
// so no request after the change is answered in that moment (e2e/pge2e).
type PgCommits struct {
	n       atomic.Uint64
	changed chan struct{} // one pending signal: Changed
	up      atomic.Bool
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
}

// Connected reports whether the listener is connected to PostgreSQL now.
func (p *PgCommits) Connected() bool { return p.up.Load() }

// Stamp implements Watcher.
func (p *PgCommits) Stamp() Stamp { return Stamp{p.n.Load()} }

// Stale implements Watcher: the listener reconnects by itself.
func (p *PgCommits) Stale() bool { return false }

// Changed implements Watcher: it receives after each notification and
// after each (re)connection.
func (p *PgCommits) Changed() <-chan struct{} { return p.changed }

// moved moves the Stamp and signals Changed; a signal already pending
// stands for this one too (the receiver rereads whatever the count is).
func (p *PgCommits) moved() {
	p.n.Add(1)
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// Close stops listening.
func (p *PgCommits) Close() error {
	p.once.Do(func() { p.cancel(); <-p.done })
	return nil
}

// backoff bounds: the first retry is quick (a restart or a failover takes
// seconds), later ones no more often than every few seconds.
const (
	listenRetryFirst = 100 * time.Millisecond
	listenRetryMax   = 5 * time.Second
)

func (s *Store) watchPostgres() *PgCommits {
	ctx, cancel := context.WithCancel(context.Background())
	p := &PgCommits{cancel: cancel, done: make(chan struct{}), changed: make(chan struct{}, 1)}
	// Not connected yet: the caller's first look reads the generation
	// anyway, and the first LISTEN moves the Stamp.
	go func() {
		defer close(p.done)
		wait := listenRetryFirst
		lost := false
		for ctx.Err() == nil {
			was, err := p.listen(ctx, s.dsn, &lost, s.dropIdle)
			if ctx.Err() != nil {
				return
			}
			if !lost {
				slog.Warn("inventory: lost PostgreSQL; boot servers answer from their last snapshot, writes fail until it is back", "inventory", s.path, "err", err)
				lost = true
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			if was {
				wait = listenRetryFirst
			} else {
				wait = min(2*wait, listenRetryMax)
			}
		}
	}()
	return p
}

// listen connects, LISTENs and counts notifications until the connection
// fails; it returns whether it had been listening, and why it stopped.
func (p *PgCommits) listen(ctx context.Context, dsn string, lost *bool, back func()) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.Connect(cctx, dsn)
	cancel()
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+GenerationChannel); err != nil {
		return false, err
	}
	if *lost {
		// The store's idle connections are to the server that went away
		// (or was demoted): drop them before the caller rereads.
		back()
		slog.Info("inventory: PostgreSQL is back; rereading", "server", conn.PgConn().Conn().RemoteAddr().String())
		*lost = false
	}
	// Listening from here on: anything committed before is in the
	// generation the caller reads when it sees the Stamp move.
	p.up.Store(true)
	p.moved()
	defer p.up.Store(false)
	for {
		_, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			return true, fmt.Errorf("listening for commits: %w", err)
		}
		p.moved()
	}
}
