package nodes

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWatchCommitsRefusesWhatIsNoWALIndex(t *testing.T) {
	dir := t.TempDir()
	zeros := filepath.Join(dir, "zeros-shm")
	if err := os.WriteFile(zeros, make([]byte, 32768), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short-shm")
	if err := os.WriteFile(short, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing-shm"), zeros, short} {
		if _, err := watchCommits(path); !errors.Is(err, errNotWAL) {
			t.Errorf("watchCommits(%s) = %v, want errNotWAL", filepath.Base(path), err)
		}
	}
}

// TestGenerationMigratesAShippedInventory opens an inventory written by a
// node-switch that knew only the first schema: the migration adds the
// generation without touching the data, and the triggers work from then on.
func TestGenerationMigratesAShippedInventory(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "inventory.db")
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{migrations[0], `PRAGMA user_version = 1`,
		`INSERT INTO profiles (name, kind) VALUES ('p', 'linux')`,
		`INSERT INTO clusters (name, profile) VALUES ('c', 'p')`,
		`INSERT INTO nodes (name, mac, ip, cluster) VALUES ('n1', '02:00:00:00:00:01', '10.0.0.1', 'c')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	db.Close()

	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.Node(ctx, "n1"); err != nil || n.Cluster != "c" {
		t.Fatalf("node after migration: %+v, %v", n, err)
	}
	g0, err := st.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.db.Exec(`UPDATE nodes SET masked = 1`); err != nil {
		t.Fatal(err)
	}
	if g1, err := st.Generation(ctx); err != nil || g1 == g0 {
		t.Fatalf("generation %d after a mask, was %d (%v)", g1, g0, err)
	}
}
