package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/ops"
	"github.com/node-switch/node-switch/power"
	"github.com/node-switch/node-switch/wol"
)

// wakeFlags are shared by "power on", "move --wake" and serve (for wakes
// asked over SSH).
func wakeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "wake-interface", EnvVars: []string{"NODE_SWITCH_WAKE_INTERFACE"},
			Usage: "send magic packets out of this interface (default: the one on each node's network)"},
		&cli.IntFlag{Name: "wake-port", Value: wol.DefaultPort, EnvVars: []string{"NODE_SWITCH_WAKE_PORT"}, Usage: "UDP port of the magic packets"},
	}
}

// bmcFlags say how BMCs are driven; "power", and through rebootFlags
// "reboot", "move" and serve have them.
func bmcFlags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: "bmc-timeout", Value: power.DefaultTimeout, EnvVars: []string{"NODE_SWITCH_BMC_TIMEOUT"},
			Usage: "per node: a BMC that has not answered by then is reported as timed out"},
		&cli.IntFlag{Name: "bmc-parallel", Value: power.DefaultParallel, EnvVars: []string{"NODE_SWITCH_BMC_PARALLEL"},
			Usage: "BMCs talked to at once"},
	}
}

// powerSettings reads bmcFlags.
func powerSettings(c *cli.Context) (ops.PowerSettings, error) {
	s := ops.PowerSettings{Config: power.Config{Timeout: c.Duration("bmc-timeout"), Parallel: c.Int("bmc-parallel")}}
	if c.IsSet("bmc-parallel") && s.Parallel < 1 {
		return s, usageError("--bmc-parallel %d: want at least 1", s.Parallel)
	}
	if c.IsSet("bmc-timeout") && s.Timeout <= 0 {
		return s, usageError("--bmc-timeout %s: want a positive duration such as 10s", s.Timeout)
	}
	return s, nil
}

func init() {
	register(func() *cli.Command {
		sub := []struct {
			action      power.Action
			usage, desc string
		}{
			{power.Status, "show nodes' power state, asked of their BMCs", ""},
			{power.On, "power nodes on: through the BMC, or Wake-on-LAN for nodes without one",
				"A node without a BMC gets a magic packet for its MAC on its subnet (from\n" +
					"'subnet set', else the network of the interface that reaches it). The NIC must\n" +
					"have Wake-on-LAN enabled in the firmware; a sent packet does not prove the node\n" +
					"woke up, its next DHCP request does ('node list' shows last seen)."},
			{power.Off, "power nodes off through their BMCs (hard off: the OS is not shut down)", ""},
			{power.Cycle, "power nodes off and on again through their BMCs", ""},
			{power.Reset, "hard-reset nodes through their BMCs (works on hung nodes and on any OS)", ""},
		}
		var cmds []*cli.Command
		for _, s := range sub {
			flags := []cli.Flag{jsonFlag()}
			if s.action != power.Status {
				flags = append(flags, reasonFlag())
			}
			if s.action == power.On {
				flags = append(flags, wakeFlags()...)
			}
			desc := "RANGE: umu[18-23], a cluster name, or all. Each node's BMC (node set NAME --bmc ...)\n" +
				"is asked over IPMI v2.0 (lanplus), in parallel, each under --bmc-timeout; the exit\n" +
				"status is 1 if any node failed, and the message names them."
			if s.action == power.Off || s.action == power.Cycle || s.action == power.Reset {
				desc += "\nHooks run for pre-power-" + string(s.action) + " (may veto) and post-power-" + string(s.action) + "."
			}
			if s.desc != "" {
				desc += "\n\n" + s.desc
			}
			cmds = append(cmds, &cli.Command{
				Name:        string(s.action),
				Usage:       s.usage,
				ArgsUsage:   "RANGE",
				Description: desc,
				Flags:       append(flags, bmcFlags()...),
				Action:      withOps(powerAction(s.action)),
			})
		}
		return &cli.Command{Name: "power", Usage: "power nodes on, off, cycle, reset, or show their state", Subcommands: cmds}
	})
}

func powerAction(a power.Action) func(c *cli.Context, o *ops.Ops) error {
	return func(c *cli.Context, o *ops.Ops) error {
		expr, err := rangeArg(c)
		if err != nil {
			return err
		}
		var progress func(done, total int, r power.Result)
		if isTerminal(c.App.ErrWriter) {
			progress = func(done, total int, r power.Result) {
				fmt.Fprintf(c.App.ErrWriter, "\rpower %s: %d/%d done, last %s: %s\x1b[K", a, done, total, r.Node, r.Outcome)
				if done == total {
					fmt.Fprintln(c.App.ErrWriter)
				}
			}
		}
		rep, err := o.Power(c.Context, ops.PowerRequest{
			Request: ops.Request{Actor: actorOf(c), Range: expr, Reason: c.String("reason")}, Action: a, Progress: progress})
		if len(rep.Results) == 0 && len(rep.Wake) == 0 {
			return err
		}
		if c.Bool("json") {
			if perr := printJSON(c, rep); perr != nil {
				return perr
			}
			return err
		}
		if len(rep.Results) > 0 {
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tBMC\tRESULT\tSTATE\tDETAIL")
			for _, r := range rep.Results {
				st := string(r.State)
				if st == "" {
					st = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Node, r.BMC, r.Outcome, st, nodes.Escape(r.Detail))
			}
			if perr := tw.Flush(); perr != nil {
				return perr
			}
		}
		printWake(c, rep.Wake)
		fmt.Fprintf(c.App.Writer, "power %s: %d ok, %d failed\n", a, rep.OK, rep.Failed)
		return err
	}
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
