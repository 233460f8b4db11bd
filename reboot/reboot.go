// Package reboot reboots Linux nodes over SSH, many at once: connect with
// the head node's key, check the node's host key against a known_hosts file,
// run the site's reboot command, and report one outcome per node.
package reboot

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/node-switch/node-switch/fanout"
)

// Status is the outcome for one node; the names are a contract with scripts
// reading --json.
type Status string

const (
	OK             Status = "ok"
	Unreachable    Status = "unreachable"
	AuthFailed     Status = "auth failed"
	HostKeyUnknown Status = "host key unknown"
	HostKeyChanged Status = "host key mismatch"
	CommandFailed  Status = "command failed"
	TimedOut       Status = "timeout"
)

// Target is one node to reboot.
type Target struct {
	Name string
	Addr string // host:port
}

// Result is one node's outcome.
type Result struct {
	Node     string        `json:"node"`
	Addr     string        `json:"addr"`
	Status   Status        `json:"status"`
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Config says how to reach nodes.
type Config struct {
	User           string // default root
	KeyFile        string
	KnownHostsFile string
	Command        string        // default "systemctl reboot"
	Parallel       int           // connections at once; default 32
	Timeout        time.Duration // per node, connect to exit; default 30s
}

// Client is a loaded Config.
type Client struct {
	cfg      Config
	signer   ssh.Signer
	hostKeys ssh.HostKeyCallback
}

// New loads the key and known_hosts file, failing with the fix when they
// are missing: a reboot must never fall back to trusting any host.
func New(cfg Config) (*Client, error) {
	if cfg.User == "" {
		cfg.User = "root"
	}
	if cfg.Command == "" {
		cfg.Command = "systemctl reboot"
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 32
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	pem, err := os.ReadFile(cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("reboot key %s: %w (create it with: ssh-keygen -t ed25519 -N '' -f %s, and install the .pub in each node's /root/.ssh/authorized_keys)",
			cfg.KeyFile, err, cfg.KeyFile)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("reboot key %s: %w (it must be unencrypted; the head node reboots nodes unattended)", cfg.KeyFile, err)
	}
	if _, err := os.Stat(cfg.KnownHostsFile); err != nil {
		return nil, fmt.Errorf("known hosts %s: %w (collect the nodes' host keys into it, checking them, e.g. ssh-keyscan -t ed25519 NODE >> %s)",
			cfg.KnownHostsFile, err, cfg.KnownHostsFile)
	}
	hk, err := knownhosts.New(cfg.KnownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("known hosts %s: %w", cfg.KnownHostsFile, err)
	}
	return &Client{cfg: cfg, signer: signer, hostKeys: hk}, nil
}

// Run reboots every target, at most Parallel at a time, calling progress
// (if not nil, from one goroutine at a time) as each finishes. Results are
// in the order of targets.
func (c *Client) Run(ctx context.Context, targets []Target, progress func(done, total int, r Result)) []Result {
	return fanout.Each(ctx, targets, c.cfg.Parallel,
		func(t Target) Result { return c.One(ctx, t) },
		func(t Target, err error) Result {
			return Result{Node: t.Name, Addr: t.Addr, Status: TimedOut, Detail: "cancelled before connecting: " + err.Error()}
		}, progress)
}

// One reboots a single node.
func (c *Client) One(ctx context.Context, t Target) Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	status, detail := c.one(ctx, t)
	if ctx.Err() == context.DeadlineExceeded && status != OK {
		status, detail = TimedOut, fmt.Sprintf("no result within %s: %s", c.cfg.Timeout, detail)
	}
	return Result{Node: t.Name, Addr: t.Addr, Status: status, Detail: detail, Duration: time.Since(start)}
}

func (c *Client) one(ctx context.Context, t Target) (Status, string) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return Unreachable, err.Error()
	}
	// The handshake and the command obey the per-node deadline too.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	defer raw.Close()
	var hostErr error
	var offered ssh.PublicKey
	cfg := &ssh.ClientConfig{
		User:              c.cfg.User,
		HostKeyAlgorithms: c.algorithmsFor(t, raw.RemoteAddr()),
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(c.signer)},
		HostKeyCallback: func(host string, remote net.Addr, key ssh.PublicKey) error {
			offered = key
			hostErr = c.checkHostKey(t, remote, key)
			return hostErr
		},
	}
	conn, chans, reqs, err := ssh.NewClientConn(raw, t.Addr, cfg)
	if err != nil {
		var ke *knownhosts.KeyError
		if errors.As(hostErr, &ke) {
			if len(ke.Want) == 0 {
				return HostKeyUnknown, fmt.Sprintf("%s offered %s key %s, which %s does not list under %s: check it on the node's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and add it, e.g. ssh-keyscan -t ed25519 %s >> %s",
					t.Addr, offered.Type(), ssh.FingerprintSHA256(offered), c.cfg.KnownHostsFile, strings.Join(c.hostNames(t), " or "), hostOnly(t.Addr), c.cfg.KnownHostsFile)
			}
			name := hostOnly(t.Addr)
			var le *listedError
			if errors.As(hostErr, &le) {
				name = le.name
			}
			return HostKeyChanged, fmt.Sprintf("%s offered a host key that differs from %s line %d (%s): the node was reinstalled or someone is in the middle; verify, then replace the line (ssh-keygen -R %s -f %s)",
				t.Addr, ke.Want[0].Filename, ke.Want[0].Line, name, name, c.cfg.KnownHostsFile)
		}
		if hostErr == nil && strings.Contains(err.Error(), "unable to authenticate") {
			return AuthFailed, fmt.Sprintf("%s@%s refused key %s: add %s.pub to the node's authorized_keys", c.cfg.User, t.Addr, ssh.FingerprintSHA256(c.signer.PublicKey()), c.cfg.KeyFile)
		}
		if ctx.Err() != nil {
			return Unreachable, "ssh handshake did not finish: " + err.Error()
		}
		return Unreachable, "ssh handshake: " + err.Error()
	}
	client := ssh.NewClient(conn, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return CommandFailed, "open session: " + err.Error()
	}
	defer sess.Close()
	// One buffer for both streams, written from two copying goroutines.
	var out lockedBuffer
	sess.Stdout = &out
	sess.Stderr = &out
	// Start and Wait apart, because a connection lost means opposite things
	// before and after the node acknowledges the exec request: before, the
	// command never started (sshd dropped us under load, MaxStartups, our
	// own deadline); after, it is "systemctl reboot" taking the node down.
	if err := sess.Start(c.cfg.Command); err != nil {
		if ctx.Err() != nil {
			return TimedOut, fmt.Sprintf("%q was not started: the node did not acknowledge it in time", c.cfg.Command)
		}
		return CommandFailed, fmt.Sprintf("%q was not started: %v", c.cfg.Command, err)
	}
	err = sess.Wait()
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return OK, "reboot command accepted"
	case ctx.Err() != nil:
		// The deadline closed the connection, not the node: the command
		// started but nothing shows it did its work.
		return TimedOut, fmt.Sprintf("%q started but did not finish", c.cfg.Command)
	case errors.As(err, &missing), errors.Is(err, io.EOF):
		// The node went down under us, after it started the command and
		// before it reported a status: that is the reboot happening.
		return OK, "connection closed by the reboot"
	case errors.As(err, &ee):
		return CommandFailed, fmt.Sprintf("%q exited %d: %s", c.cfg.Command, ee.ExitStatus(), tail(out.String()))
	default:
		return CommandFailed, fmt.Sprintf("%q: %v", c.cfg.Command, err)
	}
}

// hostNames are the names known_hosts may list a node's key under: its
// address as ssh would look it up ([ip]:port, or ip on port 22), and its
// name, with the port as "ssh-keyscan -p PORT NAME" writes it and bare as
// OpenSSH's HostKeyAlias looks it up (the README's "ssh-keyscan umu20").
func (c *Client) hostNames(t Target) []string {
	names := []string{knownhosts.Normalize(t.Addr)}
	if t.Name == "" {
		return names
	}
	_, port, err := net.SplitHostPort(t.Addr)
	if err != nil {
		port = "22"
	}
	for _, n := range []string{knownhosts.Normalize(net.JoinHostPort(t.Name, port)), t.Name} {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// checkHostKey accepts the node's key when known_hosts lists it under any
// of the node's names, as OpenSSH does with CheckHostIP: a name that lists
// other keys only is a mismatch even when another name lists this one (a
// stale line is a question for the operator, not something to outvote), and
// a key no name lists is unknown.
func (c *Client) checkHostKey(t Target, remote net.Addr, key ssh.PublicKey) error {
	listed := false
	for _, name := range c.hostNames(t) {
		err := c.hostKeys(name+portSuffix(name), remote, key)
		var ke *knownhosts.KeyError
		switch {
		case err == nil:
			listed = true
		case errors.As(err, &ke) && len(ke.Want) == 0:
			// Not listed under this name.
		default:
			return &listedError{name, err} // a mismatch, or a revoked key
		}
	}
	if !listed {
		return &knownhosts.KeyError{}
	}
	return nil
}

// listedError is a host key refused under one of the node's names, kept
// for the message that says which line to replace.
type listedError struct {
	name string
	err  error
}

func (e *listedError) Error() string { return e.name + ": " + e.err.Error() }
func (e *listedError) Unwrap() error { return e.err }

// portSuffix completes a normalized known_hosts name into the host:port the
// knownhosts callback takes (which normalizes it back).
func portSuffix(name string) string {
	if strings.HasPrefix(name, "[") {
		return ""
	}
	return ":22"
}

// algorithmsFor asks the node for the host key types known_hosts holds
// under its names, so a node with several host keys (ed25519, ecdsa, rsa) is
// checked against the one that was pinned rather than failing as a
// mismatch. knownhosts only reveals the known keys through the error for a
// key it does not know.
func (c *Client) algorithmsFor(t Target, remote net.Addr) []string {
	var want []knownhosts.KnownKey
	for _, name := range c.hostNames(t) {
		var ke *knownhosts.KeyError
		if errors.As(c.hostKeys(name+portSuffix(name), remote, probeKey()), &ke) {
			want = append(want, ke.Want...)
		}
	}
	var algos []string
	for _, k := range want {
		add := []string{k.Key.Type()}
		if add[0] == ssh.KeyAlgoRSA {
			add = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
		for _, a := range add {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	return algos
}

// probeKey is made on first use, not at every CLI command's start-up.
var probeKey = sync.OnceValue(func() ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return k
})

func hostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		s = "..." + s[len(s)-300:]
	}
	if s == "" {
		return "no output"
	}
	return s
}

// Failed lists the results that are not OK.
func Failed(rs []Result) []Result {
	var out []Result
	for _, r := range rs {
		if r.Status != OK {
			out = append(out, r)
		}
	}
	return out
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
