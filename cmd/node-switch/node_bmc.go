package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
)

// bmcFlags for "node add" and "node set". The password is never a flag
// value (it would show in ps and shell history): the flag names a file
// only its owner can read, and the inventory keeps that file's path.
func bmcNodeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "bmc", Usage: "the node's BMC, HOST or HOST:PORT (IPMI lanplus, port 623 by default)"},
		&cli.StringFlag{Name: "bmc-user", Usage: "BMC user name (an administrator)"},
		&cli.StringFlag{Name: "bmc-password-file", Usage: "file holding the BMC password on its first line, mode 0600 (it stays there; the inventory keeps the path)"},
	}
}

// bmcFromFlags returns the BMC the flags give for node, nil when none of
// them is set.
func bmcFromFlags(c *cli.Context, node string) (*nodes.BMC, error) {
	if !c.IsSet("bmc") && !c.IsSet("bmc-user") && !c.IsSet("bmc-password-file") {
		return nil, nil
	}
	if !c.IsSet("bmc") || !c.IsSet("bmc-user") || !c.IsSet("bmc-password-file") {
		return nil, usageError("%s %s: give --bmc, --bmc-user and --bmc-password-file together", c.Command.FullName(), node)
	}
	host, port, err := nodes.ParseBMCAddr(c.String("bmc"))
	if err != nil {
		return nil, usageError("%s %s: --bmc: %v", c.Command.FullName(), node, err)
	}
	pf, err := filepath.Abs(c.String("bmc-password-file"))
	if err != nil {
		return nil, usageError("%s %s: --bmc-password-file: %v", c.Command.FullName(), node, err)
	}
	return &nodes.BMC{Node: node, Host: host, Port: port, User: c.String("bmc-user"), PasswordFile: pf}, nil
}

func nodeBMCCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "set",
			Usage:     "set or remove a node's BMC (power control)",
			ArgsUsage: "NAME",
			Description: "The password file must be readable by its owner only (chmod 600); node-switch\n" +
				"reads it at each power operation and never prints, logs or copies the password.",
			Flags: append(bmcNodeFlags(), reasonFlag(),
				&cli.BoolFlag{Name: "no-bmc", Usage: "forget the node's BMC"}),
			Action: withStore(nodeSet),
		},
		{
			Name:      "bmc-import",
			Usage:     "set many nodes' BMCs from a CSV file: node,host[:port],user,password_file",
			ArgsUsage: "FILE.csv",
			Description: "One line per node; '#' starts a comment; a first line naming the columns is\n" +
				"skipped. All lines are checked (nodes exist, password files 0600 and readable)\n" +
				"and set in one transaction, or none is.",
			Flags:  []cli.Flag{reasonFlag()},
			Action: withStore(nodeBMCImport),
		},
	}
}

func nodeSet(c *cli.Context, st *nodes.Store) error {
	name, err := oneArg(c, "node name")
	if err != nil {
		return err
	}
	b, err := bmcFromFlags(c, name)
	if err != nil {
		return err
	}
	switch {
	case c.Bool("no-bmc") && b != nil:
		return usageError("node set %s: --no-bmc with --bmc: choose one", name)
	case c.Bool("no-bmc"):
		if err := st.RemoveBMC(c.Context, actorOf(c), name, c.String("reason")); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "%s: BMC removed\n", name)
		return nil
	case b == nil:
		return usageError("node set %s: nothing to set: give --bmc HOST[:PORT] --bmc-user USER --bmc-password-file FILE, or --no-bmc", name)
	}
	if err := st.SetBMCs(c.Context, actorOf(c), []nodes.BMC{*b}, c.String("reason")); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "%s: BMC %s@%s\n", name, b.User, b.Addr())
	return nil
}

func nodeBMCImport(c *cli.Context, st *nodes.Store) error {
	path, err := oneArg(c, "CSV file")
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return usageError("node bmc-import: %v", err)
	}
	defer f.Close()
	bs, err := nodes.ReadBMCCSV(f)
	if err != nil {
		return err
	}
	if err := st.SetBMCs(c.Context, actorOf(c), bs, c.String("reason")); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "BMCs set for %d nodes\n", len(bs))
	return nil
}

// bmcAddrs is the BMC column of "node list": host:port, or "-".
func bmcAddrs(c *cli.Context, st *nodes.Store, ns []nodes.Node) (map[string]string, error) {
	bs, err := st.BMCs(c.Context, namesOfNodes(ns))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, n := range ns {
		out[n.Name] = "-"
		if b, ok := bs[n.Name]; ok {
			out[n.Name] = b.Addr()
		}
	}
	return out, nil
}

// listedNode is a node in "node list --json": the node's own JSON plus
// its BMC address when it has one (never user or password).
type listedNode struct {
	nodes.Node
	BMC string
}

// MarshalJSON appends "bmc" to the node's object: nodes.Node has its own
// MarshalJSON, which an embedded field's tags would not reach.
func (l listedNode) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(l.Node)
	if err != nil || l.BMC == "" {
		return b, err
	}
	v, err := json.Marshal(l.BMC)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimRight(b, " \n")
	if len(b) < 2 || b[len(b)-1] != '}' {
		return nil, fmt.Errorf("node %s: JSON is not an object", l.Name)
	}
	sep := ","
	if len(b) == 2 {
		sep = ""
	}
	return append(append(append(b[:len(b)-1], sep+`"bmc":`...), v...), '}'), nil
}
