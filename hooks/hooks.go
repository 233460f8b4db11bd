// Package hooks runs a site's executables around node-switch operations: a
// directory of programs run in name order (10-slurm-drain, 50-notify), the
// convention of run-parts and of the source cluster's install scripts. A
// failing pre-hook vetoes the operation before anything changes.
//
// Hooks run as the daemon's user, usually root, so a hook is only run when
// nobody else could have written it (see checkSafe), and it gets a fixed,
// minimal environment instead of the daemon's (see Env).
package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/node-switch/node-switch/nodes"
)

// DefaultTimeout bounds one hook; a hook that talks to a dead scheduler
// must not hold a move forever.
const DefaultTimeout = 60 * time.Second

// maxOutput is how much of a hook's output is kept for the logbook.
const maxOutput = 16 << 10

// Stage says whether hooks run before a change (and may veto it) or after.
type Stage string

// The stages.
const (
	Pre  Stage = "pre"
	Post Stage = "post"
)

// Event describes the operation hooks run for. Its name, NODE_SWITCH_EVENT,
// is the stage and the logbook action: pre-move, post-move, pre-mask,
// post-mask, pre-unmask, post-unmask, pre-reboot, post-reboot.
type Event struct {
	Stage  Stage
	Action nodes.Action
	Nodes  []string // expanded node names
	From   string
	To     string
	Actor  string
	Reason string
	// Once marks a move --once (NODE_SWITCH_ONCE=1): the nodes boot To
	// once and then their own cluster again.
	Once bool
}

// Name is the event as hooks see it: "pre-move".
func (e Event) Name() string { return string(e.Stage) + "-" + string(e.Action) }

// Pre reports whether the event runs before the change (and may veto it).
func (e Event) Pre() bool { return e.Stage == Pre }

// Env is the event's part of a hook's environment, the NODE_SWITCH_*
// variables.
func (e Event) Env() []string {
	return []string{
		"NODE_SWITCH_EVENT=" + e.Name(),
		"NODE_SWITCH_NODES=" + strings.Join(e.Nodes, ","),
		"NODE_SWITCH_FROM=" + e.From,
		"NODE_SWITCH_TO=" + e.To,
		"NODE_SWITCH_ACTOR=" + e.Actor,
		"NODE_SWITCH_REASON=" + e.Reason,
		"NODE_SWITCH_ONCE=" + map[bool]string{true: "1"}[e.Once],
	}
}

// Result is one hook's run.
type Result struct {
	Hook     string        `json:"hook"` // file name within the directory
	Status   int           `json:"status"`
	TimedOut bool          `json:"timed_out,omitempty"`
	Output   string        `json:"output,omitempty"` // stdout and stderr interleaved, truncated
	Err      string        `json:"error,omitempty"`  // could not start, killed ...
	Duration time.Duration `json:"duration"`
}

// OK reports whether the hook ran and exited 0.
func (r Result) OK() bool { return r.Status == 0 && r.Err == "" && !r.TimedOut }

// Summary is one line for the logbook and the operator.
func (r Result) Summary() string {
	var s string
	switch {
	case r.TimedOut:
		s = fmt.Sprintf("%s: killed after %s (timeout)", r.Hook, r.Duration.Round(time.Millisecond))
	case r.Err != "":
		s = fmt.Sprintf("%s: %s", r.Hook, r.Err)
	default:
		s = fmt.Sprintf("%s: exit %d", r.Hook, r.Status)
	}
	if out := strings.TrimSpace(r.Output); out != "" {
		s += ": " + out
	}
	return s
}

// Runner runs the hooks of one directory.
type Runner struct {
	// Dir must be absolute: each hook runs with Dir as its working
	// directory, where a relative path would no longer name the hook.
	Dir     string
	Timeout time.Duration // per hook; 0 = DefaultTimeout
	// BaseEnv is the environment hooks get besides the event's variables;
	// nil means BaseEnv(), never the daemon's own environment.
	BaseEnv []string
}

// SafePath is the PATH hooks run with, whatever the daemon's: a PATH
// from the environment could name a directory another user writes.
const SafePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// passedThrough are the only variables of the daemon's environment a hook
// sees. The daemon's environment holds secrets (NODE_SWITCH_DB may be a
// PostgreSQL URL with its password, PGPASSWORD) that a hook, which may
// log its environment or pass it to ssh, must never get. SLURM_CONF is
// where Slurm's own commands find their configuration, which the shipped
// Slurm hooks need on a site that moved it.
var passedThrough = []string{"LANG", "LC_ALL", "TZ", "SLURM_CONF"}

// BaseEnv is the environment every hook starts from: SafePath, HOME of
// the daemon's user (ssh finds its keys there), LOGNAME and USER, and the
// few variables of passedThrough that are set.
func BaseEnv() []string {
	env := []string{"PATH=" + SafePath}
	home, name := "/", ""
	if u, err := user.Current(); err == nil {
		name = u.Username
		if u.HomeDir != "" {
			home = u.HomeDir
		}
	}
	env = append(env, "HOME="+home)
	if name != "" {
		env = append(env, "LOGNAME="+name, "USER="+name)
	}
	for _, k := range passedThrough {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// List returns the hooks that would run, in order: executable regular files
// (or links to them), skipping hidden names, editor backups and package
// manager leftovers as run-parts does. A missing directory has none. List
// does not check who could have written them; Run does (checkSafe).
func (r Runner) List() ([]string, error) {
	ents, err := os.ReadDir(r.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hooks directory %s: %w", r.Dir, err)
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		if skipName(name) {
			continue
		}
		fi, err := os.Stat(filepath.Join(r.Dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

func skipName(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") || strings.HasSuffix(name, ".disabled") {
		return true
	}
	for _, suf := range []string{".dpkg-old", ".dpkg-new", ".dpkg-dist", ".dpkg-tmp", ".rpmsave", ".rpmnew", ".swp"} {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	return false
}

// VetoError is returned when a pre-hook fails: the operation must not go on.
type VetoError struct {
	Event  string
	Result Result
}

func (e *VetoError) Error() string {
	return fmt.Sprintf("%s hook %s vetoed the operation: %s", e.Event, e.Result.Hook, e.Result.Summary())
}

// Run runs every hook for ev in order. For a pre-event the first failing
// hook stops the rest and Run returns a *VetoError; for a post-event every
// hook runs and the error names the ones that failed. Results cover every
// hook that ran, for the logbook.
func (r Runner) Run(ctx context.Context, ev Event) ([]Result, error) {
	if !filepath.IsAbs(r.Dir) {
		return nil, fmt.Errorf("hooks directory %q is not an absolute path", r.Dir)
	}
	names, err := r.List()
	if err != nil {
		return nil, err
	}
	// Every hook is checked before any runs: a pre-event must not drain
	// nodes in Slurm and then refuse its last hook.
	if len(names) > 0 {
		if err := checkSafe(r.Dir, names); err != nil {
			if ev.Pre() {
				return nil, fmt.Errorf("%s hooks refused, none ran: %w", ev.Name(), err)
			}
			return nil, fmt.Errorf("%s hooks refused, none ran (the change itself is done): %w", ev.Name(), err)
		}
	}
	var results []Result
	var failed []string
	for _, name := range names {
		res := r.runOne(ctx, name, ev)
		results = append(results, res)
		if res.OK() {
			continue
		}
		if ev.Pre() {
			return results, &VetoError{Event: ev.Name(), Result: res}
		}
		failed = append(failed, res.Summary())
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("%s hooks failed (the change itself is done): %s", ev.Name(), strings.Join(failed, "; "))
	}
	return results, nil
}

func (r Runner) runOne(ctx context.Context, name string, ev Event) Result {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	path := filepath.Join(r.Dir, name)
	cmd := exec.CommandContext(ctx, path, ev.Name())
	cmd.Dir = r.Dir
	base := r.BaseEnv
	if base == nil {
		base = BaseEnv()
	}
	cmd.Env = append(append([]string{}, base...), ev.Env()...)
	var out limitedBuffer
	out.max = maxOutput
	cmd.Stdout, cmd.Stderr = &out, &out
	// Own process group, killed whole on timeout: a hook's children (ssh,
	// scontrol) must not outlive it holding our output pipe open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	res := Result{Hook: name, Duration: time.Since(start), Output: out.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		res.TimedOut = true
		res.Status = -1
	case errors.As(err, &ee):
		res.Status = ee.ExitCode()
		if res.Status < 0 {
			res.Err = ee.String()
		}
	case err != nil:
		res.Status = -1
		res.Err = err.Error()
	}
	return res
}

// limitedBuffer keeps the first max bytes and notes what was cut.
type limitedBuffer struct {
	buf  bytes.Buffer
	max  int
	lost int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := b.max - b.buf.Len()
	if room < len(p) {
		if room > 0 {
			b.buf.Write(p[:room])
		}
		b.lost += len(p) - max(room, 0)
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *limitedBuffer) String() string {
	if b.lost > 0 {
		return b.buf.String() + fmt.Sprintf("\n[%d more bytes not kept]", b.lost)
	}
	return b.buf.String()
}
