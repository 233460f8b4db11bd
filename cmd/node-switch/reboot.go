package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/reboot"
)

// rebootFlags are shared by "reboot" and "move --reboot". Their defaults suit
// a head node; the environment variables let the daemon's unit file set them
// for commands arriving over SSH, which may not pass them.
var rebootFlags = []cli.Flag{
	&cli.StringFlag{Name: "reboot-key", Value: "/etc/node-switch/id_ed25519", EnvVars: []string{"NODE_SWITCH_REBOOT_KEY"},
		Usage: "private key (unencrypted) that logs in to the nodes"},
	&cli.StringFlag{Name: "known-hosts", Value: "/etc/node-switch/known_hosts", EnvVars: []string{"NODE_SWITCH_KNOWN_HOSTS"},
		Usage: "the nodes' host keys; a node whose key is not listed is refused"},
	&cli.StringFlag{Name: "reboot-command", Value: "systemctl reboot", EnvVars: []string{"NODE_SWITCH_REBOOT_COMMAND"},
		Usage: "command run on each node"},
	&cli.StringFlag{Name: "reboot-user", Value: "root", EnvVars: []string{"NODE_SWITCH_REBOOT_USER"}, Usage: "user to log in as"},
	&cli.IntFlag{Name: "reboot-port", Value: 22, EnvVars: []string{"NODE_SWITCH_REBOOT_PORT"}, Usage: "the nodes' sshd port"},
	&cli.IntFlag{Name: "parallel", Value: 32, EnvVars: []string{"NODE_SWITCH_REBOOT_PARALLEL"}, Usage: "nodes rebooted at once"},
	&cli.DurationFlag{Name: "reboot-timeout", Value: 30 * time.Second, EnvVars: []string{"NODE_SWITCH_REBOOT_TIMEOUT"},
		Usage: "per node, from connecting to the command's exit"},
}

func init() {
	register(func() *cli.Command {
		flags := []cli.Flag{
			reasonFlag,
			&cli.BoolFlag{Name: "force", Usage: "also reboot nodes of localdisk (Windows) clusters, which the Windows head normally reboots"},
			jsonFlag,
		}
		return &cli.Command{
			Name:      "reboot",
			Usage:     "reboot Linux nodes over SSH, in parallel",
			ArgsUsage: "RANGE",
			Description: "Each node's outcome (ok, unreachable, auth failed, host key unknown, host key\n" +
				"mismatch, command failed, timeout) is printed and logged; the exit status is 1\n" +
				"if any node failed. Hooks run for pre-reboot (may veto) and post-reboot.",
			Flags: append(flags, rebootFlags...),
			Action: withStore(func(c *cli.Context, st *nodes.Store) error {
				expr, err := oneArg(c, "node range")
				if err != nil {
					return err
				}
				if strings.TrimSpace(expr) == "" {
					return usageError("reboot: empty range; name the nodes (use 'all' to mean every node)")
				}
				ns, err := st.Nodes(c.Context, expr)
				if err != nil {
					return fmt.Errorf("reboot %s: %w", expr, err)
				}
				if len(ns) == 0 {
					return fmt.Errorf("reboot %s: no such nodes", expr)
				}
				return rebootNodes(c, st, ns, c.Bool("force"))
			}),
		}
	})
}

// rebootNodes reboots nodes over SSH and prints a result per node; it
// returns an error naming the nodes that failed. It runs the pre-reboot and
// post-reboot hooks itself, so "reboot" and "move --reboot" both get them.
// The localdisk refusal looks at each node's Cluster as given: "move"
// passes the nodes as they were before the move, which is what they are
// running now (a node leaving Windows is still Windows until it restarts).
func rebootNodes(c *cli.Context, st *nodes.Store, ns []nodes.Node, force bool) error {
	if len(ns) == 0 {
		return nil
	}
	if !force {
		var windows []string
		clusters := map[string]bool{}
		for _, n := range ns {
			cl, p, err := st.BootOf(c.Context, n)
			if err != nil {
				return fmt.Errorf("reboot %s: %w", n.Name, err)
			}
			if p.Kind == nodes.KindLocalDisk {
				windows = append(windows, n.Name)
				clusters[cl.Name] = true
			}
		}
		if len(windows) > 0 {
			var cs []string
			for c := range clusters {
				cs = append(cs, c)
			}
			return usageError("reboot: %s boot the local disk (cluster %s), so the Windows head reboots them "+
				"(Restart-HpcNode -Name %s -Confirm:$false); nothing was rebooted. Pass --force to reboot them over SSH anyway",
				nodes.Compress(windows), strings.Join(cs, ","), strings.Join(windows, ","))
		}
	}
	cfg := reboot.Config{
		User:           c.String("reboot-user"),
		KeyFile:        c.String("reboot-key"),
		KnownHostsFile: c.String("known-hosts"),
		Command:        c.String("reboot-command"),
		Parallel:       c.Int("parallel"),
		Timeout:        c.Duration("reboot-timeout"),
	}
	if cfg.Parallel < 1 {
		return usageError("--parallel %d: want at least 1", cfg.Parallel)
	}
	client, err := reboot.New(cfg)
	if err != nil {
		return fmt.Errorf("reboot %s: nothing was rebooted: %w", nodes.Compress(namesOfNodes(ns)), err)
	}
	names := namesOfNodes(ns)
	h := hookInfo{Event: "pre-reboot", Nodes: names, Reason: c.String("reason")}
	if err := runHooks(c, st, h); err != nil {
		return fmt.Errorf("reboot %s: vetoed, nothing was rebooted: %w", nodes.Compress(names), err)
	}
	port := strconv.Itoa(c.Int("reboot-port"))
	targets := make([]reboot.Target, len(ns))
	for i, n := range ns {
		targets[i] = reboot.Target{Name: n.Name, Addr: net.JoinHostPort(n.IP.String(), port)}
	}
	var progress func(done, total int, r reboot.Result)
	if isTerminal(c.App.ErrWriter) {
		progress = func(done, total int, r reboot.Result) {
			fmt.Fprintf(c.App.ErrWriter, "\rrebooting: %d/%d done, last %s: %s\x1b[K", done, total, r.Node, r.Status)
			if done == total {
				fmt.Fprintln(c.App.ErrWriter)
			}
		}
	}
	results := client.Run(c.Context, targets, progress)
	actor := actorOf(c)
	for _, r := range results {
		if _, err := st.Record(context.WithoutCancel(c.Context), actor, nodes.Event{Action: "reboot", Nodes: []string{r.Node},
			Result: fmt.Sprintf("%s: %s", r.Status, r.Detail)}); err != nil {
			fmt.Fprintf(c.App.ErrWriter, "warning: logbook: %v\n", err)
		}
	}
	if err := printReboot(c, results); err != nil {
		return err
	}
	failed := reboot.Failed(results)
	var ok []string
	for _, r := range results {
		if r.Status == reboot.OK {
			ok = append(ok, r.Node)
		}
	}
	if len(ok) > 0 {
		h.Event, h.Nodes = "post-reboot", ok
		if err := runHooks(c, st, h); err != nil {
			fmt.Fprintf(c.App.ErrWriter, "warning: post-reboot hook: %v\n", err)
		}
	}
	if len(failed) > 0 {
		var parts []string
		for _, r := range failed {
			parts = append(parts, r.Node+" ("+string(r.Status)+")")
		}
		return errors.New("reboot failed for " + strings.Join(parts, ", "))
	}
	return nil
}

type rebootReport struct {
	Results []reboot.Result `json:"results"`
	OK      int             `json:"ok"`
	Failed  int             `json:"failed"`
}

func printReboot(c *cli.Context, rs []reboot.Result) error {
	failed := len(reboot.Failed(rs))
	w := c.App.Writer
	if c.Bool("json") {
		if c.Command.Name == "reboot" {
			return printJSON(c, rebootReport{Results: rs, OK: len(rs) - failed, Failed: failed})
		}
		// "move --reboot --json" already printed its JSON document on
		// stdout; a second one would break ConvertFrom-Json, so the reboot
		// table goes to stderr.
		w = c.App.ErrWriter
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tRESULT\tDETAIL")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Node, r.Addr, r.Status, r.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d rebooted, %d failed\n", len(rs)-failed, failed)
	return nil
}

// isTerminal reports whether w is a character device (a terminal), so the
// progress line is not mixed into a log file or an SSH channel.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
