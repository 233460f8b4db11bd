package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
)

// changeReport is what move/mask/unmask print with --json; the PowerShell
// client on the Windows head parses these names.
type changeReport struct {
	Event   int64    `json:"event"`
	Action  string   `json:"action"`
	Nodes   []string `json:"nodes"`
	From    string   `json:"from,omitempty"`
	To      string   `json:"to,omitempty"`
	Skipped []string `json:"skipped"`
	DryRun  bool     `json:"dry_run"`
}

func reportOf(ch nodes.Change) changeReport {
	r := changeReport{Event: ch.Event, Action: ch.Action, Nodes: ch.Names(), From: ch.From(), To: ch.To, Skipped: ch.Skipped, DryRun: ch.DryRun}
	if r.Skipped == nil {
		r.Skipped = []string{}
	}
	return r
}

func printChange(c *cli.Context, ch nodes.Change) error {
	if c.Bool("json") {
		return printJSON(c, reportOf(ch))
	}
	w := c.App.Writer
	names := nodes.Compress(ch.Names())
	verb := map[string]string{"move": "moved", "mask": "masked", "unmask": "unmasked"}[ch.Action]
	if ch.DryRun {
		verb = "would " + ch.Action
	}
	switch ch.Action {
	case "move":
		fmt.Fprintf(w, "%s %s from %s to %s", verb, names, ch.From(), ch.To)
	default:
		fmt.Fprintf(w, "%s %s", verb, names)
	}
	if ch.Event != 0 {
		fmt.Fprintf(w, " (logbook #%d)", ch.Event)
	}
	fmt.Fprintln(w)
	if len(ch.Skipped) > 0 {
		state := map[string]string{"move": "already in " + ch.To, "mask": "already masked", "unmask": "not masked"}[ch.Action]
		fmt.Fprintf(w, "unchanged %s: %s\n", nodes.Compress(ch.Skipped), state)
	}
	return nil
}

func init() {
	register(func() *cli.Command {
		flags := []cli.Flag{
			&cli.StringFlag{Name: "to", Required: true, Usage: "target cluster"},
			reasonFlag,
			&cli.BoolFlag{Name: "dry-run", Usage: "check and show what would change; change nothing"},
			&cli.BoolFlag{Name: "force", Usage: "move even to an NFS root whose last check failed"},
			&cli.BoolFlag{Name: "wake", Usage: "after the move, send Wake-on-LAN to the moved nodes (lab PCs switched off)"},
			&cli.BoolFlag{Name: "reboot", Usage: "after the move, reboot the moved nodes over SSH so they boot their new cluster"},
			&cli.BoolFlag{Name: "reboot-localdisk", Usage: "with --reboot, also reboot nodes now running a localdisk profile (a lab whose day OS runs sshd); by default the Windows head reboots those"},
			jsonFlag,
		}
		flags = append(flags, wakeFlags...)
		flags = append(flags, rebootFlags...)
		return &cli.Command{
			Name:      "move",
			Usage:     "move nodes to another logical cluster (takes effect at their next boot)",
			ArgsUsage: "RANGE",
			Description: "RANGE: umu[18-23], umu[01-04,09], n1,n2, a cluster name, -name to exclude, or all.\n" +
				"The move is one transaction with its logbook entry: all nodes move or none.\n" +
				"Nodes already in the target are reported and left alone; if that is every node,\n" +
				"the move fails (exit 1) so a script notices.",
			Flags:  flags,
			Action: withStore(move),
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
				Flags:     []cli.Flag{reasonFlag, jsonFlag},
				Action:    withStore(setMask(m.name == "mask")),
			}
		})
	}
}

func move(c *cli.Context, st *nodes.Store) error {
	expr, err := rangeArg(c)
	if err != nil {
		return err
	}
	req := nodes.MoveRequest{Range: expr, To: c.String("to"), Reason: c.String("reason"), Force: c.Bool("force"), DryRun: true}
	// A dry run first validates everything and tells the pre-hooks exactly
	// which nodes will move, before anything changes.
	plan, err := st.Move(c.Context, actorOf(c), req)
	if err != nil {
		return err
	}
	if c.Bool("dry-run") {
		return printChange(c, plan)
	}
	h := hookInfo{Event: "pre-move", Nodes: plan.Names(), From: plan.From(), To: req.To, Reason: req.Reason}
	if err := runHooks(c, st, h); err != nil {
		return fmt.Errorf("move %s to %s: vetoed, nothing changed: %w", expr, req.To, err)
	}
	req.DryRun = false
	ch, err := st.Move(c.Context, actorOf(c), req)
	if err != nil {
		return err
	}
	if err := printChange(c, ch); err != nil {
		return err
	}
	h.Event, h.Nodes, h.From = "post-move", ch.Names(), ch.From()
	postHooks(c, st, h)
	return afterChange(c, st, ch)
}

// postHooks runs post-event hooks; the change has committed, so a failing
// hook is reported, not undone.
func postHooks(c *cli.Context, st *nodes.Store, h hookInfo) {
	if err := runHooks(c, st, h); err != nil {
		fmt.Fprintf(c.App.ErrWriter, "warning: %s hook: %v (the change stands)\n", h.Event, err)
	}
}

// afterChange wakes and reboots the moved nodes when asked; the move has
// committed either way, and the error names the nodes that failed.
func afterChange(c *cli.Context, st *nodes.Store, ch nodes.Change) error {
	var errs []error
	if c.Bool("wake") {
		if err := wakeNodes(c, st, ch.Changed); err != nil {
			errs = append(errs, fmt.Errorf("wake: %w", err))
		}
	}
	if c.Bool("reboot") {
		if err := rebootNodes(c, st, ch.Changed, c.Bool("reboot-localdisk")); err != nil {
			errs = append(errs, fmt.Errorf("reboot: %w", err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s committed (logbook #%d), but: %w", ch.Action, ch.Event, errors.Join(errs...))
	}
	return nil
}

func setMask(mask bool) func(c *cli.Context, st *nodes.Store) error {
	return func(c *cli.Context, st *nodes.Store) error {
		expr, err := rangeArg(c)
		if err != nil {
			return err
		}
		op, change := "unmask", st.Unmask
		if mask {
			op, change = "mask", st.Mask
		}
		ns, err := st.Nodes(c.Context, expr)
		if err != nil {
			return fmt.Errorf("%s %s: %w", op, expr, err)
		}
		// The hooks see the nodes that will change and the clusters they
		// are in, like a move's pre-hook does.
		plan := nodes.Change{Action: op}
		for _, n := range ns {
			if n.Masked != mask {
				plan.Changed = append(plan.Changed, n)
			}
		}
		todo := plan.Names()
		h := hookInfo{Event: "pre-" + op, Nodes: todo, From: plan.From(), Reason: c.String("reason")}
		if len(todo) > 0 {
			if err := runHooks(c, st, h); err != nil {
				return fmt.Errorf("%s %s: vetoed, nothing changed: %w", op, expr, err)
			}
		}
		ch, err := change(c.Context, actorOf(c), expr, c.String("reason"))
		if err != nil {
			return err
		}
		if err := printChange(c, ch); err != nil {
			return err
		}
		h.Event, h.Nodes, h.From = "post-"+op, ch.Names(), ch.From()
		postHooks(c, st, h)
		return nil
	}
}
