package nodes

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// DefaultPath is where a head node keeps its inventory.
const DefaultPath = "/var/lib/node-switch/inventory.db"

// Store is the inventory: a SQLite file, or a PostgreSQL database when
// several boot servers share one (see OpenPostgres). It is safe for concurrent use, and any
// number of processes (the daemon, CLI invocations, the SSH front door) may
// share one file: WAL lets readers run beside the single writer, and every
// write transaction starts with BEGIN IMMEDIATE so two writers queue on the
// busy timeout instead of failing with "database is locked" half-way.
//
// On PostgreSQL every write transaction first takes one transaction-level
// advisory lock (writeLock), so writers queue exactly as they do behind
// SQLite's BEGIN IMMEDIATE: each sees every earlier commit and none
// interleaves with another, whatever isolation level a statement would
// otherwise get.
type Store struct {
	db   *sql.DB
	path string // the file, or the PostgreSQL URL without its password
	pg   bool
	dsn  string // PostgreSQL: the full connection string
	now  func() time.Time
	// force lets changes through the boot guard (see WithForce).
	force bool
}

// Open opens (creating if needed) the inventory at path and brings its
// schema up to date. A postgres:// or postgresql:// URL opens a PostgreSQL
// database instead (OpenPostgres).
func Open(path string) (*Store, error) {
	if IsPostgres(path) {
		return OpenPostgres(path)
	}
	if err := prepareSQLiteFile(path); err != nil {
		return nil, fmt.Errorf("open inventory %s: %w", path, err)
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", "30000")
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", "FULL")
	q.Set("_txlock", "immediate")
	dsn := "file:" + url.PathEscape(path) + "?" + q.Encode()
	db := sql.OpenDB(sqliteConnector{dsn: dsn, drv: &sqlite3.SQLiteDriver{}})
	s := &Store{db: db, path: path, now: time.Now}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("open inventory %s: %w", path, err)
	}
	return s, nil
}

// Path is the file the store was opened from; on PostgreSQL, the URL
// without its password, for messages.
func (s *Store) Path() string { return s.path }

// Dir is where files that belong beside the inventory go (the SSH host
// key, the web certificate): the file's directory, or DefaultPath's for a
// PostgreSQL inventory, which has no directory of its own.
func (s *Store) Dir() string {
	if s.pg {
		return filepath.Dir(DefaultPath)
	}
	return filepath.Dir(s.path)
}

// Postgres reports whether the inventory is in PostgreSQL.
func (s *Store) Postgres() bool { return s.pg }

// Close releases the database.
func (s *Store) Close() error { return s.db.Close() }

// SetClock replaces the time source; tests use it for stable logbooks.
func (s *Store) SetClock(now func() time.Time) { s.now = now }

func (s *Store) migrate(ctx context.Context) error {
	if s.pg {
		return s.migratePostgres(ctx)
	}
	// Nearly every open finds the schema current: a plain read says so
	// without the write lock that BEGIN IMMEDIATE would queue for behind
	// the daemon's writes. Otherwise the version is read again under it.
	var v int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v == len(migrations) {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		var v int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if v > len(migrations) {
			return fmt.Errorf("schema version %d is newer than this node-switch knows (%d): upgrade node-switch", v, len(migrations))
		}
		for i := v; i < len(migrations); i++ {
			if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		if v != len(migrations) {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
				return fmt.Errorf("record schema version: %w", err)
			}
		}
		return nil
	})
}

// write runs fn in one immediate transaction: all of it commits or none.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := s.writeOnce(ctx, fn)
		// The busy timeout covers nearly every wait; a lock error can still
		// escape it when SQLite must break a deadlock, and retrying the whole
		// transaction is safe because nothing of it committed.
		if err != nil && (isBusy(err) || pgRetryable(err)) && attempt < 20 && ctx.Err() == nil {
			time.Sleep(time.Duration(10*(attempt+1)) * time.Millisecond)
			continue
		}
		return err
	}
}

func (s *Store) writeOnce(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if s.pg {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, writeLock); err != nil {
			tx.Rollback()
			return fmt.Errorf("begin: wait for the write lock: %w", err)
		}
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func isBusy(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	return false
}

// queryer is what read helpers need; both *sql.DB and *sql.Tx satisfy it, so
// the same lookup serves a plain read and a check inside a write.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
