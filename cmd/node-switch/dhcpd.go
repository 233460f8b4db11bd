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
				Description: `Reads FILE and every file it includes (a relative include is looked up next to
the file that includes it; dhcpd itself opens it relative to its working
directory, so write absolute paths for dhcpd). Imported: hosts with
'hardware ethernet' and one IPv4 'fixed-address' (inside groups, subnets and
shared-networks alike; commented out: masked), each group's or host's
filename (one cluster per boot file directory), and per subnet the options
routers, domain-name-servers, domain-name, next-server and
default-lease-time. Every other statement (range, pool, class, subclass, if,
on commit, failover peer, key, zone, other options, server settings ...) is
skipped and listed, with its file:line and why, in the output; --dry-run
lists the same and changes nothing.

Before the import a site's nodes booted the configs its TFTP server held:
for each group, import looks in the boot file's directory under --boot-root
for them (pxelinux: pxelinux.cfg/default and per-node 01-<mac> / hex-IP
files; GRUB: grub.cfg and grub.cfg-<...>, also in grub/) and, where it finds
any, gives the group's profile kind files: node-switch then serves those
files untouched, by the boot loader's own lookup order, so every node boots
exactly what it booted before, and a move switches which group's files a
node gets. The output says what was found for each group. Malformed text (unbalanced braces, a
missing ';', a bad address or MAC) is an error naming file:line, and nothing
is imported.

Of an 'export dhcpd', import restores: subnets with the options above, NFS
root catalog entries (unchecked: run 'nfsroot check'), each cluster with its
profile's name, kind, NFS root, files directory and BIOS boot file, and each node's name, MAC,
IP, cluster and mask reason. It does not restore what dhcpd.conf has no place
for: profiles' kernel, initrd, append, UEFI/ARM64/iPXE boot files, local boot
methods and templates (kind template: pass --kind CLUSTER=linux), profiles
no cluster uses, descriptions, extra subnet options, last-seen data, NFS
root check results and the logbook. So export, import, export gives the same
dhcpd.conf text, not the same inventory.`,
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "name-map", Usage: "DIR=CLUSTER: name the cluster of boot files in DIR (e.g. um64_win=windows); a DIR no boot file is in is an error"},
					&cli.StringSliceFlag{Name: "kind", Usage: "CLUSTER=KIND: profile kind of a cluster (linux, localdisk, ...), over the file's own; an unknown CLUSTER is an error"},
					bootRootFlag(),
					&cli.BoolFlag{Name: "force", Usage: "import nodes into clusters whose NFS root has not passed its check (an imported root never has: check it next with 'node-switch nfsroot check')"},
					&cli.BoolFlag{Name: "dry-run", Usage: "read and convert FILE, print what would be imported and every note; changes nothing (conflicts with records already in the inventory show only in a real import)"},
					reasonFlag(),
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
				Name:      "dhcpd",
				Usage:     "write an ISC dhcpd.conf in the source system's shape (a fallback to plain dhcpd at any time)",
				ArgsUsage: "[FILE] (the same as -o FILE; default: standard output)",
				Flags:     []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "file to write (default: standard output)"}},
				Action:    withStore(exportDhcpd),
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
	o := dhcpdconf.ImportOptions{KindMap: map[string]nodes.ProfileKind{}}
	if dir := c.String("boot-root"); dir != "" {
		o.BootRoot, o.BootRootName = os.DirFS(dir), dir
	}
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
	cfg, err := dhcpdconf.ParseFile(file)
	if err != nil {
		return fmt.Errorf("import: %w (nothing imported)", err)
	}
	inv, notes, err := dhcpdconf.ToInventory(file, cfg, o)
	if err != nil {
		return fmt.Errorf("import: %w (nothing imported)", err)
	}
	masked := 0
	for _, n := range inv.Nodes {
		if n.Masked {
			masked++
		}
	}
	w := c.App.Writer
	for _, n := range cfg.Skipped {
		fmt.Fprintln(w, "skipped", n)
	}
	for _, n := range notes {
		fmt.Fprintln(w, "note:", n)
	}
	what := fmt.Sprintf("%d nodes (%d masked) in %d clusters, %d subnets, %d NFS roots from %s",
		len(inv.Nodes), masked, len(inv.Clusters), len(inv.Subnets), len(inv.NFSRoots), file)
	if c.Bool("dry-run") {
		fmt.Fprintf(w, "would import %s; %d statements skipped (dry run: nothing changed)\n", what, len(cfg.Skipped))
		return nil
	}
	reason := c.String("reason")
	if reason == "" {
		reason = "import " + file
	}
	id, err := st.WithForce(c.Bool("force")).Import(c.Context, actorOf(c), inv, reason)
	if err != nil {
		return fmt.Errorf("%w (nothing imported)", err)
	}
	fmt.Fprintf(w, "imported %s; %d statements skipped (logbook #%d)\n", what, len(cfg.Skipped), id)
	return nil
}

func exportDhcpd(c *cli.Context, st *nodes.Store) error {
	file, err := exportFile(c)
	if err != nil {
		return err
	}
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
		groups = append(groups, dhcpdconf.ExportCluster{Name: cl.Name, Profile: p.Name, Kind: p.Kind, NFSRoot: p.NFSRoot, FilesDir: p.FilesDir, Filename: file, Nodes: byCluster[cl.Name]})
	}
	sns, err := st.Subnets(c.Context)
	if err != nil {
		return err
	}
	roots, err := st.NFSRoots(c.Context)
	if err != nil {
		return err
	}
	header := []string{
		"ISC dhcpd.conf written by node-switch export dhcpd from " + st.Path() + " at " + time.Now().UTC().Format(time.RFC3339),
		"One group per logical cluster; masked nodes are commented out. BIOS boot files only:",
		"UEFI clients need a class on option arch in dhcpd. '# node-switch' lines are for re-import.",
	}
	out := c.App.Writer
	if file != "" {
		fh, err := os.Create(file)
		if err != nil {
			return fmt.Errorf("export dhcpd: %w", err)
		}
		defer fh.Close()
		out = fh
	}
	return dhcpdconf.Write(out, header, roots, sns, groups)
}

// exportFile is where export writes: FILE as import takes it, or -o FILE;
// "" is standard output. Both given must agree: which one wins would be a
// guess, and the loser would be left stale.
func exportFile(c *cli.Context) (string, error) {
	flag := c.String("output")
	switch {
	case c.NArg() > 1:
		return "", usageError("export dhcpd: want at most one FILE, got %d arguments", c.NArg())
	case c.NArg() == 0:
		return flag, nil
	case flag != "" && flag != c.Args().First():
		return "", usageError("export dhcpd: FILE %s and -o %s disagree: give one of them", c.Args().First(), flag)
	}
	return c.Args().First(), nil
}
