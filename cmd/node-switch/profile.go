package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/bootprofiles"
	"github.com/node-switch/node-switch/nodes"
)

// profileFlags are shared by "profile add" and "profile set"; set changes
// only the flags given.
func profileFlags(add bool) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kind", Required: add, Usage: "linux | localdisk | nfsroot | template | files"},
		&cli.StringFlag{Name: "kernel", Usage: "kernel path under the boot root (linux)"},
		&cli.StringFlag{Name: "initrd", Usage: "initrd path under the boot root (linux)"},
		&cli.StringFlag{Name: "kernel-arm64", Usage: "kernel ARM64 nodes (option 93 = 11) boot instead of --kernel (linux, nfsroot); without one an ARM64 node is refused its config"},
		&cli.StringFlag{Name: "initrd-arm64", Usage: "initrd ARM64 nodes boot instead of --initrd (linux, nfsroot)"},
		&cli.StringFlag{Name: "append", Usage: "kernel command line (linux, nfsroot)"},
		&cli.StringSliceFlag{Name: "boot-file", Usage: "KEY=FILE: first-stage file in the DHCP reply for bios, uefi, arm64 or ipxe (KEY= sends none)"},
		&cli.StringFlag{Name: "local-boot", Usage: "BIOS local-disk method: localboot (LOCALBOOT 0) or chain (chain.c32 hd0)"},
		&cli.IntFlag{Name: "chain-partition", Usage: "partition for --local-boot chain (0 = the MBR)"},
		&cli.StringFlag{Name: "uefi-local-boot", Usage: "UEFI local-disk method: none (no boot file), exit (GRUB exit) or chainload (GRUB chainloads bootmgfw.efi)"},
		&cli.StringFlag{Name: "uefi-chain", Usage: "x86-64 UEFI loader chain: signed (shim -> the distribution's signed GRUB, for Secure Boot), self-built (bootroot init's unsigned GRUB) or auto (signed when the boot root holds it; the default)"},
		&cli.StringFlag{Name: "uefi-boot", Usage: "how UEFI nodes boot from the network: pxe (PXE over TFTP; the default) or http (native UEFI HTTP boot: loader, config, kernel and initrd over HTTP, no TFTP; the PXE entry gets no boot file)"},
		&cli.StringFlag{Name: "nfsroot", Usage: "NFS-root catalog entry (nfsroot)"},
		&cli.StringFlag{Name: "template-bios", Usage: "file holding a text/template for pxelinux (template)"},
		&cli.StringFlag{Name: "template-uefi", Usage: "file holding a text/template for GRUB (template)"},
		&cli.StringFlag{Name: "files", Usage: "directory under the boot root holding the site's own pxelinux.cfg/ and/or grub.cfg, served untouched (files)"},
		&cli.BoolFlag{Name: "http", Usage: "load kernel and initrd over HTTP instead of TFTP"},
		&cli.StringFlag{Name: "description"},
		bootRootFlag(),
		&cli.BoolFlag{Name: "force", Usage: "accept a kernel or initrd (files: a pxelinux.cfg/default or grub.cfg) missing from --boot-root, and point nodes at an NFS root that has not passed its check"},
	}
}

// bootRootFlag is where profile checks look for kernels, initrds and a
// site's own configs, and where import looks for the latter: the directory
// serve serves, from the same default and variable.
func bootRootFlag() cli.Flag {
	return &cli.StringFlag{Name: "boot-root", Value: defaultBootRoot, EnvVars: []string{"NODE_SWITCH_BOOT_ROOT"},
		Usage: "boot root in which to look for kernels, initrds and the site's own boot configs (as serve's --boot-root)"}
}

// vetProfile refuses a profile its nodes could not boot (bootprofiles.Check):
// a template that does not render, always; a kernel or initrd missing from
// --boot-root, unless --force. What it could not check comes back as a
// warning, printed once the change has committed.
func vetProfile(c *cli.Context, p nodes.Profile) (warning string, err error) {
	err = bootprofiles.Check(p, c.String("boot-root"))
	switch {
	case err == nil:
		return "", nil
	case errors.Is(err, bootprofiles.ErrNoBootRoot):
		return err.Error(), nil
	case errors.Is(err, bootprofiles.ErrMissingFile) && c.Bool("force"):
		return err.Error() + " (accepted: --force)", nil
	}
	return "", err
}

func warn(c *cli.Context, warning string) {
	if warning != "" {
		fmt.Fprintf(c.App.ErrWriter, "node-switch: warning: %s\n", warning)
	}
}

// applyProfileFlags copies the flags the operator gave onto p.
func applyProfileFlags(c *cli.Context, p *nodes.Profile) error {
	if c.IsSet("kind") {
		k, err := nodes.ParseProfileKind(c.String("kind"))
		if err != nil {
			return usageError("%v", err)
		}
		p.Kind = k
	}
	str := map[string]*string{
		"kernel": &p.Kernel, "initrd": &p.Initrd, "kernel-arm64": &p.KernelARM64, "initrd-arm64": &p.InitrdARM64, "append": &p.Append, "local-boot": &p.LocalBoot,
		"uefi-local-boot": &p.UEFILocalBoot, "nfsroot": &p.NFSRoot, "description": &p.Description, "files": &p.FilesDir,
	}
	for name, dst := range str {
		if c.IsSet(name) {
			*dst = c.String(name)
		}
	}
	if c.IsSet("uefi-chain") {
		v := c.String("uefi-chain")
		if v == "auto" {
			v = ""
		}
		if !slices.Contains(nodes.UEFIChains, v) {
			return usageError("--uefi-chain %q: want auto, signed or self-built", c.String("uefi-chain"))
		}
		p.UEFIChain = v
	}
	if c.IsSet("uefi-boot") {
		v := c.String("uefi-boot")
		if v == nodes.UEFIBootPXE {
			v = ""
		}
		if !slices.Contains(nodes.UEFIBoots, v) {
			return usageError("--uefi-boot %q: want pxe or http", c.String("uefi-boot"))
		}
		p.UEFIBoot = v
	}
	if c.IsSet("chain-partition") {
		p.ChainPartition = c.Int("chain-partition")
	}
	if c.IsSet("http") {
		p.HTTP = c.Bool("http")
	}
	for name, dst := range map[string]*string{"template-bios": &p.TemplateBIOS, "template-uefi": &p.TemplateUEFI} {
		if !c.IsSet(name) {
			continue
		}
		if c.String(name) == "" {
			*dst = ""
			continue
		}
		b, err := os.ReadFile(c.String(name))
		if err != nil {
			return usageError("--%s: %v", name, err)
		}
		*dst = string(b)
	}
	if c.IsSet("boot-file") {
		p.BootFiles = map[string]string{}
		for _, kv := range c.StringSlice("boot-file") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return usageError("--boot-file %q: want KEY=FILE, e.g. bios=um64_linux/pxelinux.0", kv)
			}
			p.BootFiles[k] = v
		}
	}
	return nil
}

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "profile",
			Usage: "boot profiles: what a cluster's nodes boot",
			Subcommands: []*cli.Command{
				{
					Name:      "add",
					Usage:     "add a boot profile",
					ArgsUsage: "NAME",
					Flags:     profileFlags(true),
					Action: creatingStore(func(c *cli.Context, st *nodes.Store) error {
						name, err := oneArg(c, "profile name")
						if err != nil {
							return err
						}
						p := nodes.Profile{Name: name}
						if err := applyProfileFlags(c, &p); err != nil {
							return err
						}
						warning, err := vetProfile(c, p)
						if err != nil {
							return fmt.Errorf("add profile %s: %w", name, err)
						}
						ctx, logged := nodes.WatchEvent(c.Context)
						if err := st.AddProfile(ctx, actorOf(c), p); err != nil {
							return err
						}
						warn(c, warning)
						fmt.Fprintf(c.App.Writer, "added profile %s (%s) (logbook #%d)\n", name, p.Kind, logged())
						return nil
					}),
				},
				{
					Name:      "set",
					Usage:     "change a boot profile (only the flags given)",
					ArgsUsage: "NAME",
					Flags:     append(profileFlags(false), reasonFlag()),
					Action: withStore(func(c *cli.Context, st *nodes.Store) error {
						name, err := oneArg(c, "profile name")
						if err != nil {
							return err
						}
						var warning string
						ctx, logged := nodes.WatchEvent(c.Context)
						_, err = st.WithForce(c.Bool("force")).UpdateProfile(ctx, actorOf(c), name, c.String("reason"), func(p *nodes.Profile) error {
							if err := applyProfileFlags(c, p); err != nil {
								return err
							}
							warning, err = vetProfile(c, *p)
							return err
						})
						if err != nil {
							return err
						}
						warn(c, warning)
						fmt.Fprintf(c.App.Writer, "updated profile %s (logbook #%d)\n", name, logged())
						return nil
					}),
				},
				{
					Name:  "list",
					Usage: "list boot profiles",
					Flags: []cli.Flag{jsonFlag()},
					Action: withStore(func(c *cli.Context, st *nodes.Store) error {
						ps, err := st.Profiles(c.Context)
						if err != nil {
							return err
						}
						if c.Bool("json") {
							return printJSON(c, ps)
						}
						w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
						fmt.Fprintln(w, "PROFILE\tKIND\tBOOT FILES\tDESCRIPTION")
						for _, p := range ps {
							fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p.Name, p.Kind, bootFilesText(p.BootFiles), nodes.Escape(p.Description))
						}
						return w.Flush()
					}),
				},
				{
					Name:      "show",
					Usage:     "show one boot profile",
					ArgsUsage: "NAME",
					Flags:     []cli.Flag{jsonFlag()},
					Action: withStore(func(c *cli.Context, st *nodes.Store) error {
						name, err := oneArg(c, "profile name")
						if err != nil {
							return err
						}
						p, err := st.Profile(c.Context, name)
						if err != nil {
							return err
						}
						if c.Bool("json") {
							return printJSON(c, p)
						}
						return showProfile(c, p)
					}),
				},
				{
					Name:      "rm",
					Usage:     "remove a profile no cluster uses",
					ArgsUsage: "NAME",
					Action: withStore(func(c *cli.Context, st *nodes.Store) error {
						name, err := oneArg(c, "profile name")
						if err != nil {
							return err
						}
						ctx, logged := nodes.WatchEvent(c.Context)
						if err := st.RemoveProfile(ctx, actorOf(c), name); err != nil {
							return err
						}
						fmt.Fprintf(c.App.Writer, "removed profile %s (logbook #%d)\n", name, logged())
						return nil
					}),
				},
			},
		}
	})
}

func bootFilesText(m map[string]string) string {
	if len(m) == 0 {
		return "(defaults)"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		v := m[k]
		if v == "" {
			v = "(none)"
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}

func showProfile(c *cli.Context, p nodes.Profile) error {
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%s:\t%s\n", k, nodes.Escape(v))
		}
	}
	row("name", p.Name)
	row("kind", string(p.Kind))
	row("boot files", bootFilesText(p.BootFiles))
	row("kernel", p.Kernel)
	row("initrd", p.Initrd)
	row("kernel (ARM64)", p.KernelARM64)
	row("initrd (ARM64)", p.InitrdARM64)
	row("append", p.Append)
	row("local boot (BIOS)", p.LocalBoot)
	if p.ChainPartition != 0 {
		row("chain partition", fmt.Sprint(p.ChainPartition))
	}
	row("local boot (UEFI)", p.UEFILocalBoot)
	chain := p.UEFIChain
	if chain == "" {
		chain = "auto (signed when the boot root holds it)"
	}
	row("UEFI chain", chain)
	if p.UEFIBoot == nodes.UEFIBootHTTP {
		row("UEFI boot", "http (native UEFI HTTP boot)")
	}
	row("nfs root", p.NFSRoot)
	if p.Kind == nodes.KindFiles {
		row("site configs", bootprofiles.SiteConfigDir(p, bootprofiles.BIOS)+"/, "+bootprofiles.SiteConfigDir(p, bootprofiles.UEFI)+"/grub.cfg (under the boot root)")
	}
	if p.HTTP {
		row("kernel over", "http")
	}
	row("description", p.Description)
	if err := w.Flush(); err != nil {
		return err
	}
	for _, t := range [][2]string{{"BIOS template", p.TemplateBIOS}, {"UEFI template", p.TemplateUEFI}} {
		if t[1] != "" {
			fmt.Fprintf(c.App.Writer, "--- %s ---\n%s\n", t[0], nodes.EscapeLines(strings.TrimRight(t[1], "\n")))
		}
	}
	return nil
}
