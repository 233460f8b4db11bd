package nodes

import (
	"context"
	"database/sql/driver"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// go-sqlite3 watches a cancellable context by running each step of a
// query's rows on a goroutine of its own and waiting on it or the context:
// reading the 1,000 nodes of a move started 1,000 goroutines, a tenth of
// the command's CPU. sqliteConnector hands connections whose queries step
// in place and look at the context before each row instead: a cancelled
// query stops at its next row as before, only a single step already under
// way is no longer interrupted (a step of the inventory's queries is
// short). Statements that change something, and BEGIN, whose wait for the
// write lock must stay interruptible, keep the driver's watch.
type sqliteConnector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	cn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return sqliteConn{cn.(*sqlite3.SQLiteConn)}, nil
}

func (c sqliteConnector) Driver() driver.Driver { return c.drv }

type sqliteConn struct{ *sqlite3.SQLiteConn }

func (c sqliteConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := c.SQLiteConn.QueryContext(context.WithoutCancel(ctx), q, args)
	if err != nil {
		return nil, err
	}
	return sqliteRows{rows.(*sqlite3.SQLiteRows), ctx}, nil
}

type sqliteRows struct {
	*sqlite3.SQLiteRows
	ctx context.Context
}

func (r sqliteRows) Next(dest []driver.Value) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	return r.SQLiteRows.Next(dest)
}
