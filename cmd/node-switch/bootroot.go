package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/bootprofiles/bootroot"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "bootroot",
			Usage: "manage the boot root served over TFTP and HTTP",
			Subcommands: []*cli.Command{{
				Name:      "init",
				Usage:     "fill a boot root with the boot loaders of the installed packages",
				ArgsUsage: "[DIR]",
				Description: "Copies pxelinux.0, lpxelinux.0, ldlinux.c32, chain.c32 and its libraries\n" +
					"(pxelinux, syslinux-common), syslinux.efi (syslinux-efi) and iPXE (ipxe) into DIR\n" +
					"(default " + defaultBootRoot + "), and builds grubx64.efi, a GRUB EFI network image\n" +
					"(grub-efi-amd64-bin, grub-common) that reads grub.cfg-01-<mac> from " + bootroot.GRUBPrefix + "/.\n" +
					"Kernels and initrds are the site's: put them anywhere under DIR and name them\n" +
					"in the profile (paths relative to DIR). Safe to run again after upgrades.",
				Action: func(c *cli.Context) error {
					dir := defaultBootRoot
					switch c.NArg() {
					case 0:
					case 1:
						dir = c.Args().First()
					default:
						return usageError("bootroot init: want at most one directory, got %d arguments", c.NArg())
					}
					done, err := bootroot.Init(dir, bootroot.Options{Warn: c.App.ErrWriter})
					if err != nil {
						return err
					}
					for _, f := range done {
						fmt.Fprintf(c.App.Writer, "%s/%s\n", dir, f)
					}
					return nil
				},
			}},
		}
	})
}
