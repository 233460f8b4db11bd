package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
)

// A service is one listener inside "node-switch serve" (DHCP, TFTP, HTTP,
// SSH). Each lives in its own file and registers itself, so serve does not
// grow a case per protocol.
type service struct {
	name string
	// flags and sharedFlags make fresh flags for each command built (see
	// ownHelpFlags for why none is shared). sharedFlags are groups of flags
	// other commands have too; serve gets each flag once.
	flags       func() []cli.Flag
	sharedFlags func() [][]cli.Flag
	// start begins serving and returns at once; run blocks until ctx is
	// done and the listener has stopped. A nil run means the service is
	// disabled by its flags.
	start func(ctx context.Context, c *cli.Context, st *nodes.Store, log *slog.Logger) (run func() error, err error)
}

var services []service

func registerService(s service) { services = append(services, s) }

func logLevelFlag() cli.Flag {
	return &cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"NODE_SWITCH_LOG_LEVEL"},
		Usage: "debug logs one line per DHCP/TFTP decision"}
}

func init() {
	register(func() *cli.Command {
		flags := []cli.Flag{logLevelFlag()}
		seen := map[string]bool{}
		for _, s := range services {
			if s.flags != nil {
				flags = append(flags, s.flags()...)
			}
			if s.sharedFlags == nil {
				continue
			}
			for _, group := range s.sharedFlags() {
				for _, f := range group {
					if name := f.Names()[0]; !seen[name] {
						seen[name] = true
						flags = append(flags, f)
					}
				}
			}
		}
		return &cli.Command{
			Name:  "serve",
			Usage: "run the DHCP, TFTP, HTTP and SSH servers (the appliance)",
			Description: "Everything served is read from the inventory at the moment of the request, so\n" +
				"moves take effect on a node's next boot; the daemon keeps no state and can be\n" +
				"restarted at any time. Stop it with SIGTERM.",
			Flags:  flags,
			Action: creatingStore(serve),
		}
	})
}

func newLogger(c *cli.Context) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, usageError("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	return slog.New(slog.NewTextHandler(envOf(c).Stderr, &slog.HandlerOptions{Level: lvl})), nil
}

func serve(c *cli.Context, st *nodes.Store) error {
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	tuneGC(log)
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	started := 0
	for _, s := range services {
		run, err := s.start(ctx, c, st, log.With("service", s.name))
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("serve: %s: %w", s.name, err)
		}
		if run == nil {
			log.Info("service disabled", "service", s.name)
			continue
		}
		started++
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			if err := run(); err != nil && !errors.Is(err, context.Canceled) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				mu.Unlock()
				log.Error("service stopped", "service", name, "err", err)
				// One listener failing takes the appliance down so systemd
				// restarts it whole rather than half serving.
				cancel()
			}
		}(s.name)
	}
	if started == 0 {
		return usageError("serve: every service is disabled by its flags; nothing to do")
	}
	log.Info("node-switch serving", "inventory", st.Path(), "pid", os.Getpid())
	<-ctx.Done()
	log.Info("shutting down")
	wg.Wait()
	return errors.Join(errs...)
}

// runUntil runs a listener's serve loop until it fails or ctx is done; then
// stop ends it and runUntil waits for the loop to return. An http.Server's
// "closed" error after stop is the expected end, not a failure.
func runUntil(ctx context.Context, serve func() error, stop func()) error {
	done := make(chan error, 1)
	go func() { done <- serve() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		stop()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return ctx.Err()
	}
}

// Garbage-collector settings of serve, unless GOGC or GOMEMLIMIT say
// otherwise. Under perfdhcp load the collector took about a fifth of the
// DHCP CPU at Go's default GOGC=100: every request allocates a few KiB in
// the dhcpv4 library, and each cycle re-marks the whole inventory copy.
// GOGC=400 collects a quarter as often; the soft limit keeps a TFTP boot
// storm (whose buffers come and go fast) from growing the heap to five times
// what it holds. An inventory copy nears the limit only at a few hundred
// thousand nodes; such a site raises GOMEMLIMIT.
const (
	serveGCPercent   = 400
	serveMemoryLimit = 128 << 20
)

func tuneGC(log *slog.Logger) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
		log.Debug("garbage collector", "gogc", serveGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serveMemoryLimit)
		log.Debug("garbage collector", "memory_limit", serveMemoryLimit)
	}
}
