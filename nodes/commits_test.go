package nodes_test

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/nodestest"
)

// TestMain lets a test run this binary as a second process that commits to
// an inventory: the WAL index is shared between processes, which is the case
// that matters (the CLI commits, the daemon watches).
func TestMain(m *testing.M) {
	if db := os.Getenv("NODES_TEST_COMMIT_TO"); db != "" {
		st, err := nodes.Open(db)
		if err == nil {
			_, err = st.Record(context.Background(), nodestest.Actor, nodes.Event{Action: "note", Reason: "from another process"})
			st.Close()
		}
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestCommitsSeeEveryCommit(t *testing.T) {
	ctx := context.Background()
	st := nodestest.Open(t)
	// A second connection of this process, as the CLI would be.
	other, err := nodes.Open(st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	w, err := st.WatchCommits()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	raw, err := sql.Open("sqlite3", "file:"+st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	steps := []struct {
		name    string
		do      func() error
		changed bool
	}{
		{"nothing", func() error { return nil }, false},
		{"a read", func() error { _, err := other.Nodes(ctx, ""); return err }, false},
		{"a logbook entry from another connection", func() error {
			_, err := other.Record(ctx, nodestest.Actor, nodes.Event{Action: "note"})
			return err
		}, true},
		{"a sighting of no known node (writes no page)", func() error {
			return other.RecordSeen(ctx, []nodes.Seen{{MAC: "02:00:00:00:00:01"}})
		}, false},
		{"a commit with no logbook entry", func() error {
			_, err := raw.Exec(`INSERT INTO events (time, actor, channel, action, nodes) VALUES (0, 'sqlite3', 'cli', 'note', '')`)
			return err
		}, true},
		{"a rolled-back transaction", func() error {
			tx, err := raw.Begin()
			if err != nil {
				return err
			}
			if _, err := tx.Exec(`DELETE FROM events`); err != nil {
				return err
			}
			return tx.Rollback()
		}, false},
		{"a checkpoint that empties the WAL", func() error {
			_, err := raw.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
			return err
		}, true},
		{"the first commit after the checkpoint", func() error {
			_, err := st.Record(ctx, nodestest.Actor, nodes.Event{Action: "note"})
			return err
		}, true},
		{"a commit from another process", func() error {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "NODES_TEST_COMMIT_TO="+st.Path())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Logf("%s", out)
			}
			return err
		}, true},
	}
	before := w.Stamp()
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		after := w.Stamp()
		if got := after != before; got != s.changed {
			t.Errorf("%s: stamp changed = %v, want %v", s.name, got, s.changed)
		}
		before = after
	}
	if w.Stale() {
		t.Error("Stale while connections are open")
	}
}

func TestCommitsStaleWhenTheIndexIsReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inventory.db")
	st, err := nodes.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := st.WatchCommits()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// The last connection closing deletes the -shm file; the next opener
	// makes a new one that the old mapping does not see.
	st.Close()
	if !w.Stale() {
		t.Fatal("not Stale after every connection closed")
	}
	st, err = nodes.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w2, err := st.WatchCommits()
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if w2.Stale() {
		t.Error("a fresh watch is Stale")
	}
}
