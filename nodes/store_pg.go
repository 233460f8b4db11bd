package nodes

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// writeLock is the advisory lock key every PostgreSQL write transaction
// takes first (pg_advisory_xact_lock), released at commit or rollback: the
// one-writer-at-a-time of SQLite's BEGIN IMMEDIATE. Any 64-bit number
// nothing else on the database uses; this one spells "nodeswch".
const writeLock int64 = 0x6e6f64657377_6368

// IsPostgres reports whether an inventory location is a PostgreSQL URL
// rather than a file.
func IsPostgres(loc string) bool {
	return strings.HasPrefix(loc, "postgres://") || strings.HasPrefix(loc, "postgresql://")
}

// Redact returns a PostgreSQL URL without its password (to print it);
// anything else unchanged.
func Redact(loc string) string {
	if !IsPostgres(loc) {
		return loc
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// OpenPostgres opens the inventory in the PostgreSQL database dsn names
// (a postgres:// URL, with pgx's parameters: several hosts and
// target_session_attrs=read-write for a primary and its standby), and
// brings its schema up to date. The database must exist; the role needs
// to create tables in it on the first open.
func OpenPostgres(dsn string) (*Store, error) {
	shown := Redact(dsn)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, Invalid(fmt.Errorf("open inventory %s: %w", shown, err))
	}
	db := sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg)})
	s := &Store{db: db, path: shown, pg: true, dsn: dsn, now: time.Now}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		var ce *pgconn.ConnectError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("open inventory %s: cannot reach PostgreSQL, nothing changed (is the server up, and --db / NODE_SWITCH_DB right? boot servers keep answering from their snapshot meanwhile): %w", shown, err)
		}
		return nil, fmt.Errorf("open inventory %s: %w", shown, err)
	}
	return s, nil
}

func (s *Store) migratePostgres(ctx context.Context) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS node_switch_schema (version BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		var v int
		switch err := tx.QueryRowContext(ctx, `SELECT version FROM node_switch_schema`).Scan(&v); err {
		case nil:
		case sql.ErrNoRows:
			if _, err := tx.ExecContext(ctx, `INSERT INTO node_switch_schema (version) VALUES (0)`); err != nil {
				return fmt.Errorf("record schema version: %w", err)
			}
		default:
			return fmt.Errorf("read schema version: %w", err)
		}
		if v > len(pgMigrations) {
			return fmt.Errorf("schema version %d is newer than this node-switch knows (%d): upgrade node-switch", v, len(pgMigrations))
		}
		for i := v; i < len(pgMigrations); i++ {
			if _, err := tx.ExecContext(ctx, pgMigrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		if v != len(pgMigrations) {
			if _, err := tx.ExecContext(ctx, `UPDATE node_switch_schema SET version = ?`, len(pgMigrations)); err != nil {
				return fmt.Errorf("record schema version: %w", err)
			}
		}
		return nil
	})
}
