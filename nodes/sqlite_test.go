package nodes

import (
	"context"
	"errors"
	"testing"
)

// A query's rows step without the driver's goroutine per row
// (sqliteConnector), yet a cancelled context still ends them: a query
// does not start, and one under way stops at its next row.
func TestCancelledQuery(t *testing.T) {
	st := withClusters(t, openAt(t, backends[0].open(t)))
	addNodes(t, st, "n", "linux", 20)
	tests := []struct {
		name        string
		cancelAfter int // rows read before the cancel; -1: before the query
	}{
		{"before the query", -1},
		{"after the first row", 1},
		{"half-way", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tx, err := st.db.BeginTx(context.Background(), nil)
			must(t, err)
			defer tx.Rollback()
			if tt.cancelAfter < 0 {
				cancel()
			}
			rows, err := tx.QueryContext(ctx, `SELECT name FROM nodes`)
			if tt.cancelAfter < 0 {
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("query with a cancelled context: %v, want %v", err, context.Canceled)
				}
				return
			}
			must(t, err)
			defer rows.Close()
			read := 0
			for rows.Next() {
				read++
				if read == tt.cancelAfter {
					cancel()
				}
				if read > tt.cancelAfter {
					t.Fatalf("read %d rows after the cancel at row %d", read-tt.cancelAfter, tt.cancelAfter)
				}
			}
			if !errors.Is(rows.Err(), context.Canceled) {
				t.Fatalf("rows.Err() = %v after %d rows, want %v", rows.Err(), read, context.Canceled)
			}
		})
	}
}
