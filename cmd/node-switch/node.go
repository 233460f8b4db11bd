package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
)

func reasonFlag() cli.Flag {
	return &cli.StringFlag{Name: "reason", Usage: "why, for the logbook"}
}

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "node",
			Usage: "add, list and remove node reservations",
			Subcommands: append([]*cli.Command{
				{
					Name:      "add",
					Usage:     "reserve an address for a node's MAC in a cluster",
					ArgsUsage: "NAME",
					Flags: append([]cli.Flag{
						&cli.StringFlag{Name: "mac", Usage: "the PXE NIC's MAC address"},
						fromUnknownFlag(),
						&cli.StringFlag{Name: "ip", Required: true, Usage: "the reserved IPv4 address"},
						&cli.StringFlag{Name: "cluster", Required: true, Usage: "the logical cluster it boots"},
						reasonFlag(),
						&cli.BoolFlag{Name: "force", Usage: "add it even to a cluster whose NFS root has not passed its check"},
					}, bmcNodeFlags()...),
					Action: creatingStore(nodeAdd),
				},
				{
					Name:      "list",
					Usage:     "list nodes (all, or a range)",
					ArgsUsage: "[RANGE]",
					Flags:     []cli.Flag{jsonFlag()},
					Action:    withStore(nodeList),
				},
				{
					Name:      "rm",
					Usage:     "remove node reservations",
					ArgsUsage: "RANGE",
					Description: "A RANGE that names more than one node (a cluster, all, umu[18-23]) needs\n" +
						"--yes; --dry-run shows what it names and removes nothing.",
					Flags: []cli.Flag{
						reasonFlag(),
						&cli.BoolFlag{Name: "yes", Usage: "remove every node the range names, when that is more than one"},
						&cli.BoolFlag{Name: "dry-run", Usage: "print the nodes that would be removed; remove nothing"},
					},
					Action: withStore(nodeRemove),
				},
				nodeUnknownCommand(),
			}, nodeBMCCommands()...),
		}
	})
}

func nodeAdd(c *cli.Context, st *nodes.Store) error {
	name, err := oneArg(c, "node name")
	if err != nil {
		return err
	}
	mac, err := nodeAddMAC(c, st, name)
	if err != nil {
		return err
	}
	ip, err := nodes.ParseIP(c.String("ip"))
	if err != nil {
		return usageError("node add %s: %v", name, err)
	}
	b, err := bmcFromFlags(c, name)
	if err != nil {
		return err
	}
	n, err := st.WithForce(c.Bool("force")).AddNodeWithBMC(c.Context, actorOf(c), nodes.Node{Name: name, MAC: mac, IP: ip, Cluster: c.String("cluster")}, b, c.String("reason"))
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "added %s (%s, %s) to %s (logbook #%d)\n", n.Name, n.MAC, n.IP, n.Cluster, n.Event)
	return nil
}

func nodeList(c *cli.Context, st *nodes.Store) error {
	// No RANGE lists every node; several words are one range, as in move.
	ns, err := st.Nodes(c.Context, strings.Join(c.Args().Slice(), ","))
	if err != nil {
		return err
	}
	bmc, err := bmcAddrs(c, st, ns)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		out := []listedNode{}
		for _, n := range ns {
			out = append(out, listedNode{Node: n, BMC: bmc[n.Name]})
			if bmc[n.Name] == "-" {
				out[len(out)-1].BMC = ""
			}
		}
		return printJSON(c, out)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tMAC\tIP\tCLUSTER\tONCE\tMASKED\tLAST SEEN\tFIRMWARE\tBMC")
	for _, n := range ns {
		masked := "-"
		if n.Masked {
			masked = "yes"
			if n.MaskReason != "" {
				masked += " (" + nodes.Escape(n.MaskReason) + ")"
			}
		}
		seen := "never"
		if !n.LastSeen.IsZero() {
			seen = n.LastSeen.Local().Format(time.DateTime)
		}
		fw := nodes.Escape(n.Firmware)
		if fw == "" {
			fw = "-"
		}
		once := n.OnceCluster // the next boot only
		if once == "" {
			once = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.MAC, n.IP, n.Cluster, once, masked, seen, fw, bmc[n.Name])
	}
	return w.Flush()
}

func nodeRemove(c *cli.Context, st *nodes.Store) error {
	expr, err := rangeArg(c)
	if err != nil {
		return err
	}
	// A cluster name or "all" is one word that removes many nodes: resolve
	// it first, so the operator confirms a number and a list rather than a
	// word, and then remove exactly the nodes confirmed.
	ns, err := st.Nodes(c.Context, expr)
	if err != nil {
		return err
	}
	names := nodes.Compress(namesOfNodes(ns))
	switch {
	case c.Bool("dry-run"):
		fmt.Fprintf(c.App.Writer, "would remove %s (%s; dry run: nothing changed)\n", names, countNodes(len(ns)))
		return nil
	case len(ns) > 1 && !c.Bool("yes"):
		return usageError("node rm %s names %s: %s; pass --yes to remove them all (--dry-run lists them), nothing was removed", expr, countNodes(len(ns)), names)
	}
	ctx, logged := nodes.WatchEvent(c.Context)
	gone, err := st.RemoveNodes(ctx, actorOf(c), names, c.String("reason"))
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "removed %s (logbook #%d)\n", nodes.Compress(namesOfNodes(gone)), logged())
	return nil
}

func countNodes(n int) string {
	if n == 1 {
		return "1 node"
	}
	return fmt.Sprintf("%d nodes", n)
}

// rangeArg joins the positional arguments into one range, so both
// "umu18,umu19" and "umu18 umu19" (as PowerShell splats a list) work.
func rangeArg(c *cli.Context) (string, error) {
	if c.NArg() == 0 {
		return "", usageError("%s: which nodes? give a RANGE such as umu[18-19], a cluster name, or all", c.Command.FullName())
	}
	expr := ""
	for i, a := range c.Args().Slice() {
		if i > 0 {
			expr += ","
		}
		expr += a
	}
	return expr, nil
}

func namesOfNodes(ns []nodes.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
}
