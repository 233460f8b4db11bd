package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
)

// completionFlag is what a shell's completion function appends; urfave/cli
// would run the command's action on some lines that carry it, so Run answers
// it itself and never runs anything.
const completionFlag = "--generate-bash-completion"

// Run runs one command line through a fresh app. Operators write flags after
// the range ("move umu[18-19] --to linux", as in xCAT and Slurm), and global
// flags anywhere ("status --db x.db"), but urfave/cli stops parsing flags at
// the first positional argument and reads global flags only before the
// command, so the line is put in that order first. A flag the command does
// not have is named as unknown rather than taken for part of a range.
func Run(ctx context.Context, env *Env, args []string) error {
	app := NewApp(env)
	if len(args) > 1 && args[len(args)-1] == completionFlag {
		complete(app, args[1:len(args)-1], env.Stdout)
		return nil
	}
	ordered, err := interspersed(app, args)
	if err != nil {
		return err
	}
	err = app.RunContext(ctx, ordered)
	var ec cli.ExitCoder
	if err != nil && !env.started && !errors.As(err, &ec) {
		return cli.Exit(err.Error(), exitUsage)
	}
	return err
}

// parsed is a command line taken apart.
type parsed struct {
	global []string // global flags with their values
	path   []string // command words: "node", "list"
	leaf   *cli.Command
	flags  []string // the leaf's flags with their values
	args   []string // positional arguments
}

func parse(app *cli.App, args []string) (parsed, error) {
	var p parsed
	rest := args
	// Global flags before the command.
	for len(rest) > 0 && strings.HasPrefix(rest[0], "-") && rest[0] != "--" {
		if !isFlag(app.Flags, rest[0]) {
			if isHelpOrVersion(rest[0]) {
				p.global = append(p.global, rest[0])
				rest = rest[1:]
				continue
			}
			return p, usageError("unknown global flag %s; see node-switch --help", rest[0])
		}
		n := 1
		if takesValue(app.Flags, rest[0]) && !strings.Contains(rest[0], "=") && len(rest) > 1 {
			n = 2
		}
		p.global, rest = append(p.global, rest[:n]...), rest[n:]
	}
	cmds := app.Commands
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
		p.path = append(p.path, rest[0])
		rest = rest[1:]
		p.leaf = next
		cmds = next.Subcommands
		if len(cmds) == 0 {
			break
		}
	}
	// "help" where a command word is due asks for that level's help; the
	// app has no help subcommand (see ownHelpFlags).
	if len(rest) > 0 && (rest[0] == "help" || rest[0] == "h") && (p.leaf == nil || len(p.leaf.Subcommands) > 0) {
		if p.leaf == nil {
			p.global = append(p.global, "--help")
		} else {
			p.flags = append(p.flags, "--help")
		}
		return p, nil
	}
	if p.leaf == nil {
		if len(rest) > 0 {
			return p, usageError("unknown command %q; see node-switch --help", rest[0])
		}
		return p, nil
	}
	if p.leaf.SkipFlagParsing {
		p.args = rest
		return p, nil
	}
	if len(p.leaf.Subcommands) > 0 && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		return p, usageError("unknown command %q; see node-switch %s --help", strings.Join(append(p.path, rest[0]), " "), strings.Join(p.path, " "))
	}
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" {
			p.args = append(p.args, rest[j+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			p.args = append(p.args, a)
			continue
		}
		flags, dst := p.leaf.Flags, &p.flags
		if !isFlag(flags, a) && isFlag(app.Flags, a) {
			flags, dst = app.Flags, &p.global
		}
		switch {
		case isFlag(flags, a):
			*dst = append(*dst, a)
			if takesValue(flags, a) && !strings.Contains(a, "=") && j+1 < len(rest) {
				j++
				*dst = append(*dst, rest[j])
			}
		case strings.HasPrefix(a, "--") || len(p.leaf.Subcommands) > 0:
			return p, usageError("%s: unknown flag %s; see node-switch %s --help", strings.Join(p.path, " "), a, strings.Join(p.path, " "))
		default:
			// A single dash and no such flag: a range exclusion (-umu20).
			p.args = append(p.args, a)
		}
	}
	return p, nil
}

func interspersed(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 {
		return args, nil
	}
	p, err := parse(app, args[1:])
	if err != nil {
		return nil, err
	}
	out := append([]string{args[0]}, p.global...)
	out = append(out, p.path...)
	out = append(out, p.flags...)
	if len(p.args) > 0 && p.leaf != nil && !p.leaf.SkipFlagParsing {
		// "--" stops flag parsing, so a range that starts with '-' (an
		// exclusion) is not taken for a flag.
		out = append(out, "--")
	}
	return append(out, p.args...), nil
}

// complete prints the words that may follow a partial command line: the
// subcommands of the command it names, or that command's flags.
func complete(app *cli.App, words []string, w io.Writer) {
	cmds, flags := app.Commands, app.Flags
	for _, word := range words {
		if strings.HasPrefix(word, "-") {
			continue
		}
		for _, c := range cmds {
			if c.HasName(word) {
				cmds, flags = c.Subcommands, c.Flags
				break
			}
		}
	}
	for _, c := range cmds {
		if !c.Hidden {
			fmt.Fprintln(w, c.Name)
		}
	}
	for _, f := range flags {
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		fmt.Fprintln(w, "--"+f.Names()[0])
	}
}

func isHelpOrVersion(arg string) bool {
	switch flagName(arg) {
	case "help", "h", "version", "v":
		return true
	}
	return false
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
