package nodes

import (
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
