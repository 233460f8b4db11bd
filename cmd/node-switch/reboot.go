package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
)

// rebootFlags are shared by "reboot" and "move --reboot".
var rebootFlags = []cli.Flag{}

// rebootNodes reboots nodes over SSH and prints a result per node; it
// returns an error naming the nodes that failed.
// TODO(issue 6): the SSH reboot client replaces this.
func rebootNodes(c *cli.Context, st *nodes.Store, ns []nodes.Node, force bool) error {
	return errors.New("reboot is not available yet in this build (issue 6): nothing was rebooted")
}
