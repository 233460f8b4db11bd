package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/sshfront"
)

// remote is the SSH front door's allowlist: the commands a key may run, the
// least role each needs, and the flags a key may pass. A command or flag not
// listed here is refused over SSH by name, so a flag added to a command stays
// local to the head node until it is listed. Whatever is not a caller's
// choice (the inventory, hooks, reboot key, reboot command, wake interface)
// is fixed by the daemon and left out.
var remote = map[string]struct {
	role  string
	flags []string
}{
	"status":       {nodes.RoleRead, []string{"json"}},
	"node list":    {nodes.RoleRead, []string{"json"}},
	"node unknown": {nodes.RoleRead, []string{"json"}}, // --clear stays on the head node
	"cluster list": {nodes.RoleRead, []string{"json"}},
	"profile list": {nodes.RoleRead, []string{"json"}},
	"profile show": {nodes.RoleRead, []string{"json"}},
	"subnet list":  {nodes.RoleRead, []string{"json"}},
	"nfsroot list": {nodes.RoleRead, []string{"json"}},
	"log":          {nodes.RoleRead, []string{"since", "action", "limit", "json"}},
	"render":       {nodes.RoleRead, []string{"firmware", "server-ip", "http-port"}},
	"ssh hostkey":  {nodes.RoleRead, []string{"json"}}, // the daemon's own key; --generate and --ssh-host-key stay on the head node
	"ssh-key list": {nodes.RoleRead, []string{"json"}},

	"move":   {nodes.RoleOperate, []string{"to", "reason", "dry-run", "force", "wake", "reboot", "reboot-localdisk", "via", "once", "cancel-once", "json"}},
	"mask":   {nodes.RoleOperate, []string{"reason", "dry-run", "json"}},
	"unmask": {nodes.RoleOperate, []string{"reason", "dry-run", "force", "json"}},
	"reboot": {nodes.RoleOperate, []string{"reason", "force", "via", "json"}},
	// BMC addresses, users and password files are set on the head node
	// only ("node set" is not listed); the BMC timeout and parallelism are
	// the daemon's.
	"power status": {nodes.RoleRead, []string{"json"}},
	"power on":     {nodes.RoleOperate, []string{"reason", "json"}},
	"power off":    {nodes.RoleOperate, []string{"reason", "json"}},
	"power cycle":  {nodes.RoleOperate, []string{"reason", "json"}},
	"power reset":  {nodes.RoleOperate, []string{"reason", "json"}},
}

// sshPolicy derives the front door's policy from the command definitions:
// every flag a command has is known (so one that is not allowed is named in
// the refusal, and a value is skipped as the CLI skips it), and each allowed
// flag must exist.
func sshPolicy() (sshfront.Policy, error) {
	app := NewApp(&Env{})
	p := sshfront.Policy{Commands: map[string]sshfront.Command{}, Global: flagRules(app.Flags, nil, "")}
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			path := strings.TrimSpace(prefix + " " + c.Name)
			walk(path, c.Subcommands)
			if r, ok := remote[path]; ok {
				p.Commands[path] = sshfront.Command{Role: r.role, Flags: flagRules(c.Flags, r.flags, r.role)}
			}
		}
	}
	walk("", app.Commands)
	for path, r := range remote {
		cmd, ok := p.Commands[path]
		if !ok {
			return p, fmt.Errorf("ssh policy: no command %q", path)
		}
		for _, f := range r.flags {
			if _, ok := cmd.Flags[f]; !ok {
				return p, fmt.Errorf("ssh policy: %s has no flag --%s", path, f)
			}
		}
	}
	return p, nil
}

// flagRules lists flags by every name they have; allowed ones get role.
func flagRules(flags []cli.Flag, allowed []string, role string) map[string]sshfront.Flag {
	out := map[string]sshfront.Flag{}
	for _, f := range flags {
		rule := sshfront.Flag{TakesValue: takesValue(flags, "--"+f.Names()[0])}
		for _, a := range allowed {
			if a == f.Names()[0] {
				rule.Role = role
			}
		}
		for _, n := range f.Names() {
			out[n] = rule
		}
	}
	// urfave/cli adds these to every command.
	out["help"], out["h"] = sshfront.Flag{Role: nodes.RoleRead}, sshfront.Flag{Role: nodes.RoleRead}
	return out
}
