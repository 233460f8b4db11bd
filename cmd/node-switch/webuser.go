package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/web"
)

// Web users are managed on the head node only: none of these commands is
// in the SSH allowlist (remote.go).
func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "web-user",
			Usage: "local accounts of the web console (node-switch serve --web-listen)",
			Subcommands: []*cli.Command{
				{
					Name:      "add",
					Usage:     "add a web user with a role and a password read from a file",
					ArgsUsage: "NAME",
					Description: "Role read sees the map, nodes, logbook, NFS roots and SSH keys and may use the\n" +
						"JSON API; role operate may also move, mask, unmask and reboot. The password\n" +
						"(first line of --password-file, - for standard input) is stored as an argon2id hash.",
					Flags: []cli.Flag{
						&cli.StringFlag{Name: "role", Required: true, Usage: "read or operate"},
						&cli.StringFlag{Name: "password-file", Required: true, Usage: "file whose first line is the password (- for standard input)"},
						jsonFlag(),
					},
					Action: creatingStore(webUserAdd),
				},
				{
					Name:   "list",
					Usage:  "list web users",
					Flags:  []cli.Flag{jsonFlag()},
					Action: withStore(webUserList),
				},
				{
					Name:      "rm",
					Usage:     "remove a web user (its open sessions end at their next request)",
					ArgsUsage: "NAME",
					Action:    withStore(webUserRm),
				},
			},
		}
	})
}

func webUserAdd(c *cli.Context, st *nodes.Store) error {
	name, err := oneArg(c, "user name")
	if err != nil {
		return err
	}
	if err := nodes.CheckWebUserName(name); err != nil {
		return usageError("web-user add: %v", err)
	}
	role, err := nodes.ParseRole(c.String("role"))
	if err != nil {
		return usageError("web-user add %s: %v", name, err)
	}
	file := c.String("password-file")
	var data []byte
	if file == "-" {
		data, err = io.ReadAll(io.LimitReader(envOf(c).Stdin, 4<<10))
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return usageError("web-user add %s: --password-file: %v", name, err)
	}
	password, _, _ := strings.Cut(string(data), "\n")
	password = strings.TrimSuffix(password, "\r")
	hash, err := web.HashPassword(password)
	if err != nil {
		return usageError("web-user add %s: %s: %v", name, file, err)
	}
	ctx, logged := nodes.WatchEvent(c.Context)
	u, err := st.AddWebUser(ctx, actorOf(c), name, role, hash)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c, u)
	}
	fmt.Fprintf(c.App.Writer, "added web user %s role %s (logbook #%d)\n", u.Name, u.Role, logged())
	return nil
}

func webUserList(c *cli.Context, st *nodes.Store) error {
	us, err := st.WebUsers(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c, us)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tADDED")
	for _, u := range us {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, u.Role, u.AddedAt.Format("2006-01-02"))
	}
	return tw.Flush()
}

func webUserRm(c *cli.Context, st *nodes.Store) error {
	name, err := oneArg(c, "user name")
	if err != nil {
		return err
	}
	ctx, logged := nodes.WatchEvent(c.Context)
	u, err := st.RemoveWebUser(ctx, actorOf(c), name)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "removed web user %s role %s (logbook #%d)\n", u.Name, u.Role, logged())
	return nil
}
