package main

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"
)

// um64DhcpdConf is the source system's dhcpd.conf (UM64: umu18-19 boot
// Windows, umu20-23 Linux), the demo's embedded default inventory.
//
//go:embed um64-dhcpd.conf
var um64DhcpdConf []byte

const demoNetns = "node-switch-demo"

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "demo",
			Usage: "start the appliance on its embedded defaults: the source system's six nodes, served inside a private network namespace",
			Description: "Creates DIR/inventory.db from the UM64 cluster's dhcpd.conf (umu18-19 Windows,\n" +
				"umu20-23 Linux), fills DIR/boot from the distribution's boot loaders when they are\n" +
				"installed, and (as root) runs 'serve' inside the network namespace " + demoNetns + " on a\n" +
				"bridge 192.168.1.1/24 that no real network reaches. Ctrl-C stops it and removes the namespace.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "dir", Value: "node-switch-demo", Usage: "where the demo keeps its inventory and boot root"},
			},
			Action: demo,
		}
	})
}

func demo(c *cli.Context) error {
	env := envOf(c)
	dir, err := filepath.Abs(c.String("dir"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "boot"), 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	db := filepath.Join(dir, "inventory.db")
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	sub := func(args ...string) error {
		return Run(c.Context, env, append([]string{"node-switch", "--db", db}, args...))
	}
	if _, err := os.Stat(db); errors.Is(err, os.ErrNotExist) {
		conf := filepath.Join(dir, "um64-dhcpd.conf")
		if err := os.WriteFile(conf, um64DhcpdConf, 0o644); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if err := sub("import", "dhcpd", conf, "--name-map", "um64_win=windows", "--name-map", "um64_linux=linux",
			"--reason", "demo: the UM64 cluster"); err != nil {
			return err
		}
		if err := sub("subnet", "set", "192.168.1.0/24", "--router", "192.168.1.1", "--dns", "192.168.1.1", "--domain", "um64.demo"); err != nil {
			return err
		}
		if err := sub("bootroot", "init", filepath.Join(dir, "boot")); err != nil {
			fmt.Fprintf(env.Stderr, "note: boot root not filled (%v); DHCP still answers, TFTP serves what is in %s\n", err, filepath.Join(dir, "boot"))
		}
	}
	if err := sub("status"); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "\ninventory: %s\ntry:  %s --db %s move 'umu[18-19]' --to linux --reason test\n      %s --db %s log\n\n", db, self, db, self, db)
	if os.Geteuid() != 0 {
		return cli.Exit("demo: the servers run in a network namespace of their own, which needs root: run the demo as root to start them", 1)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return cli.Exit("demo: needs the ip command (apt-get install iproute2) to make its network namespace", 1)
	}
	exec.Command("ip", "netns", "del", demoNetns).Run()
	for _, args := range [][]string{
		{"netns", "add", demoNetns},
		{"-n", demoNetns, "link", "set", "lo", "up"},
		{"-n", demoNetns, "link", "add", "br0", "type", "bridge"},
		{"-n", demoNetns, "addr", "add", "192.168.1.1/24", "dev", "br0"},
		{"-n", demoNetns, "link", "set", "br0", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			exec.Command("ip", "netns", "del", demoNetns).Run()
			return fmt.Errorf("demo: ip %v: %v: %s", args, err, out)
		}
	}
	defer exec.Command("ip", "netns", "del", demoNetns).Run()
	fmt.Fprintf(env.Stdout, "serving in network namespace %s on br0 (192.168.1.1); attach test clients with\n  ip netns exec %s ...\nCtrl-C to stop.\n", demoNetns, demoNetns)
	cmd := exec.CommandContext(c.Context, "ip", "netns", "exec", demoNetns, self, "--db", db, "serve",
		"--interface", "br0", "--server-ip", "192.168.1.1", "--boot-root", filepath.Join(dir, "boot"))
	cmd.Stdout, cmd.Stderr = env.Stdout, env.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	if err := cmd.Run(); err != nil && c.Context.Err() == nil {
		return fmt.Errorf("demo: serve: %w", err)
	}
	return nil
}
