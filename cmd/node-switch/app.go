package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/ops"
	"github.com/node-switch/node-switch/reboot"
)

// Env is what one run of the app talks to. The local CLI fills it from the
// process; the SSH front door fills it from the session, so a command from
// the Windows head runs the very same code with the key as the actor.
type Env struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	Actor          nodes.Actor
	// Store, when set, is used instead of opening --db (the daemon shares
	// its own with SSH sessions).
	Store *nodes.Store
	// Ops, when set, runs the operations with the daemon's settings (hooks
	// directory, reboot key) instead of ones built from this run's flags:
	// an SSH caller cannot choose them.
	Ops *ops.Ops
	// Allow, when set, vets each command before it runs by its full path
	// ("node list", "move"); the SSH front door enforces key roles here.
	Allow func(path string) error

	// started is set when a command's action begins: an error before that
	// is urfave/cli's refusal of the command line (a missing required flag,
	// a malformed value), which is bad usage.
	started bool
}

// registry holds constructors, not commands: urfave/cli keeps parsed flag
// values inside Command values, so every run (and every concurrent SSH
// session) needs fresh ones.
var registry []func() *cli.Command

func register(f func() *cli.Command) { registry = append(registry, f) }

const envKey = "env"

// NewApp builds the CLI for one run. Run command lines through Run (args.go),
// which also lets flags follow the range as operators type them.
func NewApp(env *Env) *cli.App {
	var cmds []*cli.Command
	for _, f := range registry {
		cmds = append(cmds, f())
	}
	cmds = append(cmds, completionCommand())
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	if env.Allow != nil {
		wrapAllow(cmds, "", env.Allow)
	}
	markStart(cmds, env)
	hideLeafHelpCommand(cmds)
	ownHelpFlags(cmds)
	app := &cli.App{
		Name:                 "node-switch",
		Usage:                "run one physical cluster as several logical ones, moving nodes by network boot",
		Writer:               env.Stdout,
		ErrWriter:            env.Stderr,
		Reader:               env.Stdin,
		Commands:             cmds,
		EnableBashCompletion: true,
		Version:              Version,
		Metadata:             map[string]any{envKey: env},
		Flags:                append(globalFlags(), newHelpFlag(), &cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version", DisableDefaultText: true}),
		HideHelp:             true,
		HideVersion:          true,
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				cli.ShowVersion(c)
				return nil
			}
			return cli.ShowAppHelp(c)
		},
		Before: func(c *cli.Context) error {
			if ch := c.String("channel"); ch != nodes.ChannelCLI && ch != nodes.ChannelTimer {
				return usageError("--channel / NODE_SWITCH_CHANNEL %q: want cli or timer", ch)
			}
			return nil
		},
		// Errors are printed once, by the caller, with the exit status.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	return app
}

// hideLeafHelpCommand stops urfave/cli from giving every command a "help"
// subcommand (alias "h"): on a command that takes a range or a name, that
// made "move help --to linux" or "ssh-key rm h" print help and exit 0 with
// nothing done. --help still shows a command's help.
func hideLeafHelpCommand(cmds []*cli.Command) {
	for _, c := range cmds {
		if len(c.Subcommands) == 0 {
			c.HideHelpCommand = true
		}
		hideLeafHelpCommand(c.Subcommands)
	}
}

// ownHelpFlags gives every command a --help flag of its own. urfave/cli's
// HelpFlag and VersionFlag are package-level values the library writes into
// on every parse, so two SSH sessions parsing at once raced on them;
// HideHelp keeps the library from adding the shared one, and it still finds
// ours by name.
func ownHelpFlags(cmds []*cli.Command) {
	for _, c := range cmds {
		c.HideHelp = true
		c.Flags = append(c.Flags, newHelpFlag())
		ownHelpFlags(c.Subcommands)
	}
}

func newHelpFlag() cli.Flag {
	return &cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help", DisableDefaultText: true}
}

// Version is set at build time (-ldflags "-X main.Version=...").
var Version = "dev"

// globalFlags go before the command, or anywhere on the line: Run moves
// them in front.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "db", Value: nodes.DefaultPath, EnvVars: []string{"NODE_SWITCH_DB"}, Usage: "inventory file, or a postgres:// URL for a PostgreSQL inventory shared by several servers"},
		&cli.StringFlag{Name: "hooks-dir", Value: "/etc/node-switch/hooks.d", EnvVars: []string{"NODE_SWITCH_HOOKS_DIR"},
			Usage: "executables run in name order before and after each change"},
		&cli.StringFlag{Name: "channel", Value: nodes.ChannelCLI, EnvVars: []string{"NODE_SWITCH_CHANNEL"}, Hidden: true,
			Usage: "how the logbook records this run (cli, timer); systemd timers set timer"},
	}
}

func wrapAllow(cmds []*cli.Command, prefix string, allow func(string) error) {
	for _, cmd := range cmds {
		path := strings.TrimSpace(prefix + " " + cmd.Name)
		if len(cmd.Subcommands) > 0 {
			wrapAllow(cmd.Subcommands, path, allow)
		}
		if cmd.Action == nil {
			continue
		}
		action := cmd.Action
		cmd.Action = func(c *cli.Context) error {
			if err := allow(path); err != nil {
				return cli.Exit(err.Error(), exitRefused)
			}
			return action(c)
		}
	}
}

func markStart(cmds []*cli.Command, env *Env) {
	for _, cmd := range cmds {
		markStart(cmd.Subcommands, env)
		if action := cmd.Action; action != nil {
			cmd.Action = func(c *cli.Context) error {
				env.started = true
				return action(c)
			}
		}
	}
}

// envOf returns the Env of the run c belongs to.
func envOf(c *cli.Context) *Env {
	return c.App.Metadata[envKey].(*Env)
}

// actorOf is who this run acts as. A systemd timer says so through
// NODE_SWITCH_CHANNEL=timer and names itself in NODE_SWITCH_ACTOR, so the
// logbook shows "node-switch-lab-night.timer" rather than "root".
func actorOf(c *cli.Context) nodes.Actor {
	a := envOf(c).Actor
	if a.Channel == nodes.ChannelCLI && c.String("channel") == nodes.ChannelTimer {
		a.Channel = nodes.ChannelTimer
		if name := os.Getenv("NODE_SWITCH_ACTOR"); name != "" {
			a.Name = name
		}
	}
	return a
}

// localActor identifies the operator at the head node's shell: the user
// behind sudo if any, and the SSH client address when logged in remotely.
func localActor() nodes.Actor {
	name := os.Getenv("SUDO_USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		} else {
			name = fmt.Sprintf("uid %d", os.Getuid())
		}
	}
	from := "local"
	if sc := os.Getenv("SSH_CLIENT"); sc != "" {
		from = strings.Fields(sc)[0]
	}
	return nodes.Actor{Name: name, Channel: nodes.ChannelCLI, From: from}
}

// openStore opens the inventory named by --db, or returns the daemon's.
// Only commands that add to an inventory may create one: a mistyped --db
// must not show an empty inventory as if it were the site's. The returned
// func closes what this call opened.
func openStore(c *cli.Context, create bool) (*nodes.Store, func(), error) {
	if st := envOf(c).Store; st != nil {
		return st, func() {}, nil
	}
	path := c.String("db")
	// A PostgreSQL database must exist already (the connection says so if
	// it does not): only a file can be created by mistake.
	if _, err := os.Stat(path); !nodes.IsPostgres(path) && errors.Is(err, os.ErrNotExist) && !create {
		return nil, nil, usageError("inventory %s does not exist: check --db / NODE_SWITCH_DB, or create it with 'node-switch import dhcpd' or 'node-switch node add'", path)
	}
	st, err := nodes.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return st, func() { st.Close() }, nil
}

// withStore runs fn with an existing inventory open.
func withStore(fn func(c *cli.Context, st *nodes.Store) error) cli.ActionFunc {
	return storeAction(false, fn)
}

// creatingStore runs fn with the inventory open, creating it if need be:
// for the commands that put the first things in one.
func creatingStore(fn func(c *cli.Context, st *nodes.Store) error) cli.ActionFunc {
	return storeAction(true, fn)
}

func storeAction(create bool, fn func(c *cli.Context, st *nodes.Store) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		st, done, err := openStore(c, create)
		if err != nil {
			return err
		}
		defer done()
		return fn(c, st)
	}
}

// withOps runs fn with the operations layer: the daemon's for SSH sessions,
// else one with this run's hooks directory and reboot and wake settings.
func withOps(fn func(c *cli.Context, o *ops.Ops) error) cli.ActionFunc {
	return withStore(func(c *cli.Context, st *nodes.Store) error {
		o := envOf(c).Ops
		if o == nil {
			s, err := opsSettings(c)
			if err != nil {
				return err
			}
			if o, err = ops.New(st, s); err != nil {
				return err
			}
		}
		return fn(c, o)
	})
}

// opsSettings reads the operations' settings from a run's flags: the global
// --hooks-dir, and the reboot and wake flags where the command has them.
func opsSettings(c *cli.Context) (ops.Settings, error) {
	s := ops.Settings{HooksDir: c.String("hooks-dir"), BootRoot: c.String("boot-root")}
	if v := os.Getenv("NODE_SWITCH_HOOK_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, usageError("NODE_SWITCH_HOOK_TIMEOUT=%q: want a duration such as 2m", v)
		}
		s.HookTimeout = d
	}
	s.Reboot = ops.RebootSettings{
		Config: reboot.Config{
			User:           c.String("reboot-user"),
			KeyFile:        c.String("reboot-key"),
			KnownHostsFile: c.String("known-hosts"),
			Command:        c.String("reboot-command"),
			Parallel:       c.Int("parallel"),
			Timeout:        c.Duration("reboot-timeout"),
		},
		Port: c.Int("reboot-port"),
	}
	if c.IsSet("parallel") && s.Reboot.Parallel < 1 {
		return s, usageError("--parallel %d: want at least 1", s.Reboot.Parallel)
	}
	s.Wake = ops.WakeSettings{Interface: c.String("wake-interface"), Port: c.Int("wake-port")}
	var err error
	s.Power, err = powerSettings(c)
	return s, err
}

func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print JSON (stable field names, for scripts and PowerShell's ConvertFrom-Json)"}
}

func printJSON(c *cli.Context, v any) error {
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Exit statuses, the same for every command and for the SSH front door.
const (
	exitOK      = 0
	exitFailed  = 1 // it ran and failed; nothing changed unless the message says so
	exitUsage   = 2 // bad usage or input; nothing changed
	exitRefused = 3 // refused by the SSH front door's policy
)

// usageError is a mistake in what the operator typed: exit status 2.
func usageError(format string, args ...any) error {
	return cli.Exit(fmt.Sprintf(format, args...), exitUsage)
}

// oneArg returns the single positional argument a command takes.
func oneArg(c *cli.Context, what string) (string, error) {
	if c.NArg() != 1 {
		return "", usageError("%s: want exactly one %s, got %d arguments", c.Command.FullName(), what, c.NArg())
	}
	return c.Args().First(), nil
}
