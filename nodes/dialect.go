package nodes

import (
	"context"
	"database/sql/driver"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// The store's queries are written once, in the SQL both backends share,
// with SQLite's spelling where the two differ. On PostgreSQL a thin
// database/sql driver wraps pgx's own and translates each query on its way
// (pgSQL) and the few argument types PostgreSQL will not take for the
// column they fill (pgArgs), so no query is written twice and a caller
// cannot tell the backends apart.

// pgSQL translates a query from the store's dialect to PostgreSQL's:
//   - ? placeholders become $1, $2, ... (not inside quotes);
//   - INSERT OR IGNORE INTO ... becomes INSERT INTO ... ON CONFLICT DO NOTHING;
//   - LIMIT -1 (SQLite's "no limit", needed before OFFSET) becomes LIMIT ALL.
//
// Anything else SQLite-only (a PRAGMA, a two-argument min) is not
// translated and fails on PostgreSQL with its own error, which the test
// running the store's tests on both backends catches.
func pgSQL(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			// A comment, to the end of the line: its quotes and question
			// marks are prose.
			quote = '\n'
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	out := b.String()
	if i := indexFold(out, "INSERT OR IGNORE INTO"); i >= 0 {
		out = out[:i] + "INSERT INTO" + out[i+len("INSERT OR IGNORE INTO"):] + " ON CONFLICT DO NOTHING"
	}
	if i := indexFold(out, "LIMIT -1"); i >= 0 {
		out = out[:i] + "LIMIT ALL" + out[i+len("LIMIT -1"):]
	}
	return out
}

func indexFold(s, sub string) int {
	return strings.Index(strings.ToUpper(s), sub)
}

// pgArgs converts Go booleans to 0/1: the schema keeps SQLite's integer
// flags on both backends (masked, check_ok, http), so the same comparisons
// (masked = 1) and the same scans work, and pgx will not encode a bool
// into a bigint column by itself.
func pgArgs(args []driver.NamedValue) []driver.NamedValue {
	for i, a := range args {
		if v, ok := a.Value.(bool); ok {
			if v {
				args[i].Value = int64(1)
			} else {
				args[i].Value = int64(0)
			}
		}
	}
	return args
}

// pgConnector hands database/sql connections that translate.
type pgConnector struct{ inner driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &pgConn{cn.(*stdlib.Conn)}, nil
}

func (c pgConnector) Driver() driver.Driver { return c.inner.Driver() }

type pgConn struct{ c *stdlib.Conn }

var (
	_ driver.ConnPrepareContext = (*pgConn)(nil)
	_ driver.ConnBeginTx        = (*pgConn)(nil)
	_ driver.ExecerContext      = (*pgConn)(nil)
	_ driver.QueryerContext     = (*pgConn)(nil)
	_ driver.Pinger             = (*pgConn)(nil)
	_ driver.SessionResetter    = (*pgConn)(nil)
	_ driver.NamedValueChecker  = (*pgConn)(nil)
)

func (p *pgConn) Prepare(q string) (driver.Stmt, error) {
	return p.PrepareContext(context.Background(), q)
}

func (p *pgConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	st, err := p.c.PrepareContext(ctx, pgSQL(q))
	if err != nil {
		return nil, err
	}
	return pgStmt{st.(*stdlib.Stmt)}, nil
}

func (p *pgConn) Close() error { return p.c.Close() }
func (p *pgConn) Begin() (driver.Tx, error) {
	return p.c.BeginTx(context.Background(), driver.TxOptions{})
}
func (p *pgConn) BeginTx(ctx context.Context, o driver.TxOptions) (driver.Tx, error) {
	return p.c.BeginTx(ctx, o)
}
func (p *pgConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	return p.c.ExecContext(ctx, pgSQL(q), pgArgs(args))
}
func (p *pgConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	return p.c.QueryContext(ctx, pgSQL(q), pgArgs(args))
}
func (p *pgConn) Ping(ctx context.Context) error             { return p.c.Ping(ctx) }
func (p *pgConn) ResetSession(ctx context.Context) error     { return p.c.ResetSession(ctx) }
func (p *pgConn) CheckNamedValue(v *driver.NamedValue) error { return p.c.CheckNamedValue(v) }
func (p *pgConn) IsValid() bool                              { return !p.c.Conn().IsClosed() }

type pgStmt struct{ s *stdlib.Stmt }

func (s pgStmt) Close() error  { return s.s.Close() }
func (s pgStmt) NumInput() int { return s.s.NumInput() }
func (s pgStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.s.Exec(args)
}
func (s pgStmt) Query(args []driver.Value) (driver.Rows, error) { return s.s.Query(args) }
func (s pgStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.s.ExecContext(ctx, pgArgs(args))
}
func (s pgStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.s.QueryContext(ctx, pgArgs(args))
}

// pgRetryable reports a transaction PostgreSQL aborted only because of
// another one (serialization failure, deadlock): running it again is safe,
// nothing of it committed.
func pgRetryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	return false
}
