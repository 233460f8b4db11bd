package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime/pprof"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/bootprofiles/bootfs"
	"github.com/node-switch/node-switch/dhcp"
	"github.com/node-switch/node-switch/nodes"
)

func init() {
	registerService(service{
		name: "dhcp",
		flags: func() []cli.Flag {
			return []cli.Flag{
				&cli.StringSliceFlag{Name: "interface", EnvVars: []string{"NODE_SWITCH_INTERFACE"},
					Usage: "serve DHCP on this interface (repeatable); with none, DHCP is not started: node-switch never answers on an interface nobody named"},
				&cli.StringFlag{Name: "server-ip", EnvVars: []string{"NODE_SWITCH_SERVER_IP"},
					Usage: "this server's address as clients see it (default: the first IPv4 address of the first --interface)"},
				&cli.IntFlag{Name: "dhcp-unknown-max", Value: nodes.DefaultUnknownMax, EnvVars: []string{"NODE_SWITCH_DHCP_UNKNOWN_MAX"},
					Usage: "remember at most this many MACs that asked without a reservation ('node unknown' lists them; they never get an answer); when full, the least recently seen is forgotten; 0 remembers none"},
				&cli.StringFlag{Name: "dhcp-cpuprofile", Hidden: true,
					Usage: "write a Go CPU profile of the whole process to this file until shutdown (for the DHCP benchmark)"},
			}
		},
		start: startDHCP,
	})
}

func startDHCP(ctx context.Context, c *cli.Context, st *nodes.Store, log *slog.Logger) (func() error, error) {
	ifaces := c.StringSlice("interface")
	if len(ifaces) == 0 {
		log.Warn("DHCP not started: no --interface given; name the interfaces that face the nodes (e.g. --interface eth1)")
		return nil, nil
	}
	cfg := dhcp.Config{Interfaces: ifaces, UnknownMax: c.Int("dhcp-unknown-max"),
		Loaders: loaderWatch(c)}
	port, err := bootfs.PortOf(c.String("http-listen"))
	if err != nil {
		return nil, usageError("--http-listen: %v", err)
	}
	cfg.HTTPPort = port
	switch {
	case cfg.UnknownMax < 0:
		return nil, usageError("--dhcp-unknown-max %d: want 0 (remember no unknown MACs) or more", cfg.UnknownMax)
	case cfg.UnknownMax == 0:
		cfg.UnknownMax = -1 // dhcp.Config's "none"
	}
	if s := c.String("server-ip"); s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return nil, usageError("--server-ip %q: want an IPv4 address of one of the --interface interfaces", s)
		}
		cfg.ServerIP = a
	}
	inv, err := dhcp.NewCachedInventory(ctx, st)
	if err != nil {
		return nil, err
	}
	if err := inv.FastCheck(); err != nil {
		log.Warn("DHCP asks SQLite for changes on every request (slower, still correct)", "why", err)
	}
	srv, err := dhcp.NewServer(cfg, inv, st, log)
	if err != nil {
		inv.Close()
		return nil, err
	}
	stopProfile := func() {}
	if path := c.String("dhcp-cpuprofile"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			inv.Close()
			return nil, fmt.Errorf("--dhcp-cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			inv.Close()
			return nil, fmt.Errorf("--dhcp-cpuprofile: %w", err)
		}
		stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
	}
	return func() error {
		defer inv.Close()
		defer stopProfile()
		// Applies each change when it is announced and tells the
		// inventory which generation this server answers from, so a
		// change returns once every server has it (ops).
		fctx, stopFollow := context.WithCancel(ctx)
		followed := make(chan struct{})
		beat := st.JoinServers(nodes.ServerBeatEvery)
		if err := inv.Join(ctx, beat); err != nil {
			// Booting goes on from the snapshot; Follow records the
			// server once the inventory answers.
			log.Warn("dhcp: changes will not wait for this server until it can record itself", "err", err)
		}
		go func() { defer close(followed); inv.Follow(fctx, beat) }()
		defer func() { stopFollow(); <-followed }()
		err := srv.Serve(ctx)
		// Bookkeeping (sightings, unknown MACs, the logbook) must never
		// reread the inventory; the count lets a test or an operator see it.
		log.Info("dhcp inventory cache", "reloads", inv.Reloads())
		return err
	}, nil
}
