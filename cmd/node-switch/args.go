package main

import (
	"context"
	"strings"

	"github.com/urfave/cli/v2"
)

// Run runs one command line through a fresh app. Operators write flags after
// the range ("move umu[18-19] --to linux", as in xCAT and Slurm), but
// urfave/cli stops parsing flags at the first positional argument, so the
// leaf command's flags are moved in front of its arguments first.
func Run(ctx context.Context, env *Env, args []string) error {
	app := NewApp(env)
	return app.RunContext(ctx, interspersed(app, args))
}

func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]
	// Global flags come before the command; keep them as they are.
	i := 0
	for i < len(rest) && strings.HasPrefix(rest[i], "-") && rest[i] != "--" {
		if takesValue(app.Flags, rest[i]) && !strings.Contains(rest[i], "=") && i+1 < len(rest) {
			i++
		}
		i++
	}
	out = append(out, rest[:i]...)
	rest = rest[i:]
	cmds := app.Commands
	var leaf *cli.Command
	for len(rest) > 0 {
		var next *cli.Command
		for _, c := range cmds {
			if c.HasName(rest[0]) {
				next = c
			}
		}
		if next == nil {
			break
		}
		out = append(out, rest[0])
		rest = rest[1:]
		leaf = next
		cmds = next.Subcommands
		if len(cmds) == 0 {
			break
		}
	}
	if leaf == nil || leaf.SkipFlagParsing {
		return append(out, rest...)
	}
	var flags, positional []string
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" {
			positional = append(positional, rest[j:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 && isFlag(leaf.Flags, a) {
			flags = append(flags, a)
			if takesValue(leaf.Flags, a) && !strings.Contains(a, "=") && j+1 < len(rest) {
				j++
				flags = append(flags, rest[j])
			}
			continue
		}
		positional = append(positional, a)
	}
	out = append(out, flags...)
	if len(positional) > 0 && positional[0] != "--" {
		// "--" stops flag parsing, so a range that starts with '-' (an
		// exclusion) is not taken for a flag.
		out = append(out, "--")
	}
	return append(out, positional...)
}

func flagName(arg string) string {
	name := strings.TrimLeft(arg, "-")
	name, _, _ = strings.Cut(name, "=")
	return name
}

func findFlag(flags []cli.Flag, arg string) cli.Flag {
	name := flagName(arg)
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	if name == "help" || name == "h" {
		return &cli.BoolFlag{Name: "help"}
	}
	return nil
}

func isFlag(flags []cli.Flag, arg string) bool { return findFlag(flags, arg) != nil }

func takesValue(flags []cli.Flag, arg string) bool {
	f := findFlag(flags, arg)
	if f == nil {
		return false
	}
	if dv, ok := f.(cli.DocGenerationFlag); ok {
		return dv.TakesValue()
	}
	return true
}
