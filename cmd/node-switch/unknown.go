package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
)

// nodeUnknownCommand lists, and forgets, the machines the DHCP server heard
// without a reservation (it never answers them).
func nodeUnknownCommand() *cli.Command {
	return &cli.Command{
		Name:  "unknown",
		Usage: "list MACs that asked for DHCP without a reservation (never answered), newest first",
		Description: "Take one in with 'node add NAME --from-unknown MAC --ip IP --cluster C'.\n" +
			"--clear MAC... or --clear all forgets them (logged).",
		ArgsUsage: "[--clear MAC...|all]",
		Flags: []cli.Flag{
			jsonFlag(),
			&cli.BoolFlag{Name: "clear", Usage: "forget the MACs given as arguments, or all of them with 'all'"},
			reasonFlag(),
		},
		Action: withStore(nodeUnknown),
	}
}

func nodeUnknown(c *cli.Context, st *nodes.Store) error {
	if c.Bool("clear") {
		if c.NArg() == 0 {
			return usageError("%s --clear: forget which? give MACs, or all", c.Command.FullName())
		}
		gone, err := st.ClearUnknown(c.Context, actorOf(c), c.Args().Slice(), c.String("reason"))
		if err != nil {
			return err
		}
		if c.Bool("json") {
			return printJSON(c, map[string]any{"forgotten": gone})
		}
		fmt.Fprintf(c.App.Writer, "forgot %d unknown MACs\n", len(gone))
		return nil
	}
	if c.NArg() > 0 {
		return usageError("%s takes no arguments (did you mean --clear %s?)", c.Command.FullName(), c.Args().First())
	}
	if c.IsSet("reason") {
		return usageError("%s: --reason goes with --clear", c.Command.FullName())
	}
	us, err := st.Unknowns(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c, us)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "MAC\tLAST SEEN\tFIRST SEEN\tTIMES\tFIRMWARE\tVENDOR CLASS\tVIA\tHOSTNAME")
	for _, u := range us {
		via := u.Interface
		if u.Relay != "" {
			via += " relay " + u.Relay
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", u.MAC, u.LastSeen.Local().Format(time.DateTime),
			u.FirstSeen.Local().Format(time.DateTime), u.TimesSeen, dash(nodes.Escape(u.Firmware)), dash(nodes.Escape(u.VendorClass)), dash(via), dash(nodes.Escape(u.Hostname)))
	}
	return w.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fromUnknownFlag lets "node add" take in a MAC from the unknown list.
func fromUnknownFlag() cli.Flag {
	return &cli.StringFlag{Name: "from-unknown", Usage: "the MAC, as 'node unknown' lists it (instead of --mac)"}
}

// nodeAddMAC is the MAC "node add" reserves: --mac, or --from-unknown, which
// must be in the unknown list. Either way the MAC leaves the list in the
// add's own transaction (nodes.Store.AddNode).
func nodeAddMAC(c *cli.Context, st *nodes.Store, name string) (string, error) {
	mac, from := c.String("mac"), c.String("from-unknown")
	switch {
	case mac != "" && from != "":
		return "", usageError("node add %s: give --mac or --from-unknown, not both", name)
	case from != "":
		u, err := st.UnknownMAC(c.Context, from)
		if err != nil && !errors.Is(err, nodes.ErrNotFound) && !errors.Is(err, nodes.ErrInvalid) {
			return "", err
		}
		if err != nil {
			return "", usageError("node add %s: --from-unknown: %v ('node-switch node unknown' lists the MACs heard; --mac adds one never heard)", name, err)
		}
		return u.MAC, nil
	case mac == "":
		return "", usageError("node add %s: give the node's MAC with --mac, or --from-unknown MAC from 'node-switch node unknown'", name)
	}
	m, err := nodes.ParseMAC(mac)
	if err != nil {
		return "", usageError("node add %s: %v", name, err)
	}
	return m, nil
}
