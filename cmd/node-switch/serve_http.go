package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/httpboot"
	"github.com/node-switch/node-switch/nodes"
)

func init() {
	registerService(service{
		name: "http",
		flags: []cli.Flag{
			&cli.StringFlag{Name: "http-listen", Value: ":8080", EnvVars: []string{"NODE_SWITCH_HTTP_LISTEN"},
				Usage: `HTTP boot address for kernels and initrds of --http profiles ("" disables HTTP)`},
		},
		start: startHTTP,
	})
}

func startHTTP(ctx context.Context, c *cli.Context, st *nodes.Store, log *slog.Logger) (func() error, error) {
	addr := c.String("http-listen")
	if addr == "" {
		return nil, nil
	}
	bfs, err := bootFS(c, st, nodes.ChannelHTTP)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		bfs.Root.Close()
		return nil, fmt.Errorf("http listen %s: %w", addr, err)
	}
	srv := httpboot.NewServer(&httpboot.Handler{FS: bfs, Log: log}, log)
	log.Info("http listening", "addr", ln.Addr().String(), "boot_root", bfs.Root.Name())
	return func() error {
		defer bfs.Root.Close()
		return runUntil(ctx, func() error { return srv.Serve(ln) }, func() { srv.Close() })
	}, nil
}
