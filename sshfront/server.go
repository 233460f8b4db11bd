package sshfront

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/node-switch/node-switch/metrics"
	"github.com/node-switch/node-switch/nodes"
)

// Identity is who a session runs as: a registered key, seen from an address.
type Identity struct {
	Fingerprint string
	Comment     string
	Role        string
	Addr        string // client host:port
	// HostKey is the daemon's host key, the one this connection was made
	// with: what "ssh hostkey" shows over SSH, without reading any file.
	HostKey ssh.PublicKey
	// Refused is set while a command runs: a refusal made by the command
	// itself (the CLI checks the key's role again before it acts) goes
	// through it, so it is logged under the same per-source limit as the
	// front door's own, and as the command's only logbook row.
	Refused func(why string)
}

// Actor is how the logbook names this identity.
func (id Identity) Actor() nodes.Actor {
	name := "key " + id.Fingerprint
	if id.Comment != "" {
		name += " (" + id.Comment + ")"
	}
	from := id.Addr
	if h, _, err := net.SplitHostPort(id.Addr); err == nil {
		from = h
	}
	return nodes.Actor{Name: name, Channel: nodes.ChannelSSH, From: from}
}

// Store is what the front door needs from the inventory: the registered keys
// and the logbook.
type Store interface {
	SSHKey(ctx context.Context, fingerprint string) (nodes.SSHKey, error)
	Record(ctx context.Context, actor nodes.Actor, e nodes.Event) (int64, error)
}

// RunFunc runs one vetted command (args without the program name) with its
// output on the channel and returns the exit status. cmd/node-switch
// provides it, so sshfront never imports the CLI.
type RunFunc func(ctx context.Context, args []string, id Identity, stdout, stderr io.Writer) int

// Server is the SSH front door.
type Server struct {
	HostKey ssh.Signer
	Store   Store
	Run     RunFunc
	// Policy is what each role may run; the CLI derives it from its
	// command definitions.
	Policy Policy
	Log    *slog.Logger
	// IdleTimeout closes a connection with no traffic and no running
	// command.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the time from accept to authenticated
	// (default DefaultHandshakeTimeout): a connection that never sends a
	// banner holds its unauthenticated slot no longer than this.
	HandshakeTimeout time.Duration
	// MaxStartups bounds unauthenticated connections at once from all
	// sources (default DefaultMaxStartups, with early drop from half of
	// it), PerSourceMaxStartups those from one IPv4 address or IPv6 /64
	// (default DefaultPerSourceMaxStartups).
	MaxStartups          int
	PerSourceMaxStartups int
	// MaxAuthenticated bounds authenticated connections at once (default
	// DefaultMaxAuthenticated): the front door serves a head node or two
	// and scripts, not a crowd. They no longer count as startups.
	MaxAuthenticated int
	// RefusalLogEvery is how often refused commands from one address (IPv6:
	// one /64) may write a logbook row (default DefaultRefusalLogEvery);
	// those in between are counted into the next row.
	RefusalLogEvery time.Duration

	wg        sync.WaitGroup
	mu        sync.Mutex // guards startups
	startups  *startups
	authSlots chan struct{}
	refusals  *refusalLog
	commands  *refusalBook // refused commands
}

// refusalWindow is how often a flood of refused connections is summed up in
// the log.
const refusalWindow = 10 * time.Second

// DefaultIdleTimeout closes forgotten connections.
const DefaultIdleTimeout = 10 * time.Minute

// MaxSessionsPerConn bounds the session channels open at once on one
// connection; more are refused with "resource shortage". Each runs a
// command, so without it one authenticated connection could run any number
// of them at once. Four leave room for a client that multiplexes (OpenSSH's
// ControlMaster, a PowerShell script's parallel jobs); with it at most
// MaxAuthenticated times four commands run at once.
const MaxSessionsPerConn = 4

// maxRequestsBeforeCommand bounds the requests (env, pty-req, x11-req ...)
// a session may send before its command: each is answered "no" but keeps
// the connection from being idle, so a client sending them forever would
// hold its slot without running anything. OpenSSH's client sends one per
// SendEnv variable and option, a few dozen at most.
const maxRequestsBeforeCommand = 64

const (
	extFingerprint = "node-switch-fingerprint"
	extRole        = "node-switch-role"
	extComment     = "node-switch-comment"
)

func (s *Server) config(ctx context.Context) *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{
		// Only public keys: no PasswordCallback and no
		// KeyboardInteractiveCallback means both methods are refused.
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			fp := Fingerprint(key)
			k, err := s.Store.SSHKey(ctx, fp)
			if err != nil {
				s.log().Info("ssh key refused", "fingerprint", fp, "from", meta.RemoteAddr().String(), "err", err)
				return nil, fmt.Errorf("key %s not registered", fp)
			}
			// The key text must match too, not only its hash's name.
			if reg, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.PublicKey)); err != nil || Fingerprint(reg) != fp {
				return nil, fmt.Errorf("key %s: stored key does not match", fp)
			}
			// The identity travels to the session only through the
			// Permissions the library returns for the key that finally
			// authenticated; nothing seen here for other keys is kept.
			return &ssh.Permissions{Extensions: map[string]string{
				extFingerprint: fp, extRole: k.Role, extComment: k.Comment,
			}}, nil
		},
		MaxAuthTries:  6,
		ServerVersion: "SSH-2.0-node-switch",
	}
	cfg.AddHostKey(s.HostKey)
	return cfg
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Serve accepts connections until ctx is done, then closes ln and waits for
// running sessions to end (their commands see ctx cancelled).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.setDefaults(); err != nil {
		ln.Close()
		return err
	}
	s.startups = newStartups(s.PerSourceMaxStartups, s.MaxStartups)
	s.authSlots = make(chan struct{}, s.MaxAuthenticated)
	s.refusals = &refusalLog{log: s.log(), window: refusalWindow}
	defer s.refusals.stop()
	s.commands = newRefusalBook(s.RefusalLogEvery, s.recordRefusal)
	// After the sessions have ended (s.wg.Wait below, deferred calls run
	// later): the counts still held are written before the daemon closes
	// the inventory.
	defer s.commands.close()
	cfg := s.config(ctx)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var err error
	for {
		var c net.Conn
		c, err = ln.Accept()
		if err != nil {
			break
		}
		// Admission is decided here, before any goroutine or byte of
		// SSH, so a refused connection costs an accept and a close.
		src := sourceOf(remoteIP(c))
		s.mu.Lock()
		ok, why := s.startups.admit(src, rand.IntN(100))
		s.mu.Unlock()
		if !ok {
			s.refusals.refused(why, sourceName(src))
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handleConn(ctx, cfg, c, src)
		}()
	}
	s.wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("ssh listener %s: %w", ln.Addr(), err)
}

// setDefaults fills the zero settings and refuses negative ones.
func (s *Server) setDefaults() error {
	if s.IdleTimeout == 0 {
		s.IdleTimeout = DefaultIdleTimeout
	}
	if s.HandshakeTimeout == 0 {
		s.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if s.RefusalLogEvery < 0 {
		return fmt.Errorf("ssh front door: RefusalLogEvery is %s; give a positive duration, or 0 for the default", s.RefusalLogEvery)
	}
	if s.RefusalLogEvery == 0 {
		s.RefusalLogEvery = DefaultRefusalLogEvery
	}
	for _, l := range []struct {
		name string
		v    int
	}{{"MaxStartups", s.MaxStartups}, {"PerSourceMaxStartups", s.PerSourceMaxStartups}, {"MaxAuthenticated", s.MaxAuthenticated}} {
		if l.v < 0 {
			return fmt.Errorf("ssh front door: %s is %d; give a positive number, or 0 for the default", l.name, l.v)
		}
	}
	if s.HandshakeTimeout < 0 {
		return fmt.Errorf("ssh front door: HandshakeTimeout is %s; give a positive duration, or 0 for the default", s.HandshakeTimeout)
	}
	if s.MaxStartups == 0 {
		s.MaxStartups = DefaultMaxStartups
	}
	if s.PerSourceMaxStartups == 0 {
		s.PerSourceMaxStartups = DefaultPerSourceMaxStartups
	}
	if s.MaxAuthenticated == 0 {
		s.MaxAuthenticated = DefaultMaxAuthenticated
	}
	return nil
}

// handleConn serves one admitted connection: it holds its startup slot from
// src until authenticated, then an authenticated slot until it ends.
func (s *Server) handleConn(ctx context.Context, cfg *ssh.ServerConfig, raw net.Conn, src netip.Prefix) {
	ic := &idleConn{Conn: raw, idle: s.IdleTimeout}
	ic.SetDeadline(time.Now().Add(s.HandshakeTimeout))
	conn, chans, reqs, err := ssh.NewServerConn(ic, cfg)
	s.mu.Lock()
	s.startups.release(src)
	s.mu.Unlock()
	if err != nil {
		s.log().Debug("ssh handshake failed", "from", raw.RemoteAddr().String(), "err", err)
		raw.Close()
		return
	}
	defer conn.Close()
	select {
	case s.authSlots <- struct{}{}:
		defer func() { <-s.authSlots }()
	default:
		s.refusals.refused(refusedSessions, sourceName(src))
		return
	}
	ic.mu.Lock()
	ic.armed = true
	ic.mu.Unlock()
	ic.touch()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A cancelled daemon closes the connection, which ends the loops below.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	id := Identity{
		Fingerprint: conn.Permissions.Extensions[extFingerprint],
		Role:        conn.Permissions.Extensions[extRole],
		Comment:     conn.Permissions.Extensions[extComment],
		Addr:        conn.RemoteAddr().String(),
		HostKey:     s.HostKey.PublicKey(),
	}
	if id.Fingerprint == "" || id.Role == "" {
		return // cannot happen with public-key auth only; never run anonymously
	}
	s.log().Info("ssh login", "fingerprint", id.Fingerprint, "comment", id.Comment, "role", id.Role, "from", id.Addr)
	// Global requests (tcpip-forward for -R, keepalives) get "no".
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	slots := make(chan struct{}, MaxSessionsPerConn)
	// A client can ask for channels as fast as it can send: the first
	// refusal of each kind is logged, the rest only at debug level.
	logged := map[ssh.RejectionReason]bool{}
	reject := func(nc ssh.NewChannel, reason ssh.RejectionReason, msg string) {
		nc.Reject(reason, msg)
		level := slog.LevelDebug
		if !logged[reason] {
			logged[reason], level = true, slog.LevelInfo
		}
		s.log().Log(ctx, level, "ssh channel refused", "type", nc.ChannelType(), "why", msg, "fingerprint", id.Fingerprint, "from", id.Addr)
	}
	for nc := range chans {
		if nc.ChannelType() != "session" {
			// direct-tcpip (-L), x11, forwarded streams: never.
			reject(nc, ssh.Prohibited, "node-switch: only commands (exec) are served here; no forwarding")
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			reject(nc, ssh.ResourceShortage, fmt.Sprintf("node-switch: at most %d sessions at once on one connection", MaxSessionsPerConn))
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			<-slots
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.session(ctx, ic, id, ch, creqs)
			// The slot is free before the client sees the channel
			// close, so a client that waits for one session to end
			// before opening the next is never refused.
			<-slots
			ch.Close()
		}()
	}
	// The client is gone: commands still running are cancelled.
	cancel()
	wg.Wait()
}

// session serves one channel: at most one exec; everything else refused.
// The caller closes the channel.
func (s *Server) session(ctx context.Context, ic *idleConn, id Identity, ch ssh.Channel, reqs <-chan *ssh.Request) {
	ptyAsked := false
	n := 0
	for req := range reqs {
		if n++; n > maxRequestsBeforeCommand {
			if req.WantReply {
				req.Reply(false, nil)
			}
			fmt.Fprintf(ch.Stderr(), "node-switch: more than %d requests without a command; closing the session\n", maxRequestsBeforeCommand)
			s.log().Info("ssh session closed: too many requests without a command", "max", maxRequestsBeforeCommand,
				"fingerprint", id.Fingerprint, "from", id.Addr)
			return
		}
		switch req.Type {
		case "exec":
			var payload struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
				req.Reply(false, nil)
				return
			}
			req.Reply(true, nil)
			go ssh.DiscardRequests(reqs) // signals, window changes: ignored
			status := s.exec(ctx, ic, id, payload.Command, ptyAsked, ch)
			metrics.Command(nodes.ChannelSSH, id.Role, status)
			sendExit(ch, status)
			return
		case "pty-req":
			// Refused, and the session that asked will get no command
			// either: "ssh -t" means someone expects a terminal here.
			ptyAsked = true
			req.Reply(false, nil)
		case "shell":
			req.Reply(false, nil)
			s.refuse(id, "(interactive shell)", "no shell: run one node-switch command per call, e.g. ssh -p PORT HEAD status")
			fmt.Fprintln(ch.Stderr(), "node-switch: there is no shell here; run one command per call, for example: ssh -p PORT HEAD status")
			sendExit(ch, 2)
			metrics.Command(nodes.ChannelSSH, id.Role, 2)
			return
		case "subsystem":
			req.Reply(false, nil)
			s.refuse(id, "(subsystem)", "subsystems (sftp, ...) are not served")
			metrics.Command(nodes.ChannelSSH, id.Role, 3)
			return
		default:
			// env, auth-agent-req@openssh.com, x11-req, window-change ...
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
}

func sendExit(ch ssh.Channel, status int) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(status))
	ch.SendRequest("exit-status", false, b[:])
}

// exec vets and runs one command line and returns its exit status: 0 ok, 1
// failed, 2 bad usage, 3 refused by the policy (the CLI's statuses).
func (s *Server) exec(ctx context.Context, ic *idleConn, id Identity, line string, ptyAsked bool, ch ssh.Channel) int {
	shown := line
	if len(shown) > 200 {
		shown = shown[:200] + "..."
	}
	refuse := func(why string, status int) int {
		s.refuse(id, shown, why)
		fmt.Fprintln(ch.Stderr(), "node-switch: refused:", why)
		return status
	}
	if ptyAsked {
		return refuse("no terminals here: run ssh without -t", 2)
	}
	// The role is read again per command, so "ssh-key rm" also stops a
	// connection that was already open.
	k, err := s.Store.SSHKey(ctx, id.Fingerprint)
	if err != nil {
		return refuse("key is no longer registered", 3)
	}
	id.Role = k.Role
	words, err := Split(line)
	if err != nil {
		return refuse(err.Error(), 2)
	}
	path, err := s.Policy.Check(words, id.Role)
	if errors.Is(err, ErrNotAllowed) {
		return refuse(err.Error(), 3)
	}
	if err != nil {
		return refuse(err.Error(), 2)
	}
	s.log().Info("ssh command", "command", shown, "path", path, "fingerprint", id.Fingerprint, "from", id.Addr)
	// A refusal by the command itself is the command's one logbook row
	// (and is counted like the others), not followed by "ssh-command exit 3".
	var refusedInRun atomic.Bool
	id.Refused = func(why string) {
		refusedInRun.Store(true)
		s.refuse(id, shown, why)
	}
	// A long command (reboot of many nodes) is not idleness.
	ic.busy(1)
	status := s.Run(ctx, words, id, ch, ch.Stderr())
	ic.busy(-1)
	if refusedInRun.Load() {
		return status
	}
	if _, err := s.Store.Record(context.WithoutCancel(ctx), id.Actor(), nodes.Event{Action: nodes.ActionSSHCommand, Reason: shown,
		Result: fmt.Sprintf("exit %d", status)}); err != nil {
		s.log().Error("logbook", "err", err)
	}
	return status
}

// refuse records a refused command: in the logbook at most once per
// RefusalLogEvery per source, with the count of the others (refusalBook).
func (s *Server) refuse(id Identity, line, why string) {
	s.log().Debug("ssh command refused", "command", line, "why", why, "fingerprint", id.Fingerprint, "from", id.Addr)
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(id.Addr); err == nil {
		ip = ap.Addr()
	}
	s.commands.refused(sourceName(sourceOf(ip)), refusal{actor: id.Actor(), line: line, why: why, at: time.Now()})
}

// recordRefusal writes one row of refusals: in the logbook, and in the log.
func (s *Server) recordRefusal(r refusalRow) {
	if r.held == 0 {
		s.log().Info("ssh command refused", "command", r.line, "why", r.why, "actor", r.actor.Name, "from", r.src)
	} else {
		s.log().Warn("ssh commands refused", "count", r.held, "since", r.since.UTC().Format(time.RFC3339), "from", r.src,
			"last", r.line, "why", r.why, "actor", r.actor.Name)
	}
	// The session may be gone (a timer writes the count), so no request's
	// context bounds the write.
	if _, err := s.Store.Record(context.Background(), r.actor, r.event()); err != nil {
		s.log().Error("logbook", "err", err)
	}
}

// idleConn pushes its deadline forward on every read and write, and drops it
// while a command runs.
type idleConn struct {
	net.Conn
	idle    time.Duration
	mu      sync.Mutex
	running int
	armed   bool // after the handshake, which has its own deadline
}

func (c *idleConn) touch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.armed {
		return
	}
	if c.running > 0 {
		c.Conn.SetDeadline(time.Time{})
		return
	}
	c.Conn.SetDeadline(time.Now().Add(c.idle))
}

func (c *idleConn) busy(d int) {
	c.mu.Lock()
	c.running += d
	c.mu.Unlock()
	c.touch()
}

func (c *idleConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *idleConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

// remoteIP is the peer's address; a listener that is not TCP (a test's pipe)
// gives the zero address, one shared source for all its connections.
func remoteIP(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr()
	}
	return netip.Addr{}
}
