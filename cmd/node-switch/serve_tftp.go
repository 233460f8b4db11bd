package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/bootprofiles"
	"github.com/node-switch/node-switch/bootprofiles/bootfs"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/tftp"
)

const defaultBootRoot = "/srv/node-switch/boot"

func init() {
	registerService(service{
		name: "tftp",
		flags: func() []cli.Flag {
			return []cli.Flag{
				&cli.StringFlag{Name: "boot-root", Value: defaultBootRoot, EnvVars: []string{"NODE_SWITCH_BOOT_ROOT"},
					Usage: "directory served over TFTP and HTTP (fill it with 'node-switch bootroot init')"},
				&cli.StringFlag{Name: "tftp-listen", Value: ":69", EnvVars: []string{"NODE_SWITCH_TFTP_LISTEN"},
					DefaultText: "port 69 on the --interface addresses, 127.0.0.1 without",
					Usage:       `TFTP address (":69" every address; "" disables TFTP)`},
				&cli.IntFlag{Name: "tftp-cache-mib", Value: tftp.DefaultCacheBudget >> 20, EnvVars: []string{"NODE_SWITCH_TFTP_CACHE_MIB"},
					Usage: "MiB of boot files (loaders, kernels, initrds) kept in memory for every node that fetches them; a file larger than a quarter of it is read from disk per transfer (0: none)"},
				&cli.DurationFlag{Name: "tftp-timeout", Hidden: true,
					Usage: "retransmit timeout before a round trip is measured (0: 200ms); with --tftp-fixed-timeout, every packet's (0: 100ms)"},
				&cli.BoolFlag{Name: "tftp-fixed-timeout", Hidden: true, Usage: "fixed retransmit timer instead of the adaptive one (for comparisons)"},
				&cli.DurationFlag{Name: "tftp-backoff", Hidden: true,
					Usage: "with --tftp-fixed-timeout: fixed pause before a retransmit (0: none, then 100ms doubling to 2s; negative: pin/tftp's random 0-1s)"},
				&cli.IntFlag{Name: "tftp-retries", Hidden: true, Usage: "with --tftp-fixed-timeout: retransmits before a transfer is abandoned (0: 12)"},
				&cli.IntFlag{Name: "tftp-window", Hidden: true, Usage: "largest RFC 7440 windowsize granted (0: 8; 1: refuse the option)"},
				&cli.UintFlag{Name: "tftp-anticipate", Hidden: true, Usage: "blocks sent ahead of acknowledgements (0 = lock-step)"},
				&cli.BoolFlag{Name: "tftp-single-port", Hidden: true, Usage: "serve every transfer from the listening port"},
			}
		},
		start: startTFTP,
	})
}

// bootFS opens --boot-root for one service. TFTP and HTTP each hold their
// own os.Root so either can be disabled without the other; channel names
// the service in the logbook.
func bootFS(c *cli.Context, st *nodes.Store, channel string) (*bootfs.FS, error) {
	dir := c.String("boot-root")
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("boot root %s: %w (create it with 'node-switch bootroot init %s' or pass --boot-root)", dir, err, dir)
	}
	port, err := bootfs.PortOf(c.String("http-listen"))
	if err != nil {
		root.Close()
		return nil, usageError("--http-listen: %v", err)
	}
	return &bootfs.FS{Root: root, Inv: st, HTTPPort: port, Channel: channel, Loaders: loaderWatch(c)}, nil
}

// loaderWatch is the one look into the boot root that the DHCP, TFTP and
// HTTP servers of this serve share.
// serve starts its services one after another, so the first makes it.
func loaderWatch(c *cli.Context) *bootprofiles.LoaderWatch {
	const key = "loader-watch"
	if w, ok := c.App.Metadata[key].(*bootprofiles.LoaderWatch); ok {
		return w
	}
	w := bootprofiles.NewLoaderWatch(os.DirFS(c.String("boot-root")))
	c.App.Metadata[key] = w
	return w
}

func startTFTP(ctx context.Context, c *cli.Context, st *nodes.Store, log *slog.Logger) (func() error, error) {
	addrs, err := listenAddrs(c, "tftp-listen", log)
	if err != nil || addrs == nil {
		return nil, err
	}
	cacheMiB := c.Int("tftp-cache-mib")
	if cacheMiB < 0 {
		return nil, usageError("--tftp-cache-mib %d: want 0 (no cache) or more", cacheMiB)
	}
	// A TFTP server answers on one socket; each address gets its own, all
	// sending from one file cache of --tftp-cache-mib.
	budget := int64(cacheMiB) << 20
	if budget == 0 {
		budget = -1
	}
	cache := tftp.NewFileCache(budget)
	type server struct {
		bfs  *bootfs.FS
		conn net.PacketConn
		srv  *tftp.Server
	}
	var servers []server
	closeAll := func() {
		for _, s := range servers {
			s.bfs.Root.Close()
			s.conn.Close()
		}
	}
	for _, addr := range addrs {
		bfs, err := bootFS(c, st, nodes.ChannelTFTP)
		if err != nil {
			closeAll()
			return nil, err
		}
		conn, err := tftp.Listen(addr)
		if err != nil {
			bfs.Root.Close()
			closeAll()
			return nil, err
		}
		srv := tftp.New(bfs, log, tftp.Options{
			Timeout:      c.Duration("tftp-timeout"),
			FixedTimeout: c.Bool("tftp-fixed-timeout"),
			Retries:      c.Int("tftp-retries"),
			Backoff:      c.Duration("tftp-backoff"),
			Window:       c.Int("tftp-window"),
			Anticipate:   c.Uint("tftp-anticipate"),
			SinglePort:   c.Bool("tftp-single-port"),
			Cache:        cache,
		})
		servers = append(servers, server{bfs, conn, srv})
		log.Info("tftp listening", "addr", conn.LocalAddr().String(), "boot_root", bfs.Root.Name())
	}
	return func() error {
		// The first to end (a failure, or the shutdown) ends the others.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		errs := make(chan error, len(servers))
		for _, s := range servers {
			go func() {
				defer s.bfs.Root.Close()
				errs <- runUntil(ctx, func() error { return s.srv.Serve(s.conn) }, s.srv.Shutdown)
			}()
		}
		first := <-errs
		cancel()
		for range len(servers) - 1 {
			<-errs
		}
		return first
	}, nil
}
