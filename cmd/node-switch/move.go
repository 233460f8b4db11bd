package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/ops"
)

// printChange prints a move, mask or unmask report: JSON (the names the
// PowerShell client on the Windows head reads) or a line for people, then
// each node's wake and reboot result.
func printChange(c *cli.Context, rep ops.Report) error {
	if c.Bool("json") {
		if err := printJSON(c, rep); err != nil {
			return err
		}
		// The per-node lines also go to stderr, for the operator's eyes.
		printWake(c, rep.Wake)
		if rep.Reboot != nil {
			return printRebootTable(c, rep.Reboot)
		}
		return nil
	}
	w := c.App.Writer
	names := nodes.Compress(rep.Nodes)
	verb := map[nodes.Action]string{nodes.ActionMove: "moved", nodes.ActionMask: "masked", nodes.ActionUnmask: "unmasked"}[rep.Action]
	if rep.DryRun {
		verb = "would " + string(rep.Action)
	}
	switch rep.Action {
	case nodes.ActionMove:
		fmt.Fprintf(w, "%s %s from %s to %s", verb, names, rep.From, rep.To)
	case nodes.ActionMoveOnce:
		if rep.DryRun {
			fmt.Fprintf(w, "would send the next boot of %s to %s once, then back to %s", names, rep.To, rep.From)
		} else {
			fmt.Fprintf(w, "%s boot %s once at their next boot, then %s again", names, rep.To, rep.From)
		}
	case nodes.ActionCancelOnce:
		if rep.DryRun {
			fmt.Fprintf(w, "would cancel the boot once of %s (to %s)", names, rep.From)
		} else {
			fmt.Fprintf(w, "cancelled the boot once of %s (to %s): their next boot goes to %s", names, rep.From, rep.To)
		}
	default:
		fmt.Fprintf(w, "%s %s", verb, names)
	}
	if rep.Event != 0 {
		fmt.Fprintf(w, " (logbook #%d)", rep.Event)
	}
	fmt.Fprintln(w)
	if len(rep.Skipped) > 0 {
		state := map[nodes.Action]string{nodes.ActionMove: "already in " + rep.To, nodes.ActionMask: "already masked", nodes.ActionUnmask: "not masked",
			nodes.ActionMoveOnce: "already in " + rep.To + " or booting it once", nodes.ActionCancelOnce: "no boot once pending"}[rep.Action]
		fmt.Fprintf(w, "unchanged %s: %s\n", nodes.Compress(rep.Skipped), state)
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintln(c.App.ErrWriter, "warning:", warn)
	}
	printWake(c, rep.Wake)
	if rep.Reboot != nil {
		return printRebootTable(c, rep.Reboot)
	}
	return nil
}

func init() {
	register(func() *cli.Command {
		flags := []cli.Flag{
			&cli.StringFlag{Name: "to", Usage: "target cluster (required unless --cancel-once)"},
			&cli.BoolFlag{Name: "once", Usage: "send only the nodes' next boot to --to (an installer, a rescue system); the boots after it go to their own cluster again"},
			&cli.BoolFlag{Name: "cancel-once", Usage: "drop the nodes' pending boot once (no --to): their next boot goes to their own cluster"},
			reasonFlag(),
			&cli.BoolFlag{Name: "dry-run", Usage: "check and show what would change; change nothing"},
			&cli.BoolFlag{Name: "force", Usage: "move even to an NFS root whose last check failed, or a profile whose kernel or initrd is missing from --boot-root"},
			&cli.BoolFlag{Name: "wake", Usage: "after the move, send Wake-on-LAN to the moved nodes (lab PCs switched off)"},
			&cli.BoolFlag{Name: "reboot", Usage: "after the move, reboot the moved nodes (BMC or SSH, see --via) so they boot their new cluster"},
			&cli.BoolFlag{Name: "reboot-localdisk", Usage: "with --reboot, also reboot nodes now running a localdisk profile (a lab whose day OS runs sshd); by default the Windows head reboots those"},
			jsonFlag(), viaFlag(), syncFlag(),
		}
		flags = append(flags, bootRootFlag())
		flags = append(flags, wakeFlags()...)
		flags = append(flags, rebootFlags()...)
		return &cli.Command{
			Name:      "move",
			Usage:     "move nodes to another logical cluster (takes effect at their next boot)",
			ArgsUsage: "RANGE",
			Description: "RANGE: umu[18-23], umu[01-04,09], n1,n2, a cluster name, -name to exclude, or all.\n" +
				"The move is one transaction with its logbook entry: all nodes move or none.\n" +
				"The pre-move hooks are told exactly the nodes that then move; if the inventory\n" +
				"changes while they run, nothing moves. Nodes already in the target are reported\n" +
				"and left alone; if that is every node, the move fails (exit 1) so a script\n" +
				"notices. With --wake/--reboot, what can be checked (reboot key, known hosts,\n" +
				"localdisk nodes) is checked before anything changes.\n" +
				"With --once the nodes stay in their cluster: their next boot goes to --to, and\n" +
				"the node's own fetch of that boot's config (TFTP or HTTP) ends the once, logged\n" +
				"as boot-once-used. The move hooks run with NODE_SWITCH_ONCE=1.",
			Flags: flags,
			Action: withOps(func(c *cli.Context, o *ops.Ops) error {
				expr, err := rangeArg(c)
				if err != nil {
					return err
				}
				req := ops.Request{Actor: actorOf(c), Range: expr, Reason: c.String("reason")}
				if req.SyncTimeout, err = syncTimeoutOf(c); err != nil {
					return err
				}
				via, err := viaOf(c)
				if err != nil {
					return err
				}
				if c.Bool("cancel-once") {
					for _, f := range []string{"to", "once", "force", "wake", "reboot", "reboot-localdisk", "via"} {
						if c.IsSet(f) {
							return usageError("move --cancel-once: --%s makes no sense here; give RANGE and --reason only", f)
						}
					}
					rep, err := o.CancelOnce(c.Context, ops.CancelOnceRequest{Request: req, DryRun: c.Bool("dry-run")})
					return printAfter(c, rep, err)
				}
				if c.String("to") == "" {
					return usageError(`move: Required flag "to" not set: name the target cluster (or pass --cancel-once to drop a pending boot once)`)
				}
				rep, err := o.Move(c.Context, ops.MoveRequest{
					Request: req,
					To:      c.String("to"), DryRun: c.Bool("dry-run"), Force: c.Bool("force"), Once: c.Bool("once"),
					Wake: c.Bool("wake"), Reboot: c.Bool("reboot"), RebootLocalDisk: c.Bool("reboot-localdisk"), Via: via,
					Progress: rebootProgress(c),
				})
				return printAfter(c, rep, err)
			}),
		}
	})
	for _, m := range []struct{ name, usage string }{
		{"mask", "make our DHCP/TFTP ignore nodes so the Windows head's WDS can reinstall them"},
		{"unmask", "undo mask: the nodes boot their cluster again"},
	} {
		register(func() *cli.Command {
			return &cli.Command{
				Name:      m.name,
				Usage:     m.usage,
				ArgsUsage: "RANGE",
				Flags: []cli.Flag{reasonFlag(), jsonFlag(), syncFlag(),
					&cli.BoolFlag{Name: "dry-run", Usage: "check and show what would change; change nothing"},
					&cli.BoolFlag{Name: "force", Usage: "unmask: even into a cluster whose NFS root has not passed its check"}},
				Action: withOps(func(c *cli.Context, o *ops.Ops) error {
					expr, err := rangeArg(c)
					if err != nil {
						return err
					}
					sync, err := syncTimeoutOf(c)
					if err != nil {
						return err
					}
					rep, err := o.Mask(c.Context, ops.MaskRequest{
						Request: ops.Request{Actor: actorOf(c), Range: expr, Reason: c.String("reason"), SyncTimeout: sync},
						Mask:    m.name == "mask", DryRun: c.Bool("dry-run"), Force: c.Bool("force"),
					})
					return printAfter(c, rep, err)
				}),
			}
		})
	}
}

// printAfter prints a report when something was done or planned (also when
// a wake or reboot after the change failed) and returns the error.
func printAfter(c *cli.Context, rep ops.Report, err error) error {
	if rep.Action == "" {
		return err
	}
	if perr := printChange(c, rep); perr != nil && err == nil {
		return perr
	}
	return err
}

// syncFlag bounds the wait of a change for the boot servers. Named "sync"
// (the servers' copies of the inventory), not "wait", which is the node's
// boot being confirmed; one flag is both the bound and, at 0, the way out,
// so there is no pair of flags to contradict each other.
func syncFlag() cli.Flag {
	return &cli.DurationFlag{Name: "sync-timeout", Value: ops.DefaultSyncTimeout, EnvVars: []string{"NODE_SWITCH_SYNC_TIMEOUT"},
		Usage: "after the commit, wait at most this long until every running boot server answers from the change (those still behind are named); 0: do not wait"}
}

// syncTimeoutOf is --sync-timeout as ops.Request.SyncTimeout wants it.
func syncTimeoutOf(c *cli.Context) (time.Duration, error) {
	d := c.Duration("sync-timeout")
	switch {
	case d < 0:
		return 0, usageError("--sync-timeout %v: want a duration such as 2s, or 0 not to wait", d)
	case d == 0:
		return -1, nil
	}
	return d, nil
}
