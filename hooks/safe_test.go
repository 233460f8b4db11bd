package hooks

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
)

func mustT(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: changes owners and runs runuser -u nobody")
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		t.Skip("needs runuser (util-linux)")
	}
}

// A hook another user could have written, or put in place through a
// directory, is refused before any hook runs, for pre- and post-events,
// with the path, its mode and the command that fixes it.
func TestUnsafeHooksAreRefused(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name string
		// setup makes base/hooks.d with hooks 10-first and 20-second (both
		// would touch the marker) unsafe, and returns the path to be named.
		setup   func(t *testing.T, base, dir string) string
		wantFix string // "" when the hooks must run
	}{
		{"safe", func(t *testing.T, base, dir string) string { return "" }, ""},
		{"hooks directory 0777", func(t *testing.T, base, dir string) string {
			mustT(t, os.Chmod(dir, 0o777))
			return dir
		}, "chmod go-w "},
		{"hooks directory 1777, sticky: anyone adds a hook", func(t *testing.T, base, dir string) string {
			mustT(t, os.Chmod(dir, 0o777|os.ModeSticky))
			return dir
		}, "chmod go-w "},
		{"hooks directory group-writable", func(t *testing.T, base, dir string) string {
			mustT(t, os.Chmod(dir, 0o775))
			return dir
		}, "chmod go-w "},
		{"hooks directory owned by nobody", func(t *testing.T, base, dir string) string {
			mustT(t, os.Chown(dir, 65534, 65534))
			return dir
		}, "chown root "},
		{"hook other-writable", func(t *testing.T, base, dir string) string {
			p := filepath.Join(dir, "20-second")
			mustT(t, os.Chmod(p, 0o757))
			return p
		}, "chmod go-w "},
		{"hook owned by nobody", func(t *testing.T, base, dir string) string {
			p := filepath.Join(dir, "20-second")
			mustT(t, os.Chown(p, 65534, 65534))
			return p
		}, "chown root "},
		{"directory above 0777", func(t *testing.T, base, dir string) string {
			mustT(t, os.Chmod(base, 0o777))
			return base
		}, "chmod go-w "},
		{"directory above 1777, sticky: others cannot rename entries", func(t *testing.T, base, dir string) string {
			mustT(t, os.Chmod(base, 0o777|os.ModeSticky))
			return ""
		}, ""},
		{"hook linked into a 0777 directory", func(t *testing.T, base, dir string) string {
			other := filepath.Join(base, "shared")
			mustT(t, os.Mkdir(other, 0o755))
			writeHook(t, other, "20-real", "exit 0", 0o755)
			mustT(t, os.Chmod(other, 0o777))
			p := filepath.Join(dir, "20-second")
			mustT(t, os.Remove(p))
			mustT(t, os.Symlink(filepath.Join(other, "20-real"), p))
			return other
		}, "chmod go-w "},
	}
	for _, tt := range tests {
		for _, stage := range []Stage{Pre, Post} {
			t.Run(tt.name+"/"+string(stage), func(t *testing.T) {
				base := filepath.Join(t.TempDir(), "etc")
				mustT(t, os.Mkdir(base, 0o755))
				dir := filepath.Join(base, "hooks.d")
				mustT(t, os.Mkdir(dir, 0o755))
				marker := filepath.Join(t.TempDir(), "ran")
				writeHook(t, dir, "10-first", "touch "+marker, 0o755)
				writeHook(t, dir, "20-second", "touch "+marker, 0o755)
				named := tt.setup(t, base, dir)
				res, err := Runner{Dir: dir}.Run(context.Background(), Event{Stage: stage, Action: nodes.ActionMove, Nodes: []string{"n1"}})
				_, statErr := os.Stat(marker)
				if tt.wantFix == "" {
					if err != nil || statErr != nil {
						t.Fatalf("safe hooks did not run: %v, marker: %v", err, statErr)
					}
					return
				}
				if err == nil {
					t.Fatalf("ran %d hooks, want a refusal naming %s", len(res), named)
				}
				var ue *UnsafeError
				if !errors.As(err, &ue) || ue.Path != named {
					t.Fatalf("want an UnsafeError for %s, got %v", named, err)
				}
				for _, w := range []string{named + " (owner ", "mode ", tt.wantFix + named} {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("message lacks %q: %v", w, err)
					}
				}
				if len(res) != 0 || statErr == nil {
					t.Fatalf("a hook ran (%d results, marker %v)", len(res), statErr)
				}
			})
		}
	}
}

// A second local user writes a hook into a hooks directory anyone may
// write: node-switch, running as root, refuses to run it.
func TestHookPlantedByAnotherUserIsRefused(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	mustT(t, os.Chmod(base, 0o755))
	mustT(t, os.Chmod(filepath.Dir(base), 0o755))
	dir := filepath.Join(base, "hooks.d")
	mustT(t, os.Mkdir(dir, 0o777))
	mustT(t, os.Chmod(dir, 0o777))
	proof := filepath.Join(base, "owned")
	out, err := exec.Command("runuser", "-u", "nobody", "--", "sh", "-c",
		`printf '#!/bin/sh\nid -u > `+proof+`\n' > `+dir+`/10-evil && chmod 755 `+dir+`/10-evil`).CombinedOutput()
	if err != nil {
		t.Fatalf("nobody could not write the hook: %v %s", err, out)
	}
	_, err = Runner{Dir: dir}.Run(context.Background(), Event{Stage: Pre, Action: nodes.ActionMove, Nodes: []string{"n1"}})
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("want a refusal naming %s, got %v", dir, err)
	}
	if b, err := os.ReadFile(proof); err == nil {
		t.Fatalf("nobody's hook ran as uid %s", b)
	}
}

// Hooks get a fixed PATH and the event, never the daemon's secrets.
func TestHooksGetAMinimalEnvironment(t *testing.T) {
	t.Setenv("PGPASSWORD", "s3cret")
	t.Setenv("NODE_SWITCH_DB", "postgres://nodeswitch:s3cret@db1/nodeswitch")
	t.Setenv("DATABASE_URL", "postgres://x:s3cret@db1/x")
	t.Setenv("PATH", t.TempDir()+":"+os.Getenv("PATH"))
	t.Setenv("TZ", "Europe/Stockholm")
	dir := t.TempDir()
	envFile := filepath.Join(t.TempDir(), "env")
	writeHook(t, dir, "10-env", "env > "+envFile, 0o755)
	ev := Event{Stage: Pre, Action: nodes.ActionMove, Nodes: []string{"n1", "n2"}, From: "a", To: "b", Actor: "alice (cli from local)", Reason: "test"}
	if _, err := (Runner{Dir: dir}).Run(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(envFile)
	mustT(t, err)
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		got[k] = v
	}
	for k, v := range got {
		if strings.Contains(v, "s3cret") {
			t.Errorf("hook saw the secret in %s=%s", k, v)
		}
	}
	for _, k := range []string{"PGPASSWORD", "NODE_SWITCH_DB", "DATABASE_URL"} {
		if _, ok := got[k]; ok {
			t.Errorf("hook saw %s", k)
		}
	}
	want := map[string]string{"PATH": SafePath, "TZ": "Europe/Stockholm", "NODE_SWITCH_EVENT": "pre-move",
		"NODE_SWITCH_NODES": "n1,n2", "NODE_SWITCH_FROM": "a", "NODE_SWITCH_TO": "b",
		"NODE_SWITCH_ACTOR": "alice (cli from local)", "NODE_SWITCH_REASON": "test"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
	if got["HOME"] == "" {
		t.Error("no HOME")
	}
}
