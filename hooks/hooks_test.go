package hooks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/nodes"
)

func writeHook(t *testing.T, dir, name, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), mode); err != nil {
		t.Fatal(err)
	}
}

func TestOrderAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(t.TempDir(), "order")
	// Each hook appends its name and what it saw; names sort as strings.
	rec := `echo "$(basename "$0") $1 ev=$NODE_SWITCH_EVENT nodes=$NODE_SWITCH_NODES from=$NODE_SWITCH_FROM to=$NODE_SWITCH_TO actor=$NODE_SWITCH_ACTOR reason=$NODE_SWITCH_REASON" >> ` + log
	writeHook(t, dir, "50-notify", rec, 0o755)
	writeHook(t, dir, "10-slurm-drain", rec+"; echo drained", 0o755)
	writeHook(t, dir, "20-second", rec, 0o755)
	writeHook(t, dir, "README", "exit 1", 0o644)          // not executable: skipped
	writeHook(t, dir, "30-old~", "exit 1", 0o755)         // editor backup
	writeHook(t, dir, ".hidden", "exit 1", 0o755)         // hidden
	writeHook(t, dir, "40-x.dpkg-old", "exit 1", 0o755)   // package leftover
	writeHook(t, dir, "45-off.disabled", "exit 1", 0o755) // switched off
	os.Mkdir(filepath.Join(dir, "60-dir"), 0o755)

	r := Runner{Dir: dir, BaseEnv: []string{"PATH=/usr/bin:/bin"}}
	names, err := r.List()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10-slurm-drain", "20-second", "50-notify"}; !slices.Equal(names, want) {
		t.Fatalf("List = %q, want %q", names, want)
	}
	ev := Event{Stage: Pre, Action: nodes.ActionMove, Nodes: []string{"umu18", "umu19"}, From: "windows", To: "linux", Actor: "alice (cli from local)", Reason: "night run"}
	res, err := r.Run(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || res[0].Hook != "10-slurm-drain" || strings.TrimSpace(res[0].Output) != "drained" || !res[0].OK() {
		t.Fatalf("results %+v", res)
	}
	got, _ := os.ReadFile(log)
	line := " pre-move ev=pre-move nodes=umu18,umu19 from=windows to=linux actor=alice (cli from local) reason=night run"
	want := "10-slurm-drain" + line + "\n20-second" + line + "\n50-notify" + line + "\n"
	if string(got) != want {
		t.Fatalf("hooks saw:\n%s\nwant:\n%s", got, want)
	}
}

func TestPreHookVetoStopsTheRest(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(t.TempDir(), "ran")
	writeHook(t, dir, "10-ok", "exit 0", 0o755)
	writeHook(t, dir, "20-veto", "echo 'slurm: jobs still running on umu18' >&2; exit 3", 0o755)
	writeHook(t, dir, "30-after", "touch "+marker, 0o755)
	res, err := Runner{Dir: dir}.Run(context.Background(), Event{Stage: Pre, Action: nodes.ActionMove, Nodes: []string{"umu18"}})
	var veto *VetoError
	if !errors.As(err, &veto) || veto.Result.Hook != "20-veto" || veto.Result.Status != 3 {
		t.Fatalf("want veto by 20-veto status 3, got %v", err)
	}
	if !strings.Contains(err.Error(), "jobs still running on umu18") {
		t.Fatalf("veto message lacks the hook's output: %v", err)
	}
	if len(res) != 2 {
		t.Fatalf("ran %d hooks, want 2 (the rest skipped)", len(res))
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a hook after the veto ran")
	}
}

func TestPostHookFailureRunsTheRest(t *testing.T) {
	dir := t.TempDir()
	writeHook(t, dir, "10-fail", "exit 1", 0o755)
	writeHook(t, dir, "20-ok", "exit 0", 0o755)
	res, err := Runner{Dir: dir}.Run(context.Background(), Event{Stage: Post, Action: nodes.ActionMove})
	var veto *VetoError
	if err == nil || errors.As(err, &veto) || !strings.Contains(err.Error(), "10-fail: exit 1") {
		t.Fatalf("want a plain error naming 10-fail, got %v", err)
	}
	if len(res) != 2 || !res[1].OK() {
		t.Fatalf("results %+v", res)
	}
}

func TestTimeoutKillsTheHookAndItsChildren(t *testing.T) {
	dir := t.TempDir()
	// The child keeps the output pipe open; only killing the process group
	// lets Run return.
	writeHook(t, dir, "10-hang", "sleep 300 & sleep 300", 0o755)
	res, err := Runner{Dir: dir, Timeout: 200 * time.Millisecond}.Run(context.Background(), Event{Stage: Pre, Action: nodes.ActionReboot})
	var veto *VetoError
	if !errors.As(err, &veto) || !veto.Result.TimedOut {
		t.Fatalf("want a timeout veto, got %v %+v", err, res)
	}
	if !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("message does not say timeout: %v", err)
	}
}

func TestMissingDirectoryRunsNothing(t *testing.T) {
	res, err := Runner{Dir: filepath.Join(t.TempDir(), "none")}.Run(context.Background(), Event{Stage: Pre, Action: nodes.ActionMove})
	if err != nil || len(res) != 0 {
		t.Fatalf("got %v %v", res, err)
	}
}

func TestOutputIsCapped(t *testing.T) {
	dir := t.TempDir()
	writeHook(t, dir, "10-chatty", "head -c 100000 /dev/zero | tr '\\0' x", 0o755)
	res, err := Runner{Dir: dir}.Run(context.Background(), Event{Stage: Post, Action: nodes.ActionMask})
	if err != nil {
		t.Fatal(err)
	}
	if len(res[0].Output) > maxOutput+100 || !strings.Contains(res[0].Output, "more bytes not kept") {
		t.Fatalf("output %d bytes, tail %q", len(res[0].Output), res[0].Output[len(res[0].Output)-40:])
	}
}
