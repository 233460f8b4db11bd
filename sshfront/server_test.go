package sshfront

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/node-switch/node-switch/nodes"
)

type memStore struct {
	mu     sync.Mutex
	keys   map[string]nodes.SSHKey
	events []nodes.Event
	actors []nodes.Actor
}

func (m *memStore) SSHKey(_ context.Context, fp string) (nodes.SSHKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[fp]
	if !ok {
		return nodes.SSHKey{}, nodes.ErrNotFound
	}
	return k, nil
}

func (m *memStore) Record(_ context.Context, a nodes.Actor, e nodes.Event) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	m.actors = append(m.actors, a)
	return int64(len(m.events)), nil
}

func newSigner(t *testing.T) ssh.Signer {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startServer runs the front door on loopback with a Run that echoes the
// identity and words it was given.
func startServer(t *testing.T, st *memStore) (addr string, host ssh.PublicKey) {
	hk := newSigner(t)
	srv := &Server{HostKey: hk, Store: st, Policy: testPolicy, Run: func(ctx context.Context, args []string, id Identity, stdout, stderr io.Writer) int {
		fmt.Fprintf(stdout, "%s|%s|%s", id.Fingerprint, id.Role, strings.Join(args, ","))
		if args[0] == "mask" {
			return 1
		}
		return 0
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String(), hk.PublicKey()
}

func register(st *memStore, s ssh.Signer, role, comment string) {
	st.keys[Fingerprint(s.PublicKey())] = nodes.SSHKey{Fingerprint: Fingerprint(s.PublicKey()),
		PublicKey: AuthorizedLine(s.PublicKey()), Role: role, Comment: comment}
}

func TestServerIdentityIsTheKeyThatAuthenticated(t *testing.T) {
	st := &memStore{keys: map[string]nodes.SSHKey{}}
	registered, other := newSigner(t), newSigner(t)
	register(st, registered, nodes.RoleOperate, "win-head")
	addr, host := startServer(t, st)

	// The client first offers a key that is not registered; the session
	// must run as the second one, the one that authenticated.
	cl, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "anyone", Auth: []ssh.AuthMethod{ssh.PublicKeys(other, registered)},
		HostKeyCallback: ssh.FixedHostKey(host)})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	run := func(cmd string) (string, string, error) {
		s, err := cl.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var out, errb bytes.Buffer
		s.Stdout, s.Stderr = &out, &errb
		err = s.Run(cmd)
		return out.String(), errb.String(), err
	}
	out, _, err := run(`move n1 --to linux --reason "a b"`)
	if err != nil {
		t.Fatal(err)
	}
	want := Fingerprint(registered.PublicKey()) + "|operate|move,n1,--to,linux,--reason,a b"
	if out != want {
		t.Fatalf("got %q, want %q", out, want)
	}
	_, _, err = run("mask n1")
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 1 {
		t.Fatalf("mask: want exit status 1 passed through, got %v", err)
	}
	_, stderr, err := run("serve --ssh-listen :22")
	if !errors.As(err, &ee) || ee.ExitStatus() != 3 || !strings.Contains(stderr, "not available over SSH") {
		t.Fatalf("serve: want refusal with status 3, got %v %q", err, stderr)
	}
	if _, err := cl.Dial("tcp", "127.0.0.1:1"); err == nil {
		t.Fatal("direct-tcpip (port forwarding) was accepted")
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	var actions []string
	for i, e := range st.events {
		actions = append(actions, string(e.Action)+":"+e.Result)
		if !strings.Contains(st.actors[i].Name, "win-head") || st.actors[i].Channel != nodes.ChannelSSH || st.actors[i].From != "127.0.0.1" {
			t.Errorf("event %d actor %+v", i, st.actors[i])
		}
	}
	if got := strings.Join(actions, " "); !strings.Contains(got, "ssh-command:exit 0") || !strings.Contains(got, "ssh-command:exit 1") ||
		!strings.Contains(got, "ssh-refused:refused") {
		t.Fatalf("logbook: %s", got)
	}
}

func TestServerRefusesUnregisteredKey(t *testing.T) {
	st := &memStore{keys: map[string]nodes.SSHKey{}}
	addr, host := startServer(t, st)
	_, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "x", Auth: []ssh.AuthMethod{ssh.PublicKeys(newSigner(t)), ssh.Password("secret")},
		HostKeyCallback: ssh.FixedHostKey(host)})
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("want authentication failure, got %v", err)
	}
}

func TestServerClosesIdleConnections(t *testing.T) {
	st := &memStore{keys: map[string]nodes.SSHKey{}}
	key := newSigner(t)
	register(st, key, nodes.RoleRead, "idle")
	hk := newSigner(t)
	srv := &Server{HostKey: hk, Store: st, IdleTimeout: 200 * time.Millisecond,
		Run: func(context.Context, []string, Identity, io.Writer, io.Writer) int { return 0 }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	cl, err := ssh.Dial("tcp", ln.Addr().String(), &ssh.ClientConfig{User: "x", Auth: []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(hk.PublicKey())})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// The server hangs up on its own; Wait returns when it has.
	waited := make(chan error, 1)
	go func() { waited <- cl.Wait() }()
	select {
	case <-waited:
	case <-time.After(2 * time.Minute):
		t.Fatal("idle connection was never closed")
	}
	if _, err := cl.NewSession(); err == nil {
		t.Fatal("session opened on a connection closed for idleness")
	}
}

// TestServerPreAuthLimits holds an unauthenticated connection from 127.0.0.1
// with a per-source limit of one: that address is refused, 127.0.0.2 gets in,
// and authenticated connections count only against MaxAuthenticated.
func TestServerPreAuthLimits(t *testing.T) {
	st := &memStore{keys: map[string]nodes.SSHKey{}}
	key := newSigner(t)
	register(st, key, nodes.RoleRead, "limits")
	hk := newSigner(t)
	srv := &Server{HostKey: hk, Store: st, Policy: testPolicy, PerSourceMaxStartups: 1, MaxAuthenticated: 2,
		Run: func(_ context.Context, _ []string, _ Identity, stdout, _ io.Writer) int {
			fmt.Fprint(stdout, "ok")
			return 0
		}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	dialFrom := func(local string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		return d.Dial("tcp", ln.Addr().String())
	}
	sshFrom := func(local string) (*ssh.Client, error) {
		c, err := dialFrom(local)
		if err != nil {
			return nil, err
		}
		cc, chans, reqs, err := ssh.NewClientConn(c, ln.Addr().String(), &ssh.ClientConfig{User: "x",
			Auth: []ssh.AuthMethod{ssh.PublicKeys(key)}, HostKeyCallback: ssh.FixedHostKey(hk.PublicKey())})
		if err != nil {
			c.Close()
			return nil, err
		}
		return ssh.NewClient(cc, chans, reqs), nil
	}
	// A command's round trip shows the server is past authentication,
	// where the connection's startup slot is given back.
	status := func(cl *ssh.Client) error {
		s, err := cl.NewSession()
		if err != nil {
			return err
		}
		defer s.Close()
		out, err := s.Output("status")
		if err == nil && string(out) != "ok" {
			err = fmt.Errorf("output %q", out)
		}
		return err
	}

	// Accepts are served in order, so the silent connection holds the
	// slot of 127.0.0.1 before the next dial is looked at.
	silent, err := dialFrom("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if cl, err := sshFrom("127.0.0.1"); err == nil {
		cl.Close()
		t.Fatal("a second unauthenticated connection from 127.0.0.1 was admitted with PerSourceMaxStartups 1")
	}
	var clients []*ssh.Client
	for i := range 2 {
		cl, err := sshFrom("127.0.0.2")
		if err != nil {
			t.Fatalf("authenticated connection %d from 127.0.0.2 (the earlier one must not count as a startup): %v", i+1, err)
		}
		defer cl.Close()
		if err := status(cl); err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		clients = append(clients, cl)
	}
	// Both authenticated slots are taken: a third authenticates and is
	// then closed.
	if cl, err := sshFrom("127.0.0.3"); err == nil {
		defer cl.Close()
		if err := status(cl); err == nil {
			t.Fatal("a third authenticated connection ran a command with MaxAuthenticated 2")
		}
	}
	if err := status(clients[0]); err != nil {
		t.Fatalf("the first connection after the refusal: %v", err)
	}
}
