package main

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "cluster",
			Usage: "logical clusters and the profile each boots",
			Subcommands: []*cli.Command{
				{
					Name:      "add",
					Usage:     "add a logical cluster",
					ArgsUsage: "NAME",
					Flags: []cli.Flag{
						&cli.StringFlag{Name: "profile", Required: true, Usage: "boot profile of its nodes"},
						&cli.StringFlag{Name: "description"},
						bootRootFlag(),
						&cli.BoolFlag{Name: "force", Usage: "accept a profile whose kernel or initrd is missing from --boot-root"},
					},
					Action: creatingStore(func(c *cli.Context, st *nodes.Store) error {
						name, err := oneArg(c, "cluster name")
						if err != nil {
							return err
						}
						warning, err := vetClusterProfile(c, st, c.String("profile"))
						if err != nil {
							return fmt.Errorf("add cluster %s: %w", name, err)
						}
						ctx, logged := nodes.WatchEvent(c.Context)
						if err := st.AddCluster(ctx, actorOf(c), nodes.Cluster{Name: name, Profile: c.String("profile"), Description: c.String("description")}); err != nil {
							return err
						}
						warn(c, warning)
						fmt.Fprintf(c.App.Writer, "added cluster %s booting profile %s (logbook #%d)\n", name, c.String("profile"), logged())
						return nil
					}),
				},
				{
					Name:      "set",
					Usage:     "point a cluster at another profile (its nodes boot it from their next boot)",
					ArgsUsage: "NAME",
					Flags: []cli.Flag{
						&cli.StringFlag{Name: "profile", Required: true},
						reasonFlag(),
						bootRootFlag(),
						&cli.BoolFlag{Name: "force", Usage: "accept a profile whose kernel or initrd is missing from --boot-root, or whose NFS root has not passed its check"},
					},
					Action: withStore(func(c *cli.Context, st *nodes.Store) error {
						name, err := oneArg(c, "cluster name")
						if err != nil {
							return err
						}
						warning, err := vetClusterProfile(c, st, c.String("profile"))
						if err != nil {
							return fmt.Errorf("cluster %s: set profile %s: %w", name, c.String("profile"), err)
						}
						ctx, logged := nodes.WatchEvent(c.Context)
						if err := st.WithForce(c.Bool("force")).SetClusterProfile(ctx, actorOf(c), name, c.String("profile"), c.String("reason")); err != nil {
							return err
						}
						warn(c, warning)
						fmt.Fprintf(c.App.Writer, "cluster %s now boots profile %s (logbook #%d)\n", name, c.String("profile"), logged())
						return nil
					}),
				},
				{
					Name:  "list",
					Usage: "list clusters",
					Flags: []cli.Flag{jsonFlag()},
					Action: withStore(func(c *cli.Context, st *nodes.Store) error {
						cs, err := st.Clusters(c.Context)
						if err != nil {
							return err
						}
						ps, err := st.Profiles(c.Context)
						if err != nil {
							return err
						}
						kinds := map[string]nodes.ProfileKind{}
						for _, p := range ps {
							kinds[p.Name] = p.Kind
						}
						all, err := st.Nodes(c.Context, "")
						if err != nil {
							return err
						}
						count := map[string]int{}
						for _, n := range all {
							count[n.Cluster]++
						}
						type row struct {
							nodes.Cluster
							Kind  nodes.ProfileKind `json:"kind"`
							Nodes int               `json:"nodes"`
						}
						rows := make([]row, 0, len(cs))
						for _, cl := range cs {
							rows = append(rows, row{Cluster: cl, Kind: kinds[cl.Profile], Nodes: count[cl.Name]})
						}
						if c.Bool("json") {
							return printJSON(c, rows)
						}
						w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
						fmt.Fprintln(w, "CLUSTER\tPROFILE\tKIND\tNODES\tDESCRIPTION")
						for _, r := range rows {
							fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", r.Name, r.Profile, r.Kind, r.Nodes, nodes.Escape(r.Description))
						}
						return w.Flush()
					}),
				},
				{
					Name:      "rm",
					Usage:     "remove an empty cluster",
					ArgsUsage: "NAME",
					Action: withStore(func(c *cli.Context, st *nodes.Store) error {
						name, err := oneArg(c, "cluster name")
						if err != nil {
							return err
						}
						ctx, logged := nodes.WatchEvent(c.Context)
						if err := st.RemoveCluster(ctx, actorOf(c), name); err != nil {
							return err
						}
						fmt.Fprintf(c.App.Writer, "removed cluster %s (logbook #%d)\n", name, logged())
						return nil
					}),
				},
			},
		}
	})
}

// vetClusterProfile checks the profile a cluster is pointed at as profile
// add/set would: one stored before those checks existed (or whose kernel
// has since gone) must not reach nodes either. An unknown profile is left
// to the store, which names it.
func vetClusterProfile(c *cli.Context, st *nodes.Store, profile string) (warning string, err error) {
	p, err := st.Profile(c.Context, profile)
	if errors.Is(err, nodes.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return vetProfile(c, p)
}
