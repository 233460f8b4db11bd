package main

import (
	"github.com/urfave/cli/v2"

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

// runHooks runs the site's hooks for one event. For a pre-event a non-nil
// error vetoes the operation before anything changes.
// TODO(issue 6): the hooks runner replaces this.
func runHooks(c *cli.Context, st *nodes.Store, h hookInfo) error {
	return nil
}
