package nodes

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// copyTables are the inventory's tables in an order that satisfies every
// reference as rows arrive (nfsroots before the profiles naming them, and
// so on). The generation, the schema version and the boot servers' rows
// (boot_servers) are not data: the target keeps its own. TestCopyTablesComplete keeps the list whole.
var copyTables = []string{
	"nfsroots", "profiles", "boot_files", "clusters", "nodes", "subnets", "ssh_keys",
	"events", "event_nodes", "unknown_macs", "bmcs", "web_users",
	"web_tokens",
}

// TableCheck is one table's verification after a copy.
type TableCheck struct {
	Table string `json:"table"`
	Rows  int    `json:"rows"`
	// SHA256 is over the table's rows as text, sorted, so the same
	// content gives the same hash on either backend.
	SHA256 string `json:"sha256"`
}

// CopyReport is what CopyInventory copied and verified.
type CopyReport struct {
	From   string       `json:"from"`
	To     string       `json:"to"`
	Tables []TableCheck `json:"tables"`
	Event  int64        `json:"event"` // the target's logbook entry for the copy
}

// CopyInventory copies every table of from into to (a SQLite inventory
// into a PostgreSQL one, typically), logbook included with its numbers,
// and verifies the copy: per table the row count and a content hash must
// match the source. It is one transaction on the target, holding the
// source's write lock throughout so nothing changes under it; on any
// mismatch nothing is committed. A target holding any row is refused
// unless force, which replaces its contents. The copy's own logbook entry
// is appended to the target after verification.
func CopyInventory(ctx context.Context, actor Actor, from, to *Store, force bool) (CopyReport, error) {
	rep := CopyReport{From: from.Path(), To: to.Path()}
	if from.pg == to.pg && from.path == to.path {
		return rep, Invalid(fmt.Errorf("copy inventory: %s onto itself", from.Path()))
	}
	// BEGIN IMMEDIATE on SQLite (the store's DSN), the advisory lock on
	// PostgreSQL: writers to the source wait until the copy is done.
	src, err := from.db.BeginTx(ctx, nil)
	if err != nil {
		return rep, fmt.Errorf("copy inventory: lock %s: %w", from.Path(), err)
	}
	defer src.Rollback()
	if from.pg {
		if _, err := src.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, writeLock); err != nil {
			return rep, fmt.Errorf("copy inventory: lock %s: %w", from.Path(), err)
		}
	}
	err = to.write(ctx, func(tx *sql.Tx) error {
		rep.Tables = nil
		var held []string
		for _, tb := range copyTables {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+tb).Scan(&n); err != nil {
				return fmt.Errorf("count %s in %s: %w", tb, to.Path(), err)
			}
			if n > 0 {
				held = append(held, fmt.Sprintf("%s: %d rows", tb, n))
			}
		}
		if len(held) > 0 && !force {
			return Invalid(fmt.Errorf("copy inventory: %s is not empty (%s): copy into an empty database, or pass --force to replace its contents", to.Path(), strings.Join(held, ", ")))
		}
		for _, tb := range slices.Backward(copyTables) {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+tb); err != nil {
				return fmt.Errorf("empty %s in %s: %w", tb, to.Path(), err)
			}
		}
		cols := map[string][]string{}
		for _, tb := range copyTables {
			if cols[tb], err = from.columnsOf(ctx, src, tb); err != nil {
				return fmt.Errorf("copy %s: %w", tb, err)
			}
			if err := copyTable(ctx, src, tx, tb, cols[tb]); err != nil {
				return fmt.Errorf("copy %s: %w", tb, err)
			}
		}
		for _, tb := range copyTables {
			a, err := checkTable(ctx, src, tb, cols[tb])
			if err != nil {
				return fmt.Errorf("verify %s in %s: %w", tb, from.Path(), err)
			}
			b, err := checkTable(ctx, tx, tb, cols[tb])
			if err != nil {
				return fmt.Errorf("verify %s in %s: %w", tb, to.Path(), err)
			}
			if a != b {
				return fmt.Errorf("verify %s: source has %d rows (sha256 %s), copy %d rows (sha256 %s): nothing committed", tb, a.Rows, a.SHA256, b.Rows, b.SHA256)
			}
			rep.Tables = append(rep.Tables, a)
		}
		id, err := to.appendEvent(ctx, tx, actor, Event{Action: ActionInventoryCopy, Source: from.Path(),
			Result: fmt.Sprintf("copied and verified %d tables, %d logbook entries", len(rep.Tables), rep.Tables[slices.Index(copyTables, "events")].Rows)})
		rep.Event = id
		return err
	})
	return rep, err
}

// columnsOf lists a table's columns from the store's catalogue. Both
// stores of a copy were brought to this binary's schema when opened, and
// TestBackendsAgree checks the two backends' columns are the same.
func (s *Store) columnsOf(ctx context.Context, q queryer, tb string) ([]string, error) {
	query := `SELECT name FROM pragma_table_info(?) ORDER BY cid`
	if s.pg {
		query = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`
	}
	cols, err := queryNames(ctx, q, query, tb)
	if err == nil && len(cols) == 0 {
		err = fmt.Errorf("no table %s", tb)
	}
	return cols, err
}

func quoteColumns(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = `"` + c + `"`
	}
	return strings.Join(q, ", ")
}

func copyTable(ctx context.Context, src queryer, dst *sql.Tx, tb string, cols []string) error {
	rows, err := src.QueryContext(ctx, `SELECT `+quoteColumns(cols)+` FROM `+tb)
	if err != nil {
		return err
	}
	defer rows.Close()
	ins, err := dst.PrepareContext(ctx, `INSERT INTO `+tb+` (`+quoteColumns(cols)+`) VALUES (`+strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",")+`)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		if _, err := ins.ExecContext(ctx, vals...); err != nil {
			return err
		}
	}
	return rows.Err()
}

// checkTable counts a table's rows and hashes them: each row as its
// columns' text joined by a unit separator, the rows sorted byte-wise.
func checkTable(ctx context.Context, q queryer, tb string, cols []string) (TableCheck, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+quoteColumns(cols)+` FROM `+tb)
	if err != nil {
		return TableCheck{}, err
	}
	defer rows.Close()
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var lines []string
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return TableCheck{}, err
		}
		var b strings.Builder
		for i, v := range vals {
			if i > 0 {
				b.WriteByte(0x1f)
			}
			if v.Valid {
				b.WriteString("v" + v.String)
			} else {
				b.WriteString("n")
			}
		}
		lines = append(lines, b.String())
	}
	if err := rows.Err(); err != nil {
		return TableCheck{}, err
	}
	slices.Sort(lines)
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l))
		h.Write([]byte{0x1e})
	}
	return TableCheck{Table: tb, Rows: len(lines), SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}
