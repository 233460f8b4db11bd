package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
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
	// Allow, when set, vets each command before it runs by its full path
	// ("node list", "move"); the SSH front door enforces key roles here.
	Allow func(path string) error
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
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	if env.Allow != nil {
		wrapAllow(cmds, "", env.Allow)
	}
	app := &cli.App{
		Name:                 "node-switch",
		Usage:                "run one physical cluster as several logical ones, moving nodes by network boot",
		Writer:               env.Stdout,
		ErrWriter:            env.Stderr,
		Reader:               env.Stdin,
		Commands:             cmds,
		EnableBashCompletion: true,
		HideVersion:          true,
		Metadata:             map[string]any{envKey: env},
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "db", Value: nodes.DefaultPath, EnvVars: []string{"NODE_SWITCH_DB"}, Usage: "inventory file"},
			&cli.StringFlag{Name: "hooks-dir", Value: "/etc/node-switch/hooks.d", EnvVars: []string{"NODE_SWITCH_HOOKS_DIR"},
				Usage: "executables run in name order before and after each change"},
			&cli.StringFlag{Name: "channel", Value: nodes.ChannelCLI, EnvVars: []string{"NODE_SWITCH_CHANNEL"}, Hidden: true,
				Usage: "how the logbook records this run (cli, timer); systemd timers set timer"},
		},
		// Errors are printed once, by the caller, with the exit status.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	return app
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
				return cli.Exit(err.Error(), 3)
			}
			return action(c)
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
// The returned func closes what this call opened.
func openStore(c *cli.Context) (*nodes.Store, func(), error) {
	if st := envOf(c).Store; st != nil {
		return st, func() {}, nil
	}
	st, err := nodes.Open(c.String("db"))
	if err != nil {
		return nil, nil, err
	}
	return st, func() { st.Close() }, nil
}

// withStore runs fn with the inventory open.
func withStore(fn func(c *cli.Context, st *nodes.Store) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		st, done, err := openStore(c)
		if err != nil {
			return err
		}
		defer done()
		return fn(c, st)
	}
}

var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print JSON (stable field names, for scripts and PowerShell's ConvertFrom-Json)"}

func printJSON(c *cli.Context, v any) error {
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// usageError is a mistake in what the operator typed: exit status 2.
func usageError(format string, args ...any) error {
	return cli.Exit(fmt.Sprintf(format, args...), 2)
}

// oneArg returns the single positional argument a command takes.
func oneArg(c *cli.Context, what string) (string, error) {
	if c.NArg() != 1 {
		return "", usageError("%s: want exactly one %s, got %d arguments", c.Command.FullName(), what, c.NArg())
	}
	return c.Args().First(), nil
}
