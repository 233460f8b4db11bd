// Command node-switch-demo starts node-switch on its embedded defaults in a
// network namespace of its own and, with QEMU, boots one node through a
// switch from Linux to Windows. It is a command of its own so that the
// appliance, node-switch, links none of the test lab it borrows (QEMU,
// boot assets, network namespaces). See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/ops"
)

// modulePath is the module whose checkout the demo builds node-switch from.
const modulePath = "github.com/node-switch/node-switch"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &demoEnv{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin}
	if err := newApp(env).RunContext(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "node-switch-demo:", err)
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}

// demoEnv is what the demo talks to; tests give it buffers.
type demoEnv struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
}

func newApp(env *demoEnv) *cli.App {
	return &cli.App{
		Name:  "node-switch-demo",
		Usage: "start node-switch on its embedded defaults and, with QEMU, watch a node switch from Linux to Windows",
		Description: "Creates DIR/inventory.db from the UM64 cluster's dhcpd.conf (umu18-19 Windows,\n" +
			"umu20-23 Linux), fills DIR/boot from the distribution's boot loaders when they are\n" +
			"installed, and (as root) runs 'node-switch serve' inside a network namespace of its own (" + demoNetnsPrefix + "…) on a\n" +
			"bridge 192.168.1.1/24 that no real network reaches.\n" +
			"With QEMU installed it then boots umu20 as a virtual machine (SeaBIOS + iPXE) with its\n" +
			"serial console on the terminal (vm| ): first Linux (a Debian kernel, fetched once with\n" +
			"apt-get download into DIR/cache, and a marker initramfs), then, after 'move umu20 --to\n" +
			"windows' and a reset, its local disk. Ctrl-C stops it and removes the namespace.\n" +
			"Run from a checkout, it builds node-switch into DIR/node-switch first.",
		Writer:    env.Stdout,
		ErrWriter: env.Stderr,
		Reader:    env.Stdin,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Value: "node-switch-demo", Usage: "where the demo keeps its inventory, boot root, cache and node-switch binary"},
			&cli.BoolFlag{Name: "exit-after-switch", Usage: "stop once the VM has booted its local disk, instead of serving until Ctrl-C"},
			&cli.StringFlag{Name: "node-switch", Usage: "the node-switch binary to run (default: built from the checkout the demo runs in, else node-switch on PATH)"},
		},
		Metadata: map[string]any{"env": env},
		Action:   demo,
		// The demo prints its own errors once, in main.
		ExitErrHandler: func(*cli.Context, error) {},
	}
}

func envOf(c *cli.Context) *demoEnv { return c.App.Metadata["env"].(*demoEnv) }

// actorOf names the demo in the logbook.
func actorOf(*cli.Context) nodes.Actor {
	return nodes.Actor{Name: "node-switch demo", Channel: nodes.ChannelCLI, From: "local"}
}

// printChange says what a change the demo made through the operations
// layer did, with its logbook number, as node-switch's own commands do.
func (vm *demoVM) printChange(rep ops.Report) error {
	verb := map[nodes.Action]string{nodes.ActionMove: "moved", nodes.ActionMask: "masked", nodes.ActionUnmask: "unmasked"}[rep.Action]
	if verb == "" {
		verb = string(rep.Action)
	}
	names := nodes.Compress(rep.Nodes)
	if rep.Action == nodes.ActionMove {
		_, err := fmt.Fprintf(vm.out, "%s %s from %s to %s (logbook #%d)\n", verb, names, rep.From, rep.To, rep.Event)
		return err
	}
	_, err := fmt.Fprintf(vm.out, "%s %s (logbook #%d)\n", verb, names, rep.Event)
	return err
}

// nodeSwitchBinary is the node-switch the demo runs, at a path that
// outlives the demo so the commands it prints keep working: --node-switch
// if given; built from the checkout the demo runs in (as "go run
// ./cmd/node-switch-demo" does) into DIR/node-switch; else node-switch on
// PATH.
func nodeSwitchBinary(c *cli.Context, dir string) (string, error) {
	if p := c.String("node-switch"); p != "" {
		return filepath.Abs(p)
	}
	root, err := checkoutRoot()
	if err != nil {
		p, lerr := exec.LookPath("node-switch")
		if lerr != nil {
			return "", fmt.Errorf("no node-switch to run: %v, and none on PATH (give --node-switch BINARY)", err)
		}
		return p, nil
	}
	dst := filepath.Join(dir, "node-switch")
	// Built beside, then renamed: a daemon of an earlier demo may still be
	// running the old file.
	tmp := filepath.Join(dir, ".node-switch-build")
	fmt.Fprintf(envOf(c).Stdout, "building node-switch from %s into %s\n", root, dst)
	cmd := exec.CommandContext(c.Context, "go", "build", "-o", tmp, "./cmd/node-switch")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = envOf(c).Stderr, envOf(c).Stderr
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build ./cmd/node-switch in %s: %w", root, err)
	}
	return dst, os.Rename(tmp, dst)
}

// checkoutRoot finds the node-switch checkout around the working directory
// and the go command to build in it.
func checkoutRoot() (string, error) {
	if _, err := exec.LookPath("go"); err != nil {
		return "", errors.New("no go command to build node-switch with")
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) == 2 && f[0] == "module" && f[1] == modulePath {
					return dir, nil
				}
			}
			return "", fmt.Errorf("%s is not a node-switch checkout", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside a node-switch checkout")
		}
		dir = parent
	}
}
