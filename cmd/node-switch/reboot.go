package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/ops"
	"github.com/node-switch/node-switch/reboot"
)

// rebootFlags are shared by "reboot", "move --reboot" and serve. Their
// defaults suit a head node; serve's values (from its unit file's
// environment) are the ones used for commands arriving over SSH, which may
// not pass them.
func rebootFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "reboot-key", Value: "/etc/node-switch/id_ed25519", EnvVars: []string{"NODE_SWITCH_REBOOT_KEY"},
			Usage: "private key (unencrypted) that logs in to the nodes"},
		&cli.StringFlag{Name: "known-hosts", Value: "/etc/node-switch/known_hosts", EnvVars: []string{"NODE_SWITCH_KNOWN_HOSTS"},
			Usage: "the nodes' host keys; a node whose key is not listed is refused"},
		&cli.StringFlag{Name: "reboot-command", Value: "systemctl reboot", EnvVars: []string{"NODE_SWITCH_REBOOT_COMMAND"},
			Usage: "command run on each node"},
		&cli.StringFlag{Name: "reboot-user", Value: "root", EnvVars: []string{"NODE_SWITCH_REBOOT_USER"}, Usage: "user to log in as"},
		&cli.IntFlag{Name: "reboot-port", Value: 22, EnvVars: []string{"NODE_SWITCH_REBOOT_PORT"}, Usage: "the nodes' sshd port"},
		&cli.IntFlag{Name: "parallel", Value: 32, EnvVars: []string{"NODE_SWITCH_REBOOT_PARALLEL"}, Usage: "nodes rebooted at once"},
		&cli.DurationFlag{Name: "reboot-timeout", Value: 30 * time.Second, EnvVars: []string{"NODE_SWITCH_REBOOT_TIMEOUT"},
			Usage: "per node, from connecting to the command's exit"},
	}, bmcFlags()...)
}

// viaFlag chooses how "reboot" and "move --reboot" restart nodes.
func viaFlag() cli.Flag {
	return &cli.StringFlag{Name: "via", Value: "auto",
		Usage: "auto: through the node's BMC where it has one (any OS, hung nodes), else SSH; ssh or bmc: only that way"}
}

// viaOf reads --via.
func viaOf(c *cli.Context) (ops.Via, error) {
	v, err := ops.ParseVia(c.String("via"))
	if err != nil {
		return v, usageError("%v", err)
	}
	return v, nil
}

func init() {
	register(func() *cli.Command {
		flags := []cli.Flag{
			reasonFlag(),
			&cli.BoolFlag{Name: "force", Usage: "also reboot over SSH nodes of localdisk (Windows) clusters, which the Windows head normally reboots"},
			jsonFlag(), viaFlag(),
		}
		return &cli.Command{
			Name:      "reboot",
			Usage:     "reboot nodes through their BMCs or over SSH, in parallel",
			ArgsUsage: "RANGE",
			Description: "Each node's outcome (ok, unreachable, auth failed, host key unknown, host key\n" +
				"mismatch, command failed, timeout) is printed and logged; the exit status is 1\n" +
				"if any node failed. Hooks run for pre-reboot (may veto) and post-reboot.\n" +
				"A node with a BMC is hard-reset through it (powered on if it is off), whatever\n" +
				"it runs; the others reboot over SSH, where nodes of localdisk clusters are\n" +
				"refused unless --force. --via ssh or --via bmc forces one way for all.",
			Flags: append(flags, rebootFlags()...),
			Action: withOps(func(c *cli.Context, o *ops.Ops) error {
				expr, err := rangeArg(c)
				if err != nil {
					return err
				}
				via, err := viaOf(c)
				if err != nil {
					return err
				}
				rep, err := o.Reboot(c.Context, ops.RebootRequest{
					Request: ops.Request{Actor: actorOf(c), Range: expr, Reason: c.String("reason")},
					Force:   c.Bool("force"), Via: via, Progress: rebootProgress(c),
				})
				if len(rep.Results) == 0 {
					return err
				}
				if c.Bool("json") {
					if perr := printJSON(c, rep); perr != nil {
						return perr
					}
					return err
				}
				if perr := printRebootTable(c, rep.Results); perr != nil {
					return perr
				}
				return err
			}),
		}
	})
}

// rebootProgress shows a progress line on a terminal, and nothing in a log
// file or an SSH channel.
func rebootProgress(c *cli.Context) func(done, total int, r reboot.Result) {
	if !isTerminal(c.App.ErrWriter) {
		return nil
	}
	return func(done, total int, r reboot.Result) {
		fmt.Fprintf(c.App.ErrWriter, "\rrebooting: %d/%d done, last %s: %s\x1b[K", done, total, r.Node, r.Status)
		if done == total {
			fmt.Fprintln(c.App.ErrWriter)
		}
	}
}

// printRebootTable prints a line per node. Under --json ("move --reboot
// --json", whose JSON carries the results) it goes to stderr so stdout stays
// one JSON document.
func printRebootTable(c *cli.Context, rs []reboot.Result) error {
	failed := len(reboot.Failed(rs))
	w := c.App.Writer
	if c.Bool("json") {
		w = c.App.ErrWriter
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tRESULT\tDETAIL")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Node, r.Addr, r.Status, nodes.Escape(r.Detail))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d rebooted, %d failed\n", len(rs)-failed, failed)
	return nil
}

// isTerminal reports whether w is a character device (a terminal), so the
// progress line is not mixed into a log file or an SSH channel.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
