package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/bootprofiles"
	"github.com/node-switch/node-switch/bootprofiles/nfsroot"
	"github.com/node-switch/node-switch/nodes"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "nfsroot",
			Usage: "the catalog of NFS root filesystems diskless nodes boot",
			Subcommands: []*cli.Command{
				{
					Name:      "add",
					Usage:     "add an NFS export as a diskless root",
					ArgsUsage: "NAME",
					Description: "The entry starts unchecked: nodes cannot be moved to a cluster booting it\n" +
						"(without --force) until 'nfsroot check NAME' has passed.",
					Flags: []cli.Flag{
						&cli.StringFlag{Name: "server", Required: true, Usage: "NFS server address or host name, as the nodes reach it"},
						&cli.StringFlag{Name: "export", Required: true, Usage: "exported directory holding the root filesystem"},
						&cli.StringFlag{Name: "kernel", Required: true, Usage: "kernel file under the boot root"},
						&cli.StringFlag{Name: "initrd", Required: true, Usage: "initrd file under the boot root (with NFS root support)"},
						&cli.StringFlag{Name: "kernel-version", Usage: "the root's /lib/modules/VERSION for that kernel (default: from a vmlinuz-VERSION file name)"},
						&cli.StringFlag{Name: "options", Value: bootprofiles.DefaultNFSOptions, Usage: "NFS mount options for nfsroot= (NFSv3 over TCP: the check speaks nothing else)"},
					},
					Action: creatingStore(nfsrootAdd),
				},
				{
					Name:   "list",
					Usage:  "list NFS roots with their last check",
					Flags:  []cli.Flag{jsonFlag()},
					Action: withStore(nfsrootList),
				},
				{
					Name:      "check",
					Usage:     "mount NFS roots and verify they can boot a node; records the result",
					ArgsUsage: "[NAME]",
					Description: "Mounts the export over NFSv3/TCP and checks that /sbin/init exists and is\n" +
						"executable (following symlinks inside the root), /lib/modules/<kernel version>\n" +
						"exists and /etc is readable. Without NAME every entry is checked. Exits non-zero\n" +
						"if any check fails.",
					Flags: []cli.Flag{
						&cli.DurationFlag{Name: "timeout", Value: nfsroot.DefaultTimeout, Usage: "deadline of each network step"},
						jsonFlag(),
					},
					Action: withStore(nfsrootCheck),
				},
				{
					Name:      "rm",
					Usage:     "remove an NFS root no profile uses",
					ArgsUsage: "NAME",
					Action: withStore(func(c *cli.Context, st *nodes.Store) error {
						name, err := oneArg(c, "NFS root name")
						if err != nil {
							return err
						}
						ctx, logged := nodes.WatchEvent(c.Context)
						if err := st.RemoveNFSRoot(ctx, actorOf(c), name); err != nil {
							return err
						}
						fmt.Fprintf(c.App.Writer, "removed NFS root %s (logbook #%d)\n", name, logged())
						return nil
					}),
				},
			},
		}
	})
}

func nfsrootAdd(c *cli.Context, st *nodes.Store) error {
	name, err := oneArg(c, "NFS root name")
	if err != nil {
		return err
	}
	r := nodes.NFSRoot{
		Name: name, Server: c.String("server"), Export: c.String("export"),
		Kernel: c.String("kernel"), Initrd: c.String("initrd"),
		KernelVersion: c.String("kernel-version"), Options: c.String("options"),
	}
	if err := nodes.ValidateNFSRoot(r); err != nil {
		return usageError("nfsroot add %s: %v", name, err)
	}
	ctx, logged := nodes.WatchEvent(c.Context)
	if err := st.AddNFSRoot(ctx, actorOf(c), r); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "added NFS root %s (%s:%s) (logbook #%d); run 'node-switch nfsroot check %s' before moving nodes onto it\n", name, r.Server, r.Export, logged(), name)
	return nil
}

func nfsrootList(c *cli.Context, st *nodes.Store) error {
	rs, err := st.NFSRoots(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if rs == nil {
			rs = []nodes.NFSRoot{}
		}
		return printJSON(c, rs)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tEXPORT\tKERNEL\tINITRD\tCHECKED\tRESULT")
	for _, r := range rs {
		fmt.Fprintf(w, "%s\t%s:%s\t%s\t%s\t%s\t%s\n", r.Name, r.Server, r.Export, r.Kernel, r.Initrd, checkedText(r), checkText(r))
	}
	return w.Flush()
}

func checkedText(r nodes.NFSRoot) string {
	if r.CheckedAt.IsZero() {
		return "never"
	}
	return r.CheckedAt.Local().Format("2006-01-02 15:04")
}

func checkText(r nodes.NFSRoot) string {
	switch {
	case r.CheckedAt.IsZero():
		return "unchecked: run 'nfsroot check " + r.Name + "'"
	case r.CheckOK:
		return "ok"
	default:
		return "FAILED: " + nodes.Escape(r.CheckResult)
	}
}

// checkReport is one entry of "nfsroot check --json".
type checkReport struct {
	Name    string    `json:"name"`
	OK      bool      `json:"ok"`
	Result  string    `json:"result"`
	Checked time.Time `json:"checked_at"`
}

func nfsrootCheck(c *cli.Context, st *nodes.Store) error {
	var rs []nodes.NFSRoot
	switch c.NArg() {
	case 0:
		all, err := st.NFSRoots(c.Context)
		if err != nil {
			return err
		}
		if len(all) == 0 {
			return usageError("nfsroot check: the catalog is empty; add a root with 'nfsroot add'")
		}
		rs = all
	case 1:
		r, err := st.NFSRoot(c.Context, c.Args().First())
		if err != nil {
			return err
		}
		rs = []nodes.NFSRoot{r}
	default:
		return usageError("nfsroot check: want at most one NFS root name, got %d arguments", c.NArg())
	}
	var failed []string
	reports := []checkReport{}
	for _, r := range rs {
		summary, err := nfsroot.Check(c.Context, r, nfsroot.Options{Timeout: c.Duration("timeout")})
		ok := err == nil
		result := summary
		if !ok {
			result = err.Error()
			failed = append(failed, r.Name)
		}
		if c.Context.Err() != nil {
			// An interrupted check says nothing about the root: keep the
			// last recorded result.
			return fmt.Errorf("nfsroot check %s: interrupted", r.Name)
		}
		ctx, logged := nodes.WatchEvent(c.Context)
		if err := st.RecordNFSRootCheck(ctx, actorOf(c), r.Name, ok, result); err != nil {
			return err
		}
		reports = append(reports, checkReport{Name: r.Name, OK: ok, Result: result, Checked: time.Now().UTC()})
		if !c.Bool("json") {
			verdict := "ok"
			if !ok {
				verdict = "FAILED"
			}
			fmt.Fprintf(c.App.Writer, "%s: %s: %s (logbook #%d)\n", r.Name, verdict, result, logged())
		}
	}
	if c.Bool("json") {
		if err := printJSON(c, reports); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("NFS root %s failed its check: nodes cannot be moved onto it until it passes", strings.Join(failed, ", "))
	}
	return nil
}
