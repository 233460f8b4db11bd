package sshfront

import (
	"fmt"
	"sort"
	"strings"

	"github.com/node-switch/node-switch/nodes"
)

// vocabulary is every command path a key may run over SSH and the least
// role it needs. Anything else (serve, import, node add, ssh-key add ...)
// is local-only: it changes what the daemon trusts or where it reads from,
// which must take a shell on the head node.
var vocabulary = map[string]string{
	"status":       nodes.RoleRead,
	"node list":    nodes.RoleRead,
	"cluster list": nodes.RoleRead,
	"profile list": nodes.RoleRead,
	"profile show": nodes.RoleRead,
	"subnet list":  nodes.RoleRead,
	"nfsroot list": nodes.RoleRead,
	"log":          nodes.RoleRead,
	"render":       nodes.RoleRead,
	"ssh hostkey":  nodes.RoleRead,
	"ssh-key list": nodes.RoleRead,

	"move":     nodes.RoleOperate,
	"mask":     nodes.RoleOperate,
	"unmask":   nodes.RoleOperate,
	"reboot":   nodes.RoleOperate,
	"power on": nodes.RoleOperate,
}

// refusedFlags would let a key point the daemon at another inventory, hook
// directory or key file, forge the logbook channel, or turn "reboot" into
// "run this as root on every node"; urfave/cli accepts flags with one or two
// dashes and with "=value", so they are matched by bare name. Their values
// come from the daemon's environment (NODE_SWITCH_REBOOT_COMMAND ...).
var refusedFlags = map[string]bool{
	"db": true, "hooks-dir": true, "channel": true, "ssh-host-key": true,
	"reboot-key": true, "known-hosts": true, "reboot-command": true, "reboot-user": true, "reboot-port": true,
}

func rank(role string) int {
	switch role {
	case nodes.RoleRead:
		return 1
	case nodes.RoleOperate:
		return 2
	}
	return 0
}

// Commands lists the vocabulary for a role, for help texts and refusals.
func Commands(role string) []string {
	var out []string
	for p, need := range vocabulary {
		if rank(role) >= rank(need) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// Check vets a split command line for a key's role and returns the command
// path it names ("node list", "move"). It is the whole policy of the front
// door, kept pure so it can be tested and fuzzed.
func Check(words []string, role string) (string, error) {
	if len(words) == 0 {
		return "", fmt.Errorf("no command given: this is node-switch, not a shell; try 'status --json'")
	}
	if strings.HasPrefix(words[0], "-") {
		return "", fmt.Errorf("%s: global flags are not accepted over SSH; start with a command such as 'status'", words[0])
	}
	path := ""
	if len(words) >= 2 {
		if _, ok := vocabulary[words[0]+" "+words[1]]; ok {
			path = words[0] + " " + words[1]
		}
	}
	if path == "" {
		if _, ok := vocabulary[words[0]]; ok {
			path = words[0]
		}
	}
	if path == "" {
		what := words[0]
		if len(words) >= 2 && !strings.HasPrefix(words[1], "-") {
			what += " " + words[1]
		}
		return "", fmt.Errorf("%q is not available over SSH (allowed for this key: %s); other commands are local to the head node",
			what, strings.Join(Commands(role), ", "))
	}
	for _, w := range words[1:] {
		if !strings.HasPrefix(w, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if refusedFlags[name] {
			return "", fmt.Errorf("%s is not accepted over SSH: the daemon's inventory and hooks are fixed on the head node", w)
		}
	}
	if err := Allowed(path, role); err != nil {
		return "", err
	}
	return path, nil
}

// Allowed says whether a role may run a command path. The CLI app calls it
// again just before the command runs (Env.Allow), so the decision holds even
// if urfave/cli reads the words differently from Check.
func Allowed(path, role string) error {
	need, ok := vocabulary[path]
	if !ok {
		return fmt.Errorf("%q is not available over SSH", path)
	}
	if rank(role) == 0 {
		return fmt.Errorf("key role %q is not read or operate", role)
	}
	if rank(role) < rank(need) {
		return fmt.Errorf("%q needs a key with role %s; this key has role %s", path, need, role)
	}
	return nil
}
