package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

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
					Usage:     "remove a web user (its open sessions end at their next request; its API tokens are revoked)",
					ArgsUsage: "NAME",
					Action:    withStore(webUserRm),
				},
				{
					Name:  "token",
					Usage: "API tokens of a web user, for scripts calling /api/v1/",
					Subcommands: []*cli.Command{
						{
							Name:      "add",
							Usage:     "make an API token, printed once on standard output",
							ArgsUsage: "NAME",
							Description: "The token acts with the role of its web user, as 'Authorization: Bearer TOKEN' on\n" +
								"/api/v1/. It is shown only now: the inventory keeps its SHA-256, so a lost token\n" +
								"is removed (token rm) and made again.",
							Flags: []cli.Flag{
								&cli.StringFlag{Name: "expires", Value: "90d", Usage: "lifetime: days (90d) or a Go duration (12h)"},
								&cli.StringFlag{Name: "comment", Usage: "what uses the token (shown by token list)"},
							},
							Action: withStore(webTokenAdd),
						},
						{
							Name:      "list",
							Usage:     "list a web user's API tokens (ids, never the tokens)",
							ArgsUsage: "NAME",
							Flags:     []cli.Flag{jsonFlag()},
							Action:    withStore(webTokenList),
						},
						{
							Name:      "rm",
							Usage:     "revoke an API token (refused from its next request)",
							ArgsUsage: "NAME ID",
							Action:    withStore(webTokenRm),
						},
					},
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

// parseLifetime reads --expires: whole days ("90d", the unit admins reach
// for) or a Go duration, positive.
func parseLifetime(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 && n <= 100*365 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("--expires %q: want a lifetime such as 90d or 12h", v)
}

// webTokenAdd prints the token alone on standard output (so a script can
// take it: TOKEN=$(node-switch web-user token add ...)) and what it is on
// standard error. The token reaches neither the logbook nor a log.
func webTokenAdd(c *cli.Context, st *nodes.Store) error {
	name, err := oneArg(c, "user name")
	if err != nil {
		return err
	}
	life, err := parseLifetime(c.String("expires"))
	if err != nil {
		return usageError("web-user token add %s: %v", name, err)
	}
	token, hash := web.NewToken()
	ctx, logged := nodes.WatchEvent(c.Context)
	t, err := st.AddWebToken(ctx, actorOf(c), name, hash, c.String("comment"), time.Now().Add(life))
	if err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, token)
	fmt.Fprintf(c.App.ErrWriter, "added API token %s for web user %s, expires %s UTC (logbook #%d); it is shown only this once\n",
		t.ID, t.User, t.ExpiresAt.Format(time.DateTime), logged())
	return nil
}

func webTokenList(c *cli.Context, st *nodes.Store) error {
	name, err := oneArg(c, "user name")
	if err != nil {
		return err
	}
	ts, err := st.WebTokens(c.Context, name)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c, ts)
	}
	now := time.Now()
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tEXPIRES\tCOMMENT")
	for _, t := range ts {
		exp := t.ExpiresAt.Local().Format("2006-01-02 15:04")
		if t.Expired(now) {
			exp += " (expired)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.CreatedAt.Local().Format("2006-01-02"), exp, t.Comment)
	}
	return tw.Flush()
}

func webTokenRm(c *cli.Context, st *nodes.Store) error {
	if c.NArg() != 2 {
		return usageError("%s: want a user name and a token id (see web-user token list NAME), got %d arguments", c.Command.FullName(), c.NArg())
	}
	name, id := c.Args().Get(0), c.Args().Get(1)
	ctx, logged := nodes.WatchEvent(c.Context)
	t, err := st.RemoveWebToken(ctx, actorOf(c), name, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "revoked API token %s of web user %s (logbook #%d)\n", t.ID, t.User, logged())
	return nil
}
