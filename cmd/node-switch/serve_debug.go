package main

import (
	"bufio"
	"context"
	"expvar"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
)

// The debug service serves Go's expvar (/debug/vars) and net/http/pprof
// (/debug/pprof/) for benchmarks and diagnosis, on loopback only: the
// profiling endpoints must never be reachable from the cluster network.
//
// Importing expvar and net/http/pprof also registers their handlers on
// http.DefaultServeMux; node-switch never serves that mux (every server it
// runs has a handler of its own), and this service uses a private one.
func init() {
	registerService(service{
		name: "debug",
		flags: func() []cli.Flag {
			return []cli.Flag{
				&cli.StringFlag{Name: "debug-listen", EnvVars: []string{"NODE_SWITCH_DEBUG_LISTEN"},
					Usage: `serve expvar (/debug/vars) and pprof (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060 ("" disables; other hosts are refused)`},
			}
		},
		start: startDebug,
	})
}

// debugListenAddr checks that addr names a loopback host (127.0.0.0/8, ::1
// or localhost) and a port; anything else, including an empty host (every
// interface), is refused.
func debugListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want HOST:PORT on loopback, e.g. 127.0.0.1:6060: %v", err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q: want a number from 0 to 65535", port)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Zone() == "" && a.Unmap().IsLoopback() {
		return nil
	}
	if host == "" {
		host = "every interface"
	}
	return fmt.Errorf("%s is not a loopback address: profiling endpoints are served on 127.0.0.0/8, ::1 or localhost only", host)
}

var publishDebugVars sync.Once

// publishDebugVarsOnce adds the gauges the benchmarks sample to expvar's
// defaults (cmdline, memstats). expvar.Publish panics on a second
// registration, and serve may start several times in one process (tests).
func publishDebugVarsOnce() {
	publishDebugVars.Do(func() {
		for name, f := range map[string]func() any{
			"goroutines":   func() any { return runtime.NumGoroutine() },
			"rss_kib":      func() any { return procStatusKiB("VmRSS") },
			"peak_rss_kib": func() any { return procStatusKiB("VmHWM") },
		} {
			if expvar.Get(name) == nil {
				expvar.Publish(name, expvar.Func(f))
			}
		}
	})
}

// procStatusKiB returns a "kB" field of /proc/self/status (VmRSS, VmHWM),
// or 0 when it cannot be read.
func procStatusKiB(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return v
	}
	return 0
}

func debugMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /debug/vars", expvar.Handler())
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // named profiles: goroutine, heap, ...
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

func startDebug(ctx context.Context, c *cli.Context, st *nodes.Store, log *slog.Logger) (func() error, error) {
	addr := c.String("debug-listen")
	if addr == "" {
		return nil, nil
	}
	if err := debugListenAddr(addr); err != nil {
		return nil, usageError("--debug-listen %s: %v", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--debug-listen %s: %w", addr, err)
	}
	// "localhost" is resolved by the system; refuse it if it resolved to
	// something other than loopback.
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		ln.Close()
		return nil, usageError("--debug-listen %s: resolved to %s, which is not a loopback address", addr, ln.Addr())
	}
	publishDebugVarsOnce()
	srv := &http.Server{
		Handler:           debugMux(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// Requests see ctx, so a running CPU profile or trace ends at
		// shutdown instead of holding it up for its ?seconds=.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	log.Info("debug listening", "addr", ln.Addr().String(), "vars", "/debug/vars", "pprof", "/debug/pprof/")
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
