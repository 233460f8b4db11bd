package sshfront

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/node-switch/node-switch/nodes"
)

// Policy is what a key may run over SSH: an allowlist of command paths
// ("status", "node list", "move"), each with the least role it needs and
// the flags a key of each role may pass. Nothing else is reachable: a
// command or flag that nobody allowed is refused by name. The CLI derives
// the policy from its own command definitions, so sshfront never imports
// the CLI and a new flag is local-only until someone allows it.
type Policy struct {
	Commands map[string]Command
	// Global are the flags that go before the command (--db, --hooks-dir):
	// never accepted over SSH, wherever they are written.
	Global map[string]Flag
}

// Command is one command path's rule.
type Command struct {
	Role  string          // least role that may run it
	Flags map[string]Flag // every flag the command has, allowed or not
}

// Flag is one flag of a command.
type Flag struct {
	// Role is the least role that may pass the flag over SSH; "" means
	// no key may (the daemon fixes the value: key files, commands).
	Role       string
	TakesValue bool
}

// ErrNotAllowed is wrapped by refusals of the policy (a command, flag or
// role a key may not use), as opposed to a malformed command line.
var ErrNotAllowed = errors.New("not allowed over SSH")

func rank(role string) int {
	switch role {
	case nodes.RoleRead:
		return 1
	case nodes.RoleOperate:
		return 2
	}
	return 0
}

// commandsFor lists the command paths a role may run, for refusals.
func (p Policy) commandsFor(role string) []string {
	var out []string
	for path, c := range p.Commands {
		if rank(role) >= rank(c.Role) {
			out = append(out, path)
		}
	}
	sort.Strings(out)
	return out
}

func notAllowed(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrNotAllowed)
}

// Check vets a split command line for a key's role and returns the command
// path it names. Words that look like flags ("-x", "--x", "--x=v") are
// flags until "--"; a flag takes the next word as its value when the
// command's definition says so, exactly as the CLI reads it. A single-dash
// word that names no flag is a range exclusion ("-umu20"), as in the CLI.
// It is the whole policy of the front door, pure so it can be tested and
// fuzzed; errors wrap ErrNotAllowed when the policy refuses.
func (p Policy) Check(words []string, role string) (string, error) {
	if len(words) == 0 {
		return "", fmt.Errorf("no command given: this is node-switch, not a shell; try 'status --json'")
	}
	if rank(role) == 0 {
		return "", notAllowed("key role %q is not read or operate", role)
	}
	if strings.HasPrefix(words[0], "-") {
		return "", notAllowed("%s: global flags are not accepted over SSH; start with a command such as 'status'", words[0])
	}
	path, rest := "", words[1:]
	if len(words) >= 2 {
		if _, ok := p.Commands[words[0]+" "+words[1]]; ok {
			path, rest = words[0]+" "+words[1], words[2:]
		}
	}
	if path == "" {
		if _, ok := p.Commands[words[0]]; ok {
			path = words[0]
		}
	}
	if path == "" {
		what := words[0]
		if len(words) >= 2 && !strings.HasPrefix(words[1], "-") {
			what += " " + words[1]
		}
		return "", notAllowed("%q is not available over SSH (allowed for this key: %s); other commands are local to the head node",
			what, strings.Join(p.commandsFor(role), ", "))
	}
	cmd := p.Commands[path]
	if rank(role) < rank(cmd.Role) {
		return "", notAllowed("%q needs a key with role %s; this key has role %s", path, cmd.Role, role)
	}
	for i := 0; i < len(rest); i++ {
		w := rest[i]
		if w == "--" {
			break
		}
		if !strings.HasPrefix(w, "-") || w == "-" {
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
		f, known := cmd.Flags[name]
		if _, global := p.Global[name]; global && !known {
			return "", notAllowed("%s is not accepted over SSH: the daemon's inventory and hooks are fixed on the head node", w)
		}
		switch {
		case !known && strings.HasPrefix(w, "--"):
			return "", fmt.Errorf("%s: unknown flag %s", path, w)
		case !known:
			continue // a range exclusion
		case f.Role == "":
			return "", notAllowed("%s %s is not accepted over SSH: the daemon sets it", path, w)
		case rank(role) < rank(f.Role):
			return "", notAllowed("%s %s needs a key with role %s; this key has role %s", path, w, f.Role, role)
		}
		if f.TakesValue && !hasValue {
			i++
		}
	}
	return path, nil
}

// Allowed says whether a role may run a command path. The CLI calls it again
// just before the command runs, so the decision holds even if the CLI reads
// the words differently from Check.
func (p Policy) Allowed(path, role string) error {
	cmd, ok := p.Commands[path]
	if !ok {
		return notAllowed("%q is not available over SSH", path)
	}
	if rank(role) == 0 {
		return notAllowed("key role %q is not read or operate", role)
	}
	if rank(role) < rank(cmd.Role) {
		return notAllowed("%q needs a key with role %s; this key has role %s", path, cmd.Role, role)
	}
	return nil
}
