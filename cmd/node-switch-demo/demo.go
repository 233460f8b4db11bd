package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/urfave/cli/v2"
)

// um64DhcpdConf is the source system's dhcpd.conf (UM64: umu18-19 boot
// Windows, umu20-23 Linux), the demo's embedded default inventory.
//
//go:embed um64-dhcpd.conf
var um64DhcpdConf []byte

// demoNetnsPrefix starts the name of the demo's network namespace; the
// rest comes from the demo's directory, so two demos (a user's and a test's)
// never take down each other's network.
const demoNetnsPrefix = "node-switch-demo-"

// demoNetnsFor names the namespace of the demo kept in dir (absolute).
func demoNetnsFor(dir string) string {
	h := sha256.Sum256([]byte(dir))
	return demoNetnsPrefix + hex.EncodeToString(h[:4])
}

func demo(c *cli.Context) error {
	env := envOf(c)
	dir, err := filepath.Abs(c.String("dir"))
	if err != nil {
		return err
	}
	boot := filepath.Join(dir, "boot")
	if err := os.MkdirAll(boot, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	db := filepath.Join(dir, "inventory.db")
	// An empty hooks directory of its own: the demo must never run a
	// head node's real Slurm or Windows-head hooks.
	hooksDir := filepath.Join(dir, "hooks")
	self, err := nodeSwitchBinary(c, dir)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	sub := func(args ...string) error {
		cmd := exec.CommandContext(c.Context, self, append([]string{"--db", db, "--hooks-dir", hooksDir}, args...)...)
		cmd.Stdout, cmd.Stderr = env.Stdout, env.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("demo: node-switch %s: %w", strings.Join(args, " "), err)
		}
		return nil
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
		if err := sub("bootroot", "init", boot); err != nil {
			fmt.Fprintf(env.Stderr, "note: boot root not filled (%v); DHCP still answers, TFTP serves what is in %s\n", err, boot)
		}
	}

	var vm *demoVM
	switch missing := demoQEMUMissing(); {
	case len(missing) > 0:
		fmt.Fprintf(env.Stdout, "\nTo watch a node switch in a virtual machine, install QEMU and what it boots:\n"+
			"  apt-get install %s\nand run the demo again as root. Until then: the appliance alone.\n\n", strings.Join(missing, " "))
	case os.Geteuid() != 0:
		// Without root there is no namespace to boot a VM in: the
		// refusal below says so, before any download.
	case !demoBIOSLoaders(env.Stderr, boot, sub):
		fmt.Fprintf(env.Stdout, "\nThe VM needs pxelinux in %s: install what the note above names and run the demo again.\n"+
			"Until then: the appliance alone.\n\n", boot)
	default:
		if vm, err = prepareDemoVM(c, dir, boot, db, hooksDir, sub); err != nil {
			return err
		}
		defer vm.close()
	}
	if err := sub("status"); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		printDemoCommands(env.Stdout, self, db)
		return cli.Exit("demo: the servers run in a network namespace of their own, which needs root: run the demo as root to start them", 1)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return cli.Exit("demo: needs the ip command (apt-get install iproute2) to make its network namespace", 1)
	}
	demoNetns := demoNetnsFor(dir)
	if vm != nil {
		vm.netns = demoNetns
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

	ctx, stop := context.WithCancel(c.Context)
	defer stop()
	fmt.Fprintf(env.Stdout, "serving in network namespace %s on br0 (192.168.1.1); attach test clients with\n  ip netns exec %s ...\n", demoNetns, demoNetns)
	ready := make(chan struct{})
	var readyOnce sync.Once
	serveOut := &prefixWriter{w: env.Stderr, prefix: "serve| ", onLine: func(line string) {
		// Logged once every listener is bound: the VM's first DHCP
		// request must find a server.
		if strings.Contains(line, `msg="node-switch serving"`) {
			readyOnce.Do(func() { close(ready) })
		}
	}}
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", demoNetns, self, "--db", db, "--hooks-dir", hooksDir, "serve",
		"--interface", "br0", "--server-ip", "192.168.1.1", "--boot-root", boot)
	cmd.Stdout, cmd.Stderr = serveOut, serveOut
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	// The daemon must not outlive a demo that is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("demo: serve: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- cmd.Wait() }()
	serveErr := func(err error) error {
		if err == nil || c.Context.Err() != nil {
			return nil
		}
		return fmt.Errorf("demo: serve: %w", err)
	}

	if vm != nil {
		select {
		case <-ready:
		case err := <-served:
			return fmt.Errorf("demo: serve ended before it served: %w", err)
		case <-ctx.Done():
			return nil
		}
		if err := vm.showSwitch(ctx); err != nil {
			vm.close()
			stop()
			<-served
			if c.Context.Err() != nil {
				return nil
			}
			return fmt.Errorf("demo: %w", err)
		}
	}
	printDemoCommands(env.Stdout, self, db)
	if vm != nil && c.Bool("exit-after-switch") {
		vm.close()
		stop()
		<-served
		return nil
	}
	if vm != nil {
		fmt.Fprintf(env.Stdout, "Press Enter to power %s on again (it boots whatever its cluster is then).\n", demoNode)
		go vm.resetOnEnter(ctx, env.Stdin)
	}
	fmt.Fprintln(env.Stdout, "Ctrl-C to stop.")
	err = serveErr(<-served)
	if vm != nil {
		vm.close()
	}
	return err
}

// printDemoCommands shows what the operator can run against the demo's
// inventory, with a binary that is still there after the demo exits.
func printDemoCommands(w io.Writer, self, db string) {
	fmt.Fprintf(w, "\ninventory: %s\ntry (in another shell; these work after the demo stops too):\n", db)
	for _, args := range []string{"status", "move " + demoNode + " --to linux --reason \"back to Linux\"", "log"} {
		fmt.Fprintf(w, "  %s --db %s %s\n", self, db, args)
	}
	fmt.Fprintln(w)
}

// prefixWriter puts a prefix before every line written through it, so the
// daemon's log and the VM's console stay apart on one terminal. clean, when
// set, rewrites each line first ("" drops it); onLine sees what was printed.
type prefixWriter struct {
	mu      sync.Mutex
	w       io.Writer
	prefix  string
	clean   func(string) string
	onLine  func(string)
	partial []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(p.partial[:i])
		p.partial = p.partial[i+1:]
		if p.clean != nil {
			if line = p.clean(line); line == "" {
				continue
			}
		}
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, line)
		if p.onLine != nil {
			p.onLine(line)
		}
	}
}
