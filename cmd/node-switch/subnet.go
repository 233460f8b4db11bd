package main

import (
	"fmt"
	"net/netip"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "subnet",
			Usage: "options DHCP replies carry for the nodes of a subnet (router, DNS, domain, next-server, lease time)",
			Subcommands: []*cli.Command{
				{
					Name:      "set",
					Usage:     "add or replace a subnet's options",
					ArgsUsage: "CIDR",
					Flags: []cli.Flag{
						&cli.StringSliceFlag{Name: "router"},
						&cli.StringSliceFlag{Name: "dns"},
						&cli.StringFlag{Name: "domain"},
						&cli.StringFlag{Name: "next-server", Usage: "TFTP server (default: the serving address)"},
						&cli.DurationFlag{Name: "lease-time", Usage: "e.g. 12h (default: the DHCP server's)"},
					},
					Action: creatingStore(func(c *cli.Context, st *nodes.Store) error {
						arg, err := oneArg(c, "subnet such as 192.168.1.0/24")
						if err != nil {
							return err
						}
						p, err := netip.ParsePrefix(arg)
						if err != nil {
							return usageError("subnet set: %q is not a subnet such as 192.168.1.0/24", arg)
						}
						sn := nodes.Subnet{Prefix: p, Domain: c.String("domain"), LeaseTime: c.Duration("lease-time")}
						for _, f := range []struct {
							name string
							dst  *[]netip.Addr
						}{{"router", &sn.Routers}, {"dns", &sn.DNS}} {
							for _, v := range c.StringSlice(f.name) {
								for _, s := range strings.Split(v, ",") {
									a, err := nodes.ParseIP(s)
									if err != nil {
										return usageError("subnet set --%s: %v", f.name, err)
									}
									*f.dst = append(*f.dst, a)
								}
							}
						}
						if v := c.String("next-server"); v != "" {
							if sn.NextServer, err = nodes.ParseIP(v); err != nil {
								return usageError("subnet set --next-server: %v", err)
							}
						}
						if err := st.SetSubnet(c.Context, actorOf(c), sn); err != nil {
							return err
						}
						fmt.Fprintf(c.App.Writer, "subnet %s set\n", p.Masked())
						return nil
					}),
				},
				{
					Name:  "list",
					Usage: "list subnets",
					Flags: []cli.Flag{jsonFlag},
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
						fmt.Fprintln(w, "SUBNET\tROUTERS\tDNS\tDOMAIN\tNEXT-SERVER\tLEASE")
						for _, s := range sns {
							next, lease := "-", "-"
							if s.NextServer.IsValid() {
								next = s.NextServer.String()
							}
							if s.LeaseTime > 0 {
								lease = s.LeaseTime.String()
							}
							fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Prefix, addrList(s.Routers), addrList(s.DNS), s.Domain, next, lease)
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
						return st.RemoveSubnet(c.Context, actorOf(c), p)
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
