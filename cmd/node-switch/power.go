package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/wol"
)

// wakeFlags are shared by "power on" and "move --wake".
var wakeFlags = []cli.Flag{
	&cli.StringFlag{Name: "wake-interface", EnvVars: []string{"NODE_SWITCH_WAKE_INTERFACE"},
		Usage: "send magic packets out of this interface (default: the one on each node's network)"},
	&cli.IntFlag{Name: "wake-port", Value: wol.DefaultPort, Usage: "UDP port of the magic packets"},
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
				Flags: append([]cli.Flag{jsonFlag}, wakeFlags...),
				Action: withStore(func(c *cli.Context, st *nodes.Store) error {
					expr, err := oneArg(c, "node range")
					if err != nil {
						return err
					}
					ns, err := st.Nodes(c.Context, expr)
					if err != nil {
						return err
					}
					if !c.Bool("json") {
						return wakeNodes(c, st, ns)
					}
					results, err := wake(c, st, ns)
					if perr := printJSON(c, results); perr != nil {
						return perr
					}
					return err
				}),
			}},
		}
	})
}

// wakeResult is one node's line of "power on --json".
type wakeResult struct {
	Node      string `json:"node"`
	MAC       string `json:"mac"`
	Interface string `json:"interface,omitempty"`
	Broadcast string `json:"broadcast,omitempty"`
	OK        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`
}

// wakeNodes sends Wake-on-LAN magic packets to nodes, prints a line per
// node and returns an error naming those it could not wake. The logbook
// records which were sent and which were not. Under --json (move --wake
// --json) the lines go to stderr so stdout stays one JSON document.
func wakeNodes(c *cli.Context, st *nodes.Store, ns []nodes.Node) error {
	results, err := wake(c, st, ns)
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
	return err
}

func wake(c *cli.Context, st *nodes.Store, ns []nodes.Node) ([]wakeResult, error) {
	if len(ns) == 0 {
		return []wakeResult{}, nil
	}
	ifaces, err := wol.LocalIfaces()
	if err != nil {
		return nil, err
	}
	subnets, err := st.Subnets(c.Context)
	if err != nil {
		return nil, err
	}
	var results []wakeResult
	var sent, failed []string
	var reasons []string
	for _, n := range ns {
		r := wakeResult{Node: n.Name, MAC: n.MAC}
		var prefix netip.Prefix
		if sn, ok := nodes.SubnetFor(subnets, n.IP); ok {
			prefix = sn.Prefix
		}
		route, err := wol.Plan(ifaces, c.String("wake-interface"), n.IP, prefix)
		if err == nil {
			r.Interface, r.Broadcast = route.Interface, route.Broadcast.String()
			err = wol.Send(c.Context, n.MAC, route, c.Int("wake-port"))
		}
		if err != nil {
			r.Error = fmt.Sprintf("wake %s (%s): %v", n.Name, n.MAC, err)
			failed = append(failed, n.Name)
			reasons = append(reasons, r.Error)
		} else {
			r.OK = true
			sent = append(sent, n.Name)
		}
		results = append(results, r)
	}
	result := "magic packets sent to " + orNone(sent)
	if len(failed) > 0 {
		result += "; not sent to " + nodes.Compress(failed) + ": " + strings.Join(reasons, "; ")
	}
	names := make([]string, len(ns))
	for i, n := range ns {
		names[i] = n.Name
	}
	if _, err := st.Record(c.Context, actorOf(c), nodes.Event{Action: "power-on", Nodes: names, Result: result}); err != nil {
		return results, fmt.Errorf("power on: packets sent but the logbook entry failed: %w", err)
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("could not wake %s: %s", nodes.Compress(failed), strings.Join(reasons, "; "))
	}
	return results, nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return nodes.Compress(names)
}
