package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// needPeer skips without root and runuser: the tests need a second local
// user (nobody) as the real peer.
func needPeer(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs runuser -u nobody as a second local user")
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		t.Skip("needs runuser (util-linux)")
	}
}

// enterable is a temporary directory every user may enter but not write.
func enterable(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A local user who can write the hooks directory plants a hook: the move
// is refused naming the directory, nothing moves and the hook does not
// run; after the fix the message names, the move goes through.
func TestMoveRefusesHooksAnotherUserWrote(t *testing.T) {
	needPeer(t)
	base := enterable(t)
	db := filepath.Join(t.TempDir(), "inventory.db")
	mustRun(t, db, "import", "dhcpd", um64Conf, "--name-map", "um64_win=windows", "--name-map", "um64_linux=linux")
	hooks := filepath.Join(base, "hooks.d")
	if err := os.Mkdir(hooks, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(hooks, 0o777); err != nil {
		t.Fatal(err)
	}
	proof := filepath.Join(base, "ran-as")
	if out, err := exec.Command("runuser", "-u", "nobody", "--", "sh", "-c",
		`printf '#!/bin/sh\nid -u >> `+proof+`\n' > `+hooks+`/10-evil && chmod 755 `+hooks+`/10-evil`).CombinedOutput(); err != nil {
		t.Fatalf("nobody could not plant the hook: %v %s", err, out)
	}
	_, errOut, st := run(t, db, "--hooks-dir", hooks, "move", "umu20", "--to", "windows", "--reason", "test")
	if st == 0 || !strings.Contains(errOut, "hooks directory "+hooks+" (owner root, mode 0777)") || !strings.Contains(errOut, "chmod go-w "+hooks) {
		t.Fatalf("move with a 0777 hooks directory: exit %d: %s", st, errOut)
	}
	if out := mustRun(t, db, "node", "list", "umu20"); !strings.Contains(out, "linux") {
		t.Fatalf("umu20 moved although its pre-hooks were refused:\n%s", out)
	}
	if b, err := os.ReadFile(proof); err == nil {
		t.Fatalf("the planted hook ran as uid %s", b)
	}
	// The fixes the messages name, one at a time.
	if err := os.Chmod(hooks, 0o755); err != nil {
		t.Fatal(err)
	}
	_, errOut, st = run(t, db, "--hooks-dir", hooks, "move", "umu20", "--to", "windows", "--reason", "test")
	if st == 0 || !strings.Contains(errOut, "hook "+hooks+"/10-evil (owner uid 65534 (nobody)") || !strings.Contains(errOut, "chown root "+hooks+"/10-evil") {
		t.Fatalf("move with nobody's hook: exit %d: %s", st, errOut)
	}
	if err := os.Chown(filepath.Join(hooks, "10-evil"), 0, 0); err != nil {
		t.Fatal(err)
	}
	mustRun(t, db, "--hooks-dir", hooks, "move", "umu20", "--to", "windows", "--reason", "test")
	if b, err := os.ReadFile(proof); err != nil || string(b) != "0\n0\n" {
		t.Fatalf("the checked hook did not run for pre- and post-move: %q %v", b, err)
	}
}

// The CLI under the usual umask 022 creates the inventory and its -wal
// and -shm so that another local user can read none of them.
func TestCLIInventoryUnreadableByOthers(t *testing.T) {
	needPeer(t)
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	db := filepath.Join(enterable(t), "inventory.db")
	mustRun(t, db, "import", "dhcpd", um64Conf, "--name-map", "um64_win=windows", "--name-map", "um64_linux=linux")
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		if _, err := os.Stat(p); err != nil {
			continue // -wal and -shm go when the last connection closes
		}
		if out, err := exec.Command("runuser", "-u", "nobody", "--", "head", "-c", "1", p).CombinedOutput(); err == nil || !strings.Contains(string(out), "Permission denied") {
			t.Errorf("nobody could read %s (err %v)", p, err)
		}
	}
}
