package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:   "status",
			Usage:  "show the distribution of nodes across clusters, and the masked nodes",
			Flags:  []cli.Flag{jsonFlag()},
			Action: withStore(status),
		}
	})
	register(func() *cli.Command {
		return &cli.Command{
			Name:      "log",
			Usage:     "show the logbook: who changed what, from where, and why",
			ArgsUsage: "[RANGE]",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "since", Usage: "only entries newer than this: an age (90m, 24h, 7d) or a date (2026-11-30)"},
				&cli.StringFlag{Name: "action", Usage: "only this action (move, mask, unmask, reboot, ssh, hook ...)"},
				&cli.IntFlag{Name: "limit", Usage: "only the newest N entries"},
				jsonFlag(),
			},
			Action: withStore(showLog),
		}
	})
}

func status(c *cli.Context, st *nodes.Store) error {
	d, err := st.Status(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c, d)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CLUSTER\tPROFILE\tKIND\tNODES\tCOUNT")
	for _, cl := range d.Clusters {
		r := cl.Range
		if r == "" {
			r = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\n", cl.Name, cl.Profile, cl.Kind, r, len(cl.Nodes))
	}
	if len(d.Masked) > 0 {
		fmt.Fprintf(w, "(masked)\t\t\t%s\t%d\n", nodes.Compress(d.Masked), len(d.Masked))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(d.Once) > 0 {
		fmt.Fprintln(c.App.Writer, "\nboot once pending (the next boot only, then their own cluster again):")
		w = tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
		for _, o := range d.Once {
			note := ""
			if o.Masked {
				note = "masked: waits for unmask"
			}
			fmt.Fprintf(w, "  %s\t→ %s\tthen %s\tlogbook #%d\t%s\n", o.Name, o.Cluster, o.Home, o.Event, note)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if len(d.MaskedDetail) > 0 {
		fmt.Fprintln(c.App.Writer, "\nmasked nodes (ignored by our DHCP/TFTP; the Windows head may reinstall them):")
		w = tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
		for _, m := range d.MaskedDetail {
			fmt.Fprintf(w, "  %s\treturns to %s\t%s\n", m.Name, m.Cluster, nodes.Escape(m.Reason))
		}
		return w.Flush()
	}
	return nil
}

func showLog(c *cli.Context, st *nodes.Store) error {
	f := nodes.LogFilter{Limit: c.Int("limit")}
	if a := c.String("action"); a != "" {
		if !nodes.KnownAction(nodes.Action(a)) {
			return usageError("log --action %q: no such action; actions are %s", a, nodes.ActionList())
		}
		f.Action = nodes.Action(a)
	}
	if c.NArg() > 0 {
		expr, err := rangeArg(c)
		if err != nil {
			return err
		}
		if f.Nodes, err = st.LogNodes(c.Context, expr); err != nil {
			return usageError("log: %v", err)
		}
	}
	if v := c.String("since"); v != "" {
		since, err := nodes.ParseSince(v, time.Now())
		if err != nil {
			return usageError("log --since: %v", err)
		}
		f.Since = since
	}
	evs, err := st.Log(c.Context, f)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if evs == nil {
			evs = []nodes.Event{}
		}
		return printJSON(c, evs)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "#\tTIME\tACTOR\tCHANNEL\tACTION\tNODES\tFROM → TO\tREASON\tRESULT")
	for _, e := range evs {
		// Free text is printed escaped: entries written before the
		// inventory checked it may hold line breaks or escape sequences.
		actor := e.Actor
		if e.Origin != "" {
			actor += "@" + e.Origin
		}
		actor = nodes.Escape(actor)
		fromTo := ""
		if e.Source != "" || e.Target != "" {
			fromTo = nodes.Escape(e.Source + " → " + e.Target)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Time.Local().Format(time.DateTime), actor, nodes.Escape(e.Channel), e.Action,
			nodes.Compress(e.Nodes), fromTo, nodes.Escape(e.Reason), nodes.Escape(e.Result))
	}
	return w.Flush()
}
