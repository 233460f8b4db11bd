package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/hooks"
	"github.com/node-switch/node-switch/nodes"
)

// hookInfo describes the operation hooks are run for.
type hookInfo struct {
	Event  string // pre-move, post-move, pre-mask, post-mask, pre-unmask, post-unmask, pre-reboot, post-reboot
	Nodes  []string
	From   string
	To     string
	Reason string
}

// runHooks runs the site's hooks (--hooks-dir) for one event and puts each
// hook's exit status and output in the logbook. For a pre-event a non-nil
// error vetoes the operation before anything changes; for a post-event it
// names the hooks that failed. NODE_SWITCH_HOOK_TIMEOUT (a Go duration)
// overrides the per-hook timeout.
func runHooks(c *cli.Context, st *nodes.Store, h hookInfo) error {
	r := hooks.Runner{Dir: c.String("hooks-dir")}
	if s := os.Getenv("NODE_SWITCH_HOOK_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("NODE_SWITCH_HOOK_TIMEOUT=%q: want a duration such as 2m", s)
		}
		r.Timeout = d
	}
	actor := actorOf(c)
	results, err := r.Run(c.Context, hooks.Event{Name: h.Event, Nodes: h.Nodes, From: h.From, To: h.To, Actor: actor.String(), Reason: h.Reason})
	for _, res := range results {
		// Recorded even when the operation is cancelled: the logbook must
		// say what a hook did to the scheduler.
		if _, lerr := st.Record(context.WithoutCancel(c.Context), actor, nodes.Event{Action: "hook", Nodes: h.Nodes, Source: h.From, Target: h.To,
			Reason: h.Event + " " + res.Hook, Result: res.Summary()}); lerr != nil {
			fmt.Fprintf(c.App.ErrWriter, "warning: logbook: %v\n", lerr)
		}
	}
	return err
}
