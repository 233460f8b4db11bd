package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
)

// wakeFlags are shared by "power on" and "move --wake".
var wakeFlags = []cli.Flag{}

// wakeNodes sends Wake-on-LAN magic packets to nodes and returns an error
// naming those it could not wake.
// TODO(issue 5): the Wake-on-LAN sender replaces this.
func wakeNodes(c *cli.Context, st *nodes.Store, ns []nodes.Node) error {
	return errors.New("wake-on-LAN is not available yet in this build (issue 5)")
}
