package main

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/ops"
	"github.com/node-switch/node-switch/sshfront"
)

func init() {
	registerService(service{
		name: "ssh",
		flags: func() []cli.Flag {
			return []cli.Flag{
				&cli.StringFlag{Name: "ssh-listen", Value: ":2222", EnvVars: []string{"NODE_SWITCH_SSH_LISTEN"},
					DefaultText: "port 2222 on the --interface addresses, 127.0.0.1 without",
					Usage:       `SSH front door address (for the Windows head's PowerShell client; ":2222" every address); empty disables it`},
				hostKeyFlag(),
				&cli.DurationFlag{Name: "ssh-idle-timeout", Value: sshfront.DefaultIdleTimeout, EnvVars: []string{"NODE_SWITCH_SSH_IDLE_TIMEOUT"},
					Usage: "close SSH connections idle this long (a running command is not idle)"},
				&cli.DurationFlag{Name: "ssh-handshake-timeout", Value: sshfront.DefaultHandshakeTimeout, EnvVars: []string{"NODE_SWITCH_SSH_HANDSHAKE_TIMEOUT"},
					Usage: "close SSH connections not authenticated within this time"},
				&cli.IntFlag{Name: "ssh-max-startups", Value: sshfront.DefaultMaxStartups, EnvVars: []string{"NODE_SWITCH_SSH_MAX_STARTUPS"},
					Usage: "unauthenticated SSH connections at once from all addresses (random early drop from half of it)"},
				&cli.IntFlag{Name: "ssh-per-source-max-startups", Value: sshfront.DefaultPerSourceMaxStartups, EnvVars: []string{"NODE_SWITCH_SSH_PER_SOURCE_MAX_STARTUPS"},
					Usage: "unauthenticated SSH connections at once from one address (IPv6: one /64)"},
				&cli.DurationFlag{Name: "ssh-refusal-log-every", Value: sshfront.DefaultRefusalLogEvery, EnvVars: []string{"NODE_SWITCH_SSH_REFUSAL_LOG_EVERY"},
					Usage: "write refused SSH commands from one address to the logbook at most this often; those in between are counted in the next row"},
				&cli.IntFlag{Name: "ssh-max-sessions", Value: sshfront.DefaultMaxAuthenticated, EnvVars: []string{"NODE_SWITCH_SSH_MAX_SESSIONS"},
					Usage: "authenticated SSH connections at once"},
			}
		},
		// Reboots and wakes asked over SSH use the daemon's settings.
		sharedFlags: func() [][]cli.Flag { return [][]cli.Flag{rebootFlags(), wakeFlags()} },
		start:       startSSH,
	})
}

func startSSH(ctx context.Context, c *cli.Context, st *nodes.Store, log *slog.Logger) (func() error, error) {
	addrs, err := listenAddrs(c, "ssh-listen", log)
	if err != nil || addrs == nil {
		return nil, err
	}
	path := hostKeyPath(c, st)
	signer, created, err := sshfront.LoadOrCreateHostKey(path)
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("generated SSH host key: pin its fingerprint on clients ('node-switch ssh hostkey')", "path", path)
	}
	ln, err := listenTCP("ssh-listen", addrs)
	if err != nil {
		return nil, err
	}
	policy, err := sshPolicy()
	if err != nil {
		return nil, err
	}
	settings, err := opsSettings(c)
	if err != nil {
		return nil, err
	}
	o, err := ops.New(st, settings)
	if err != nil {
		return nil, err
	}
	srv := &sshfront.Server{
		HostKey:     signer,
		Store:       st,
		Run:         sshRunner(o, policy),
		Policy:      policy,
		Log:         log,
		IdleTimeout: c.Duration("ssh-idle-timeout"),

		HandshakeTimeout:     c.Duration("ssh-handshake-timeout"),
		MaxStartups:          c.Int("ssh-max-startups"),
		PerSourceMaxStartups: c.Int("ssh-per-source-max-startups"),
		MaxAuthenticated:     c.Int("ssh-max-sessions"),
		RefusalLogEvery:      c.Duration("ssh-refusal-log-every"),
	}
	for _, a := range listenerAddrs(ln) {
		log.Info("SSH front door listening", "addr", a.String(), "host_key", sshfront.Fingerprint(signer.PublicKey()))
	}
	return func() error { return srv.Serve(ctx, ln) }, nil
}

// sshRunner runs a vetted command in-process with the same command
// definitions as the local CLI, the key as the actor and the daemon's
// operations layer: its hooks directory, reboot key and command are the
// daemon's, whatever the words say.
func sshRunner(o *ops.Ops, policy sshfront.Policy) sshfront.RunFunc {
	return func(ctx context.Context, args []string, id sshfront.Identity, stdout, stderr io.Writer) int {
		actor := id.Actor()
		// "ssh hostkey" shows the key this connection was made with.
		ctx = context.WithValue(ctx, daemonHostKey{}, id.HostKey)
		env := &Env{
			Stdout: stdout,
			Stderr: stderr,
			Stdin:  strings.NewReader(""),
			Actor:  actor,
			Store:  o.Store,
			Ops:    o,
			Allow: func(path string) error {
				if err := policy.Allowed(path, id.Role); err != nil {
					// Through the front door's refusal log when there is
					// one: a row a minute per source, and no "ssh-command
					// exit 3" row after it.
					if id.Refused != nil {
						id.Refused(err.Error())
					} else if _, rerr := o.Store.Record(context.WithoutCancel(ctx), actor, nodes.Event{Action: nodes.ActionSSHRefused, Reason: path, Result: "refused: " + err.Error()}); rerr != nil {
						slog.Error("logbook", "err", rerr)
					}
					return err
				}
				return nil
			},
		}
		return exitStatus(env, Run(ctx, env, append([]string{"node-switch"}, args...)))
	}
}
