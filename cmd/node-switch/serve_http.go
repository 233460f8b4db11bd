package main

import (
	"context"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/httpboot"
	"github.com/node-switch/node-switch/nodes"
)

func init() {
	registerService(service{
		name: "http",
		flags: func() []cli.Flag {
			return []cli.Flag{
				&cli.StringFlag{Name: "http-listen", Value: ":8080", EnvVars: []string{"NODE_SWITCH_HTTP_LISTEN"},
					DefaultText: "port 8080 on the --interface addresses, 127.0.0.1 without",
					Usage:       `HTTP boot address for kernels and initrds of --http profiles (":8080" every address; "" disables HTTP)`},
			}
		},
		start: startHTTP,
	})
}

func startHTTP(ctx context.Context, c *cli.Context, st *nodes.Store, log *slog.Logger) (func() error, error) {
	addrs, err := listenAddrs(c, "http-listen", log)
	if err != nil || addrs == nil {
		return nil, err
	}
	bfs, err := bootFS(c, st, nodes.ChannelHTTP)
	if err != nil {
		return nil, err
	}
	ln, err := listenTCP("http-listen", addrs)
	if err != nil {
		bfs.Root.Close()
		return nil, err
	}
	srv := httpboot.NewServer(&httpboot.Handler{FS: bfs, Log: log}, log)
	for _, a := range listenerAddrs(ln) {
		log.Info("http listening", "addr", a.String(), "boot_root", bfs.Root.Name())
	}
	return func() error {
		defer bfs.Root.Close()
		return runUntil(ctx, func() error { return srv.Serve(ln) }, func() { srv.Close() })
	}, nil
}
