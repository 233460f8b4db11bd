// Command node-switch runs one physical cluster as several logical ones and
// moves nodes between them by network boot. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &Env{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin, Actor: localActor()}
	err := Run(ctx, env, os.Args)
	os.Exit(exitStatus(env, err))
}

// exitStatus prints err the way an operator reads it and picks the status:
// 0 ok, 1 failed, 2 bad usage or input (so scripts can tell them apart).
func exitStatus(env *Env, err error) int {
	if err == nil {
		return 0
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(env.Stderr, "node-switch:", msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(env.Stderr, "node-switch:", err)
	return 1
}
