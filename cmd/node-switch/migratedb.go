package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
)

// migrate-db runs on the head node only: it is not in the SSH allowlist
// (remote.go), and it ignores --db (it names both ends itself).
func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "migrate-db",
			Usage: "copy a SQLite inventory, logbook included, into a PostgreSQL database and verify the copy",
			Description: "Copies every table of --from into --to in one transaction and verifies it (per\n" +
				"table, row count and a SHA-256 of the contents must match the source) before\n" +
				"committing; the source is locked for writes meanwhile. A target holding any row\n" +
				"is refused unless --force, which replaces its contents. Stop 'serve' on the old\n" +
				"inventory first, then point every server at --to.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "from", Required: true, Usage: "the SQLite inventory file to copy"},
				&cli.StringFlag{Name: "to", Required: true, Usage: "the target: postgres://USER@HOST/DB?... (the database must exist)"},
				&cli.BoolFlag{Name: "force", Usage: "replace the contents of a target that is not empty"},
				jsonFlag(),
			},
			Action: migrateDB,
		}
	})
}

func migrateDB(c *cli.Context) error {
	from, to := c.String("from"), c.String("to")
	if nodes.IsPostgres(from) {
		return usageError("--from %s: want the SQLite inventory file (copying between PostgreSQL databases is pg_dump's job)", nodes.Redact(from))
	}
	if _, err := os.Stat(from); err != nil {
		return usageError("--from %s: %v", from, err)
	}
	if !nodes.IsPostgres(to) {
		return usageError("--to %s: want a postgres:// URL", to)
	}
	src, err := nodes.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := nodes.Open(to)
	if err != nil {
		return err
	}
	defer dst.Close()
	rep, err := nodes.CopyInventory(c.Context, actorOf(c), src, dst, c.Bool("force"))
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c, rep)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "TABLE\tROWS\tSHA256\n")
	for _, tc := range rep.Tables {
		fmt.Fprintf(w, "%s\t%d\t%s\n", tc.Table, tc.Rows, tc.SHA256)
	}
	w.Flush()
	fmt.Fprintf(c.App.Writer, "copied %s to %s and verified every table; logbook #%d records it\n", rep.From, rep.To, rep.Event)
	return nil
}
