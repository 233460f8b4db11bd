// Command node-switch runs one physical cluster as several logical ones and
// moves nodes between them by network boot. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/ops"
	"github.com/node-switch/node-switch/sshfront"
)

func main() {
	// A command allocates a few MiB and exits: at Go's default GOGC=100 a
	// move of 1,000 nodes ran three collections, 2 % of its CPU. serve's
	// own setting lets it run none; serve then adds its memory limit.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &Env{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin, Actor: localActor()}
	err := Run(ctx, env, os.Args)
	os.Exit(exitStatus(env, err))
}

// exitStatus prints err the way an operator reads it and picks the status:
// 0 ok, 1 failed, 2 bad usage or input, 3 refused by the SSH policy (so
// scripts can tell them apart). Once a change has committed the status is
// never "bad usage", whatever failed after it.
func exitStatus(env *Env, err error) int {
	if err == nil {
		return exitOK
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(env.Stderr, "node-switch:", msg)
	}
	var after *ops.AfterCommitError
	var ec cli.ExitCoder
	switch {
	case errors.As(err, &after):
		return exitFailed
	case errors.As(err, &ec):
		return ec.ExitCode()
	case errors.Is(err, sshfront.ErrNotAllowed):
		return exitRefused
	case errors.Is(err, nodes.ErrInvalid):
		return exitUsage
	}
	return exitFailed
}
