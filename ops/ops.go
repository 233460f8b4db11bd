// Package ops is every change node-switch makes to the cluster, written once:
// plan → pre-hooks → commit exactly the plan → post-hooks → wake, reboot or
// power → report. The CLI, the SSH front door and the timers only parse a
// request, call a method here and format the typed report it returns, so a
// capability added here is the same from every front end.
package ops

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/node-switch/node-switch/hooks"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/power"
	"github.com/node-switch/node-switch/reboot"
)

// Settings are fixed by whoever runs the operations: the local operator's
// flags, or the daemon's configuration for requests arriving over SSH (an
// SSH caller cannot choose the hooks, the reboot key or its command).
type Settings struct {
	HooksDir string
	// BootRoot is where the boot servers find kernels and initrds: a move
	// checks that its target profile's files are there ("" skips that).
	BootRoot    string
	HookTimeout time.Duration // per hook; 0 = hooks.DefaultTimeout
	Reboot      RebootSettings
	Wake        WakeSettings
	Power       PowerSettings
}

// RebootSettings say how nodes are rebooted over SSH.
type RebootSettings struct {
	reboot.Config
	Port int // the nodes' sshd port; 0 = 22
}

// WakeSettings say how Wake-on-LAN packets are sent.
type WakeSettings struct {
	Interface string // "" = the interface on each node's network
	Port      int    // 0 = wol.DefaultPort
}

// Ops runs operations against one inventory.
type Ops struct {
	Store    *nodes.Store
	settings Settings
	hooks    hooks.Runner
}

// New checks the settings and resolves the hooks directory once, to an
// absolute path: hooks run with it as their working directory.
func New(st *nodes.Store, s Settings) (*Ops, error) {
	dir, err := filepath.Abs(s.HooksDir)
	if err != nil {
		return nil, fmt.Errorf("hooks directory %q: %w", s.HooksDir, err)
	}
	s.HooksDir = dir
	if s.Reboot.Parallel < 0 {
		return nil, nodes.Invalid(fmt.Errorf("reboot parallelism %d: want at least 1", s.Reboot.Parallel))
	}
	if s.Reboot.Port == 0 {
		s.Reboot.Port = 22
	}
	if s.Power.Controller == nil {
		s.Power.Controller = power.IPMI{}
	}
	return &Ops{Store: st, settings: s, hooks: hooks.Runner{Dir: dir, Timeout: s.HookTimeout}}, nil
}

// Settings returns the settings in force, with the hooks directory resolved.
func (o *Ops) Settings() Settings { return o.settings }

// Request is what every operation names: who asks, which nodes, and why.
type Request struct {
	Actor  nodes.Actor
	Range  string
	Reason string
	// SyncTimeout bounds how long a change waits for every live boot
	// server to answer from it: 0 is DefaultSyncTimeout, below 0 does not
	// wait.
	SyncTimeout time.Duration
}

// Report is the outcome of a move, mask or unmask: the change and, after it,
// each node's wake and reboot result. Its JSON is what "move --json" prints
// and the Windows head's PowerShell client reads: keep the names.
type Report struct {
	Event    int64           `json:"event"`
	Action   nodes.Action    `json:"action"`
	Nodes    []string        `json:"nodes"`
	From     string          `json:"from,omitempty"`
	To       string          `json:"to,omitempty"`
	Skipped  []string        `json:"skipped"`
	DryRun   bool            `json:"dry_run"`
	Wake     []WakeResult    `json:"wake,omitempty"`
	Reboot   []reboot.Result `json:"reboot,omitempty"`
	Warnings []string        `json:"warnings,omitempty"` // post-hooks that failed; the change stands
	// Lagging are the boot servers still answering from before the
	// change when its wait for them ended (host and pid).
	Lagging []string `json:"lagging,omitempty"`
	// Changed are the nodes as they were before the change (their old
	// cluster), for front ends that show more than names.
	Changed []nodes.Node `json:"-"`
}

func reportOf(ch nodes.Change) Report {
	r := Report{Event: ch.Event, Action: ch.Action, Nodes: ch.Names(), From: ch.From(), To: ch.To,
		Skipped: ch.Skipped, DryRun: ch.DryRun, Changed: ch.Changed}
	if r.Nodes == nil {
		r.Nodes = []string{}
	}
	if r.Skipped == nil {
		r.Skipped = []string{}
	}
	return r
}

// AfterCommitError is returned when the change committed but something after
// it (wake, reboot) failed: the change stands, and the error says so.
type AfterCommitError struct {
	Action nodes.Action
	Event  int64
	Err    error
}

func (e *AfterCommitError) Error() string {
	return fmt.Sprintf("%s committed (logbook #%d), but: %v", e.Action, e.Event, e.Err)
}

func (e *AfterCommitError) Unwrap() error { return e.Err }

// runHooks runs the hooks for one event and puts each hook's exit status
// and output in the logbook. For a pre-event a non-nil error vetoes the
// operation; for a post-event it names the hooks that failed.
func (o *Ops) runHooks(ctx context.Context, actor nodes.Actor, ev hooks.Event) error {
	ev.Actor = actor.String()
	results, err := o.hooks.Run(ctx, ev)
	var lerrs []error
	for _, res := range results {
		// Recorded even when the operation is cancelled: the logbook must
		// say what a hook did to the scheduler.
		if _, lerr := o.Store.Record(context.WithoutCancel(ctx), actor, nodes.Event{Action: nodes.ActionHook, Nodes: ev.Nodes,
			Source: ev.From, Target: ev.To, Reason: ev.Name() + " " + res.Hook, Result: res.Summary()}); lerr != nil {
			lerrs = append(lerrs, fmt.Errorf("logbook entry for hook %s: %w", res.Hook, lerr))
		}
	}
	return errors.Join(append([]error{err}, lerrs...)...)
}
