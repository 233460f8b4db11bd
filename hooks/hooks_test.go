package hooks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	pids := filepath.Join(t.TempDir(), "pids")
	// Two children write their PIDs and keep the output pipe open; the hook
	// waits for them. Killing the hook alone would leave both running, and
	// Run would still return once WaitDelay gave up on the pipe: so the
	// test looks at the children themselves.
	writeHook(t, dir, "10-hang", "sleep 300 & echo $! > "+pids+"; sleep 300 & echo $! >> "+pids+"; wait", 0o755)
	// The deadline passes once both children exist, not after a fixed
	// time a loaded machine might not start them in; Run's own timeout is
	// out of the way.
	ctx := &deadlineWhen{Context: context.Background(), ready: func() bool {
		b, _ := os.ReadFile(pids)
		return len(strings.Fields(string(b))) == 2
	}}
	res, err := Runner{Dir: dir, Timeout: time.Hour}.Run(ctx, Event{Stage: Pre, Action: nodes.ActionReboot})
	children := readPIDs(t, pids)
	t.Cleanup(func() {
		for _, pid := range children {
			syscall.Kill(pid, syscall.SIGKILL) // a survivor must not outlive the test
		}
	})
	var veto *VetoError
	if !errors.As(err, &veto) || !veto.Result.TimedOut {
		t.Fatalf("want a timeout veto, got %v %+v", err, res)
	}
	if !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("message does not say timeout: %v", err)
	}
	if len(children) != 2 {
		t.Fatalf("the hook recorded %d children, want 2: %v", len(children), children)
	}
	for _, pid := range children {
		if alive, state := running(t, pid); alive {
			t.Errorf("child %d of the timed-out hook still runs (state %s): the process group was not killed", pid, state)
		}
	}
}

// deadlineWhen is a context whose deadline passes when ready first says so
// (polled): to a hook's run it is a timeout like any other.
type deadlineWhen struct {
	context.Context
	ready func() bool
	once  sync.Once
	done  chan struct{}
}

func (c *deadlineWhen) Done() <-chan struct{} {
	c.once.Do(func() {
		c.done = make(chan struct{})
		go func() {
			for !c.ready() {
				time.Sleep(5 * time.Millisecond)
			}
			close(c.done)
		}()
	})
	return c.done
}

func (c *deadlineWhen) Err() error {
	select {
	case <-c.Done():
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func readPIDs(t *testing.T, file string) []int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the hook did not record its children: %v", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("pid file %s: %v", file, err)
		}
		pids = append(pids, pid)
	}
	return pids
}

// running reports whether pid is a live process that is not on its way out.
// Run returns only once every holder of the output pipe has closed it, which
// a killed child does in its exit path: by then it is gone, a zombie, or
// flagged exiting (PF_EXITING), never asleep in sleep(1). No waiting needed.
func running(t *testing.T, pid int) (bool, string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, os.ErrNotExist) {
		return false, "gone"
	}
	if err != nil {
		t.Fatal(err)
	}
	// pid (comm) state ppid pgrp session tty tpgid flags ...; comm may hold
	// spaces, so fields are counted after its closing parenthesis.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 7 {
		t.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	if err != nil {
		t.Fatalf("/proc/%d/stat flags: %v", pid, err)
	}
	const pfExiting = 0x4
	switch {
	case f[0] == "Z" || f[0] == "X":
		return false, f[0]
	case flags&pfExiting != 0:
		return false, f[0] + " exiting"
	}
	return true, f[0]
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
