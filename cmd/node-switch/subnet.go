package main

import (
	"fmt"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "subnet",
			Usage: "options DHCP replies carry for the nodes of a subnet (router, DNS, domain, next-server, lease time, site options)",
			Subcommands: []*cli.Command{
				{
					Name:      "set",
					Usage:     "add a subnet, or change the options given (the others stay as they are)",
					ArgsUsage: "CIDR",
					Flags: []cli.Flag{
						&cli.StringSliceFlag{Name: "router", Usage: "gateway addresses (option 3); --router '' removes them"},
						&cli.StringSliceFlag{Name: "dns", Usage: "DNS servers (option 6); --dns '' removes them"},
						&cli.StringFlag{Name: "domain", Usage: "domain name (option 15); --domain '' removes it"},
						&cli.StringFlag{Name: "next-server", Usage: "TFTP server (default, or with '': the serving address)"},
						&cli.DurationFlag{Name: "lease-time", Usage: "e.g. 12h (0: the DHCP server's default)"},
						&cli.GenericFlag{Name: "option", Value: &repeated{}, Usage: "site option CODE=VALUE or NAME=VALUE, repeatable: 42=10.20.0.2,10.20.0.3 " +
							"(ntp-servers), 26=9000 (interface-mtu), 119=cluster.local,example.org (domain-search), 224=hex:0a0b for codes " +
							"without a known type; CODE= removes one. Sent to clients that list the code in option 55, or send no list"},
					},
					Action: creatingStore(subnetSet),
				},
				{
					Name:  "list",
					Usage: "list subnets",
					Flags: []cli.Flag{jsonFlag()},
					Action: withStore(func(c *cli.Context, st *nodes.Store) error {
						sns, err := st.Subnets(c.Context)
						if err != nil {
							return err
						}
						if c.Bool("json") {
							if sns == nil {
								sns = []nodes.Subnet{}
							}
							return printJSON(c, sns)
						}
						w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
						fmt.Fprintln(w, "SUBNET\tROUTERS\tDNS\tDOMAIN\tNEXT-SERVER\tLEASE\tOPTIONS")
						for _, s := range sns {
							next, lease := "-", "-"
							if s.NextServer.IsValid() {
								next = s.NextServer.String()
							}
							if s.LeaseTime > 0 {
								lease = s.LeaseTime.String()
							}
							opts := make([]string, len(s.Options))
							for i, o := range s.Options {
								opts[i] = o.String()
							}
							if len(opts) == 0 {
								opts = []string{"-"}
							}
							fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Prefix, addrList(s.Routers), addrList(s.DNS), s.Domain, next, lease, strings.Join(opts, " "))
						}
						return w.Flush()
					}),
				},
				{
					Name:      "rm",
					Usage:     "remove a subnet's options",
					ArgsUsage: "CIDR",
					Action: withStore(func(c *cli.Context, st *nodes.Store) error {
						arg, err := oneArg(c, "subnet")
						if err != nil {
							return err
						}
						p, err := netip.ParsePrefix(arg)
						if err != nil {
							return usageError("subnet rm: %q is not a subnet such as 192.168.1.0/24", arg)
						}
						ctx, logged := nodes.WatchEvent(c.Context)
						if err := st.RemoveSubnet(ctx, actorOf(c), p); err != nil {
							return err
						}
						fmt.Fprintf(c.App.Writer, "removed subnet %s (logbook #%d)\n", p.Masked(), logged())
						return nil
					}),
				},
			},
		}
	})
}

func addrList(as []netip.Addr) string {
	if len(as) == 0 {
		return "-"
	}
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

func subnetSet(c *cli.Context, st *nodes.Store) error {
	arg, err := oneArg(c, "subnet such as 192.168.1.0/24")
	if err != nil {
		return err
	}
	p, err := netip.ParsePrefix(arg)
	if err != nil || !p.Addr().Is4() {
		return usageError("subnet set: %q is not a subnet such as 192.168.1.0/24", arg)
	}
	// Everything is parsed before the store is touched: a bad value
	// changes nothing.
	var edits []func(*nodes.Subnet) error
	for _, name := range []string{"router", "dns"} {
		if !c.IsSet(name) {
			continue
		}
		var as []netip.Addr
		for _, v := range c.StringSlice(name) {
			for _, s := range strings.Split(v, ",") {
				if strings.TrimSpace(s) == "" {
					continue
				}
				a, err := nodes.ParseIP(s)
				if err != nil {
					return usageError("subnet set --%s: %v", name, err)
				}
				as = append(as, a)
			}
		}
		edits = append(edits, func(sn *nodes.Subnet) error {
			if name == "router" {
				sn.Routers = as
			} else {
				sn.DNS = as
			}
			return nil
		})
	}
	if c.IsSet("domain") {
		d := strings.TrimSpace(c.String("domain"))
		edits = append(edits, func(sn *nodes.Subnet) error { sn.Domain = d; return nil })
	}
	if c.IsSet("next-server") {
		var a netip.Addr
		if v := strings.TrimSpace(c.String("next-server")); v != "" {
			if a, err = nodes.ParseIP(v); err != nil {
				return usageError("subnet set --next-server: %v", err)
			}
		}
		edits = append(edits, func(sn *nodes.Subnet) error { sn.NextServer = a; return nil })
	}
	if c.IsSet("lease-time") {
		d := c.Duration("lease-time")
		if d < 0 || d%time.Second != 0 {
			return usageError("subnet set --lease-time %v: want whole seconds, e.g. 12h (0: the server's default)", d)
		}
		edits = append(edits, func(sn *nodes.Subnet) error { sn.LeaseTime = d; return nil })
	}
	for _, kv := range *c.Generic("option").(*repeated) {
		code, value, err := nodes.ParseOptionArg(kv)
		if err != nil {
			return usageError("subnet set --option: %v", err)
		}
		if value != "" {
			if _, err := nodes.ParseDHCPOption(code, value); err != nil {
				return usageError("subnet set --option: %v", err)
			}
		}
		edits = append(edits, func(sn *nodes.Subnet) error { return sn.SetOption(code, value) })
	}
	ctx, logged := nodes.WatchEvent(c.Context)
	_, result, err := st.UpdateSubnet(ctx, actorOf(c), p, func(sn *nodes.Subnet) error {
		for _, e := range edits {
			if err := e(sn); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "subnet %s set: %s (logbook #%d)\n", p.Masked(), result, logged())
	return nil
}

// repeated is a repeatable flag whose values keep their commas, which
// StringSliceFlag would split (42=10.0.0.1,10.0.0.2 is one option).
type repeated []string

func (r *repeated) Set(s string) error { *r = append(*r, s); return nil }
func (r *repeated) String() string     { return strings.Join(*r, " ") }
