package nodes

import (
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// asNobody runs argv as the user nobody: a second local user, the real
// peer the inventory's modes keep out.
func asNobody(t *testing.T, argv ...string) (string, error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs runuser -u nobody as a second local user")
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		t.Skip("needs runuser (util-linux)")
	}
	out, err := exec.Command("runuser", append([]string{"-u", "nobody", "--"}, argv...)...).CombinedOutput()
	return string(out), err
}

// openDir is a directory every user may enter (but not write), so only the
// inventory files' own modes keep another user out.
func openDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != filepath.Dir(d) && strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// The inventory, its -wal and its -shm are 0600 under the usual umask 022,
// whether node-switch creates them or finds them readable by everyone
// (0644, as before), and another local user can read none of them.
func TestInventoryFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	tests := []struct {
		name string
		// before prepares an inventory at db, or leaves nothing there; it
		// returns a cleanup that closes what it opened.
		before func(t *testing.T, db string) func()
	}{
		{"created by node-switch", func(*testing.T, string) func() { return func() {} }},
		{"found 0644 with -wal and -shm 0644 in use", func(t *testing.T, db string) func() {
			// Another program (an older node-switch) holds the database
			// open, so its -wal and -shm exist with the file's 0644.
			if err := os.WriteFile(db, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			raw, err := sql.Open("sqlite3", "file:"+db+"?_journal_mode=WAL")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec("CREATE TABLE old (x); INSERT INTO old VALUES (1)"); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{db, db + "-wal", db + "-shm"} {
				if m := mode(t, p); m != 0o644 {
					t.Fatalf("setup: %s is %04o, want 0644", p, m)
				}
			}
			return func() { raw.Close() }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := filepath.Join(openDir(t), "inventory.db")
			defer tt.before(t, db)()
			st, err := Open(db)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			withClusters(t, st) // a write: -wal and -shm exist while st is open
			for _, p := range []string{db, db + "-wal", db + "-shm"} {
				if m := mode(t, p); m != 0o600 {
					t.Errorf("%s is %04o, want 0600", p, m)
				}
				if out, err := asNobody(t, "head", "-c", "1", p); err == nil || !strings.Contains(out, "Permission denied") {
					t.Errorf("nobody could read %s (err %v)", p, err)
				}
			}
		})
	}
}

// What group or others could write is refused, with the path, its mode
// and the command that fixes it; the inventory is not opened.
func TestWritableInventoryIsRefused(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T, dir, db string) string // returns the path to be named
		wantMode string
		wantFix  string
	}{
		{"directory 0777", func(t *testing.T, dir, db string) string {
			return dir
		}, "0777", "chmod 700 "},
		{"directory 0775", func(t *testing.T, dir, db string) string {
			must(t, os.Chmod(dir, 0o775))
			return dir
		}, "0775", "chmod 700 "},
		{"file 0666", func(t *testing.T, dir, db string) string {
			must(t, os.Chmod(dir, 0o755))
			must(t, os.WriteFile(db, nil, 0o600))
			must(t, os.Chmod(db, 0o666))
			return db
		}, "0666", "chmod 600 "},
		{"-wal 0646", func(t *testing.T, dir, db string) string {
			must(t, os.Chmod(dir, 0o700))
			must(t, os.WriteFile(db+"-wal", nil, 0o600))
			must(t, os.Chmod(db+"-wal", 0o646))
			return db + "-wal"
		}, "0646", "chmod 600 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			must(t, os.Mkdir(dir, 0o700))
			must(t, os.Chmod(dir, 0o777))
			db := filepath.Join(dir, "inventory.db")
			named := tt.setup(t, dir, db)
			st, err := Open(db)
			if err == nil {
				st.Close()
				t.Fatal("opened")
			}
			for _, w := range []string{named + " ", tt.wantMode, tt.wantFix + named} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}
