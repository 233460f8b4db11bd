package main

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/bootprofiles"
	"github.com/node-switch/node-switch/bootprofiles/bootfs"
	"github.com/node-switch/node-switch/nodes"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:      "render",
			Usage:     "print the boot config a node is served now (pxelinux for BIOS, GRUB for UEFI, an iPXE script)",
			ArgsUsage: "RANGE",
			Description: "Prints exactly the bytes the TFTP and HTTP servers would send the node for\n" +
				"pxelinux.cfg/01-<mac> (bios), grub.cfg-01-<mac> (uefi) or ipxe.cfg-01-<mac> (ipxe),\n" +
				"rendered from the inventory as it is now (with a boot once pending: the once\n" +
				"cluster's config).\n" +
				"Notes (masked nodes, no boot file, a pending once) go to stderr; with\n" +
				"several nodes each config is preceded by a '### node' line.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "firmware", Usage: "bios, uefi, arm64 (ARM64 UEFI) or ipxe (the script a client already running iPXE gets; default: what the node last booted with, else bios)"},
				&cli.StringFlag{Name: "server-ip", Usage: "address nodes reach the HTTP endpoint at (default: the subnet's next-server)"},
				&cli.IntFlag{Name: "http-port", Value: 8080, Usage: "port of serve's --http-listen (0: HTTP disabled)"},
				bootRootFlag(),
			},
			Action: withStore(renderCmd),
		}
	})
}

func renderCmd(c *cli.Context, st *nodes.Store) error {
	expr, err := rangeArg(c)
	if err != nil {
		return err
	}
	var fw bootprofiles.Firmware
	// ARM64 is UEFI (GRUB) on a node recorded as ARM64: the renderer
	// picks the kernel by the node's recorded firmware.
	arm64 := c.String("firmware") == nodes.BootARM64
	if arm64 {
		fw = bootprofiles.UEFI
	} else if s := c.String("firmware"); s != "" {
		if fw, err = bootprofiles.ParseFirmware(s); err != nil {
			return usageError("--firmware: %v", err)
		}
	}
	var server netip.Addr
	if s := c.String("server-ip"); s != "" {
		if server, err = nodes.ParseIP(s); err != nil {
			return usageError("--server-ip: %v", err)
		}
	}
	ns, err := st.Nodes(c.Context, expr)
	if err != nil {
		return err
	}
	if len(ns) == 0 {
		return fmt.Errorf("render %s: no such node", expr)
	}
	subnets, err := st.Subnets(c.Context)
	if err != nil {
		return err
	}
	out, errw := c.App.Writer, c.App.ErrWriter
	// What serve finds there decides the UEFI chain of profiles that name none.
	loaders := bootprofiles.DetectLoaders(os.DirFS(c.String("boot-root")))
	for _, n := range ns {
		nfw := fw
		if nfw == "" {
			nfw = bootprofiles.BIOS
			if strings.HasPrefix(n.Firmware, "uefi") || strings.HasPrefix(n.Firmware, nodes.BootARM64) {
				nfw = bootprofiles.UEFI
			}
		}
		if arm64 {
			n.Firmware = nodes.BootARM64
		} else if fw != "" && strings.HasPrefix(n.Firmware, nodes.BootARM64) && fw != bootprofiles.IPXE {
			// --firmware uefi or bios asks about x86-64.
			n.Firmware = string(fw)
		}
		name := "pxelinux.cfg/01-" + strings.ReplaceAll(n.MAC, ":", "-")
		switch nfw {
		case bootprofiles.UEFI:
			name = "grub.cfg-01-" + strings.ReplaceAll(n.MAC, ":", "-")
		case bootprofiles.IPXE:
			name = bootprofiles.IPXEConfigName(n.MAC)
		}
		if len(ns) > 1 {
			fmt.Fprintf(out, "### %s (%s): %s\n", n.Name, nfw, name)
		}
		if n.Masked {
			fmt.Fprintf(errw, "node-switch: %s is masked (%s): it gets no DHCP answer and every TFTP/HTTP read is refused\n", n.Name, nodes.Escape(n.MaskReason))
			continue
		}
		srv := server
		if !srv.IsValid() {
			if sn, ok := nodes.SubnetFor(subnets, n.IP); ok {
				srv = sn.NextServer
			}
		}
		_, p, err := st.BootOf(c.Context, n)
		if err != nil {
			return fmt.Errorf("render %s: %w", n.Name, err)
		}
		if n.OnceCluster != "" {
			fmt.Fprintf(errw, "node-switch: %s: boot once pending (logbook #%d): its next boot goes to cluster %s, the boots after it to %s; "+
				"the node's fetch of this config ends the once (this command does not)\n", n.Name, n.OnceEvent, n.OnceCluster, n.Cluster)
		}
		base := bootfs.HTTPBase(srv, c.Int("http-port"))
		if (p.HTTP || p.UEFIBoot == nodes.UEFIBootHTTP) && base == "" && c.Int("http-port") > 0 {
			return usageError("render %s: profile %s loads kernels over HTTP: pass --server-ip (or set the subnet's --next-server)", n.Name, p.Name)
		}
		key := nodes.BootBIOS
		if nfw == bootprofiles.UEFI {
			key = nodes.BootUEFI
			if strings.HasPrefix(n.Firmware, nodes.BootARM64) {
				key = nodes.BootARM64
			}
		}
		httpBoot := nfw == bootprofiles.UEFI && p.UEFIBoot == nodes.UEFIBootHTTP
		if nfw == bootprofiles.IPXE {
			switch {
			case !bootprofiles.IPXEScript(p, key):
				file, _ := bootprofiles.BootFileFor(p, key, true, loaders)
				fmt.Fprintf(errw, "node-switch: %s: profile %s gives iPXE clients a boot loader (%q), not a script; asked for %s by name, it would get:\n", n.Name, p.Name, file, name)
			case base == "":
				fmt.Fprintf(errw, "node-switch: %s: iPXE clients get a script only with serve's HTTP endpoint on: with --http-port 0 they get the BIOS/UEFI boot file\n", n.Name)
			default:
				fmt.Fprintf(errw, "node-switch: %s: an iPXE client (BIOS or UEFI) gets DHCP boot file %s/%s, this script\n", n.Name, base, name)
			}
		} else if file, ok := bootprofiles.HTTPBootFile(p, key); httpBoot && ok && base != "" {
			fmt.Fprintf(errw, "node-switch: %s: native UEFI HTTP boot: DHCP boot URI %s/%s (a PXE request gets no boot file), then %s over HTTP\n", n.Name, base, file, name)
		} else if httpBoot && base == "" {
			fmt.Fprintf(errw, "node-switch: %s: native UEFI HTTP boot needs serve's HTTP endpoint: with --http-port 0 the node gets no boot URI\n", n.Name)
		} else if file, ok := bootprofiles.BootFileFor(p, key, false, loaders); !ok {
			fmt.Fprintf(errw, "node-switch: %s: the DHCP answer for %s carries no boot file: the firmware moves on to its next boot entry; a boot loader loaded anyway would get:\n", n.Name, nfw)
		} else {
			fmt.Fprintf(errw, "node-switch: %s: DHCP boot file %s, then %s\n", n.Name, file, name)
		}
		in, err := bootfs.InputFor(c.Context, st, n, nfw, base)
		if err != nil {
			return err
		}
		in.Loaders = loaders
		if p.Kind == nodes.KindFiles {
			if err := renderSiteFile(c, in); err != nil {
				return err
			}
			continue
		}
		b, err := bootprofiles.Render(in)
		if err != nil {
			return err
		}
		if _, err := out.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// renderSiteFile prints the site's own file a profile of kind files serves
// the node, as bootfs picks it, and says on stderr which one it is.
func renderSiteFile(c *cli.Context, in bootprofiles.Input) error {
	root, err := os.OpenRoot(c.String("boot-root"))
	if err != nil {
		return fmt.Errorf("render %s: profile %s serves the site's files from the boot root: %w (pass --boot-root)", in.Node.Name, in.Profile.Name, err)
	}
	defer root.Close()
	f, name, err := bootfs.SiteConfig(root, in)
	if err != nil {
		return fmt.Errorf("render %w", err)
	}
	defer f.Close()
	fmt.Fprintf(c.App.ErrWriter, "node-switch: %s: profile %s (files) serves the site's %s as it is\n", in.Node.Name, in.Profile.Name, name)
	_, err = io.Copy(c.App.Writer, f)
	return err
}
