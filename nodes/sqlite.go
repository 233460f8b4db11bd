package nodes

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

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

// The inventory holds the web users' password hashes, the SSH keys and
// the paths of the BMC password files: only its owner may read it,
// whatever the umask of the process that creates it.
const inventoryMode = 0o600

// prepareSQLiteFile makes the inventory file private before SQLite opens
// it: a new file is created 0600 (SQLite then gives its -wal and -shm the
// same mode, forcing it past the umask, and the same owner); an existing
// file, -wal or -shm that others can read is tightened to 0600 when the
// process owns it, and said so in the log. Anything that group or others
// could write is refused, the directory included: whoever can write there
// could already have changed the inventory, or can replace it, or plant a
// -wal file SQLite would replay into it.
func prepareSQLiteFile(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("directory %s: %w (create it with 'install -d -m 700 %s' or pass --db)", dir, err, dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("directory %s (owner %s, mode %s) is writable by %s, who could replace the inventory: fix with 'chmod 700 %s' (or keep the inventory elsewhere with --db)",
			dir, ownerOf(fi), modeString(fi.Mode()), Writers(fi.Mode()), dir)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, inventoryMode)
	switch {
	case err == nil:
		// A umask such as 0277 would make even 0600 unwritable.
		err = f.Chmod(inventoryMode)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("create %s: %w", path, err)
		}
	case !errors.Is(err, os.ErrExist):
		return fmt.Errorf("create %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := tightenInventoryFile(p); err != nil {
			return err
		}
	}
	return nil
}

func tightenInventoryFile(p string) error {
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	m := fi.Mode()
	if m.Perm()&0o022 != 0 {
		return fmt.Errorf("%s (owner %s, mode %s) is writable by %s, who could have changed the inventory: check it, then fix with 'chmod 600 %s'",
			p, ownerOf(fi), modeString(m), Writers(m), p)
	}
	if m.Perm()&0o077 == 0 {
		return nil
	}
	if uid, ok := uidOf(fi); !ok || (uid != os.Geteuid() && os.Geteuid() != 0) {
		slog.Warn("inventory file is readable by other users and not ours to change; its owner should run chmod 600 on it", "path", p, "mode", modeString(m), "owner", ownerOf(fi))
		return nil
	}
	if err := os.Chmod(p, inventoryMode); err != nil {
		return fmt.Errorf("%s (mode %s) is readable by other users and could not be made 0600: %w", p, modeString(m), err)
	}
	slog.Warn("inventory file was readable by other users; made it 0600", "path", p, "was", modeString(m))
	return nil
}

func modeString(m os.FileMode) string { return fmt.Sprintf("%04o", uint32(m.Perm())) }

func uidOf(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

func ownerOf(fi os.FileInfo) string {
	uid, ok := uidOf(fi)
	if !ok {
		return "unknown"
	}
	id := strconv.Itoa(uid)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return "uid " + id
}

// Writers names who besides the owner may write a file of mode m, for
// refusals of files root trusts (the inventory here, hooks in package hooks).
func Writers(m os.FileMode) string {
	switch {
	case m&0o020 != 0 && m&0o002 != 0:
		return "group and others"
	case m&0o020 != 0:
		return "group"
	default:
		return "others"
	}
}
