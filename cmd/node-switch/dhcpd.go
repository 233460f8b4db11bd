package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/bootprofiles"
	"github.com/node-switch/node-switch/dhcpdconf"
	"github.com/node-switch/node-switch/nodes"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "import",
			Usage: "import reservations from another tool's configuration",
			Subcommands: []*cli.Command{{
				Name:      "dhcpd",
				Usage:     "import an ISC dhcpd.conf: each group a cluster, each host a node, commented-out hosts masked",
				ArgsUsage: "FILE",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "name-map", Usage: "DIR=CLUSTER: name the cluster of boot files in DIR (e.g. um64_win=windows)"},
					&cli.StringSliceFlag{Name: "kind", Usage: "CLUSTER=KIND: profile kind of a cluster (linux, localdisk, ...)"},
					reasonFlag,
				},
				Action: creatingStore(importDhcpd),
			}},
		}
	})
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "export",
			Usage: "write the inventory in another tool's format",
			Subcommands: []*cli.Command{{
				Name:   "dhcpd",
				Usage:  "write an ISC dhcpd.conf in the source system's shape (a fallback to plain dhcpd at any time)",
				Flags:  []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "file to write (default: standard output)"}},
				Action: withStore(exportDhcpd),
			}},
		}
	})
}

func pairs(c *cli.Context, flag string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range c.StringSlice(flag) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			return nil, usageError("--%s %q: want A=B", flag, kv)
		}
		m[k] = v
	}
	return m, nil
}

func importDhcpd(c *cli.Context, st *nodes.Store) error {
	file, err := oneArg(c, "dhcpd.conf file")
	if err != nil {
		return err
	}
	src, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("import %s: %w", file, err)
	}
	o := dhcpdconf.ImportOptions{KindMap: map[string]nodes.ProfileKind{}}
	if o.NameMap, err = pairs(c, "name-map"); err != nil {
		return err
	}
	kinds, err := pairs(c, "kind")
	if err != nil {
		return err
	}
	for k, v := range kinds {
		kind, err := nodes.ParseProfileKind(v)
		if err != nil {
			return usageError("--kind %s=%s: %v", k, v, err)
		}
		o.KindMap[k] = kind
	}
	cfg, err := dhcpdconf.Parse(file, string(src))
	if err != nil {
		return fmt.Errorf("import: %w (nothing imported)", err)
	}
	inv, notes, err := dhcpdconf.ToInventory(file, cfg, o)
	if err != nil {
		return fmt.Errorf("import: %w (nothing imported)", err)
	}
	reason := c.String("reason")
	if reason == "" {
		reason = "import " + file
	}
	id, err := st.Import(c.Context, actorOf(c), inv, reason)
	if err != nil {
		return fmt.Errorf("%w (nothing imported)", err)
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(c.App.ErrWriter, "note:", w)
	}
	for _, n := range notes {
		fmt.Fprintln(c.App.ErrWriter, "note:", n)
	}
	masked := 0
	for _, n := range inv.Nodes {
		if n.Masked {
			masked++
		}
	}
	fmt.Fprintf(c.App.Writer, "imported %d nodes (%d masked) in %d clusters, %d subnets from %s (logbook #%d)\n",
		len(inv.Nodes), masked, len(inv.Clusters), len(inv.Subnets), file, id)
	return nil
}

func exportDhcpd(c *cli.Context, st *nodes.Store) error {
	cs, err := st.Clusters(c.Context)
	if err != nil {
		return err
	}
	all, err := st.Nodes(c.Context, "")
	if err != nil {
		return err
	}
	byCluster := map[string][]nodes.Node{}
	for _, n := range all {
		byCluster[n.Cluster] = append(byCluster[n.Cluster], n)
	}
	var groups []dhcpdconf.ExportCluster
	for _, cl := range cs {
		p, err := st.Profile(c.Context, cl.Profile)
		if err != nil {
			return err
		}
		file, _ := bootprofiles.BootFile(p, nodes.BootBIOS, false)
		groups = append(groups, dhcpdconf.ExportCluster{Name: cl.Name, Profile: p.Name, Kind: p.Kind, Filename: file, Nodes: byCluster[cl.Name]})
	}
	sns, err := st.Subnets(c.Context)
	if err != nil {
		return err
	}
	header := []string{
		"ISC dhcpd.conf written by node-switch export dhcpd from " + st.Path() + " at " + time.Now().UTC().Format(time.RFC3339),
		"One group per logical cluster; masked nodes are commented out. BIOS boot files only:",
		"UEFI clients need a class on option arch in dhcpd. '# node-switch' lines are for re-import.",
	}
	out := c.App.Writer
	if f := c.String("output"); f != "" {
		fh, err := os.Create(f)
		if err != nil {
			return fmt.Errorf("export dhcpd: %w", err)
		}
		defer fh.Close()
		out = fh
	}
	return dhcpdconf.Write(out, header, sns, groups)
}
