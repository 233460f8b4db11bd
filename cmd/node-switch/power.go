package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/ops"
	"github.com/node-switch/node-switch/wol"
)

// wakeFlags are shared by "power on", "move --wake" and serve (for wakes
// asked over SSH).
var wakeFlags = []cli.Flag{
	&cli.StringFlag{Name: "wake-interface", EnvVars: []string{"NODE_SWITCH_WAKE_INTERFACE"},
		Usage: "send magic packets out of this interface (default: the one on each node's network)"},
	&cli.IntFlag{Name: "wake-port", Value: wol.DefaultPort, EnvVars: []string{"NODE_SWITCH_WAKE_PORT"}, Usage: "UDP port of the magic packets"},
}

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "power",
			Usage: "power nodes on",
			Subcommands: []*cli.Command{{
				Name:      "on",
				Usage:     "wake nodes with Wake-on-LAN magic packets",
				ArgsUsage: "RANGE",
				Description: "Broadcasts a magic packet for each node's MAC on the node's subnet (from\n" +
					"'subnet set', else the network of the interface that reaches it). The NIC must\n" +
					"have Wake-on-LAN enabled in the firmware; a sent packet does not prove the node\n" +
					"woke up, its next DHCP request does ('node list' shows last seen).",
				Flags: append([]cli.Flag{jsonFlag, reasonFlag}, wakeFlags...),
				Action: withOps(func(c *cli.Context, o *ops.Ops) error {
					expr, err := rangeArg(c)
					if err != nil {
						return err
					}
					results, err := o.PowerOn(c.Context, ops.PowerOnRequest{
						Request: ops.Request{Actor: actorOf(c), Range: expr, Reason: c.String("reason")}})
					if results == nil {
						return err
					}
					if c.Bool("json") {
						if perr := printJSON(c, results); perr != nil {
							return perr
						}
						return err
					}
					printWake(c, results)
					return err
				}),
			}},
		}
	})
}

// printWake prints a line per node. Under --json (move --wake --json, whose
// JSON carries the results) the lines go to stderr so stdout stays one JSON
// document.
func printWake(c *cli.Context, results []ops.WakeResult) {
	w := c.App.Writer
	if c.Bool("json") {
		w = c.App.ErrWriter
	}
	for _, r := range results {
		if r.OK {
			fmt.Fprintf(w, "%s: magic packet for %s to %s on %s\n", r.Node, r.MAC, r.Broadcast, r.Interface)
		} else {
			fmt.Fprintf(w, "%s: NOT woken: %s\n", r.Node, r.Error)
		}
	}
}
