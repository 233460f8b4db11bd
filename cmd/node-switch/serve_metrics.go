package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/metrics"
	"github.com/node-switch/node-switch/nodes"
)

// The metrics service serves Prometheus's exposition on /metrics. Like every
// Prometheus exporter it has no authentication: it tells counts, never a
// MAC, name or address; bind it to the management network.
func init() {
	registerService(service{
		name: "metrics",
		flags: func() []cli.Flag {
			return []cli.Flag{
				&cli.StringFlag{Name: "metrics-listen", EnvVars: []string{"NODE_SWITCH_METRICS_LISTEN"},
					Usage: `serve Prometheus metrics on /metrics at this address, e.g. 10.0.0.1:9469 (unauthenticated; "" disables)`},
			}
		},
		start: startMetrics,
	})
}

func metricsMux(st *nodes.Store, log *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(st, log))
	return mux
}

func startMetrics(ctx context.Context, c *cli.Context, st *nodes.Store, log *slog.Logger) (func() error, error) {
	addr := c.String("metrics-listen")
	if addr == "" {
		return nil, nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, usageError("--metrics-listen %s: want HOST:PORT or :PORT, e.g. 10.0.0.1:9469: %v", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           metricsMux(st, log),
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	log.Info("metrics listening", "addr", ln.Addr().String(), "path", "/metrics")
	return func() error {
		return runUntil(ctx, func() error { return srv.Serve(ln) }, func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				srv.Close()
			}
		})
	}, nil
}
