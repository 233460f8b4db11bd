package sshfront

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/node-switch/node-switch/nodes"
)

// serveTest runs srv on loopback with a registered operate key and returns a
// connected client and stop, which ends Serve and waits for it to return.
func serveTest(t *testing.T, srv *Server) (cl *ssh.Client, st *memStore, stop func()) {
	t.Helper()
	st = &memStore{keys: map[string]nodes.SSHKey{}}
	key := newSigner(t)
	register(st, key, nodes.RoleOperate, "tester")
	srv.HostKey, srv.Store, srv.Policy = newSigner(t), st, testPolicy
	if srv.Run == nil {
		srv.Run = testRun
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	cl, err = ssh.Dial("tcp", ln.Addr().String(), &ssh.ClientConfig{User: "x", Auth: []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(srv.HostKey.PublicKey())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl, st, stop
}

// testRun stands for the CLI: "ssh hostkey" prints the host key it was
// given, "mask" is refused by the command itself (as the CLI's own role
// check would), anything else prints "ok".
func testRun(_ context.Context, args []string, id Identity, stdout, _ io.Writer) int {
	switch strings.Join(args, " ") {
	case "ssh hostkey":
		if id.HostKey == nil {
			return 1
		}
		fmt.Fprint(stdout, Fingerprint(id.HostKey))
		return 0
	case "mask n1":
		id.Refused("mask: refused by the command")
		return 3
	}
	fmt.Fprint(stdout, "ok")
	return 0
}

func runOn(cl *ssh.Client, cmd string) (string, error) {
	s, err := cl.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	out, err := s.Output(cmd)
	return string(out), err
}

// The command is given the host key the client checked, whatever file the
// daemon read it from.
func TestServerPassesItsHostKey(t *testing.T) {
	srv := &Server{}
	cl, _, _ := serveTest(t, srv)
	out, err := runOn(cl, "ssh hostkey")
	if err != nil || out != Fingerprint(srv.HostKey.PublicKey()) {
		t.Fatalf("ssh hostkey: %q, %v; want %s", out, err, Fingerprint(srv.HostKey.PublicKey()))
	}
}

// Sessions held open without a command fill the connection's slots; one
// more is refused as a resource shortage, and a slot is free again once a
// session has ended (without waiting: it is freed before the close is sent).
// x/crypto/ssh's client can hold a session open without a command and shows
// the refusal's reason code; OpenSSH's part is in e2e/sshe2e.
func TestServerSessionsPerConnection(t *testing.T) {
	cl, _, _ := serveTest(t, &Server{})
	var held []*ssh.Session
	for i := range MaxSessionsPerConn {
		s, err := cl.NewSession()
		if err != nil {
			t.Fatalf("session %d of %d: %v", i+1, MaxSessionsPerConn, err)
		}
		defer s.Close()
		held = append(held, s)
	}
	_, err := cl.NewSession()
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != ssh.ResourceShortage || !strings.Contains(oce.Message, "at most 4 sessions") {
		t.Fatalf("session %d: want a resource shortage, got %v", MaxSessionsPerConn+1, err)
	}
	// Commands run in the held sessions, and each ended one makes room.
	for i, s := range held {
		if out, err := s.Output("status"); err != nil || out == nil {
			t.Fatalf("held session %d: %q %v", i+1, out, err)
		}
		if out, err := runOn(cl, "status"); err != nil || out != "ok" {
			t.Fatalf("a session after %d ended: %q %v", i+1, out, err)
		}
	}
}

// A session that sends requests but no command is closed after
// maxRequestsBeforeCommand of them.
func TestServerRequestsBeforeCommand(t *testing.T) {
	cl, _, _ := serveTest(t, &Server{})
	s, err := cl.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	for ; n < 2*maxRequestsBeforeCommand; n++ {
		if err := s.Setenv("LC_X", "y"); err != nil && !strings.Contains(err.Error(), "setenv failed") {
			break // the channel is closed
		}
	}
	if n != maxRequestsBeforeCommand+1 {
		t.Fatalf("the session took %d requests without a command; want it closed at the %dth", n, maxRequestsBeforeCommand+1)
	}
	if out, err := runOn(cl, "status"); err != nil || out != "ok" {
		t.Fatalf("a new session on the same connection: %q %v", out, err)
	}
}

// A burst of refused commands from one address writes one logbook row at
// once and the count of the rest when the interval is up, here when the
// daemon stops; a command refused by the CLI itself is one row too, never
// followed by "ssh-command exit 3".
func TestServerRefusalsLoggedOnceAMinute(t *testing.T) {
	cl, st, stop := serveTest(t, &Server{RefusalLogEvery: time.Hour}) // the timer never fires here: only the stop writes the count
	const burst = 50
	for i := range burst {
		cmd := "serve" // refused by the policy
		if i%2 == 1 {
			cmd = "mask n1" // allowed by the policy, refused by the command
		}
		var ee *ssh.ExitError
		if _, err := runOn(cl, cmd); !errors.As(err, &ee) || ee.ExitStatus() != 3 {
			t.Fatalf("refusal %d (%s): %v", i+1, cmd, err)
		}
	}
	if _, err := runOn(cl, "status"); err != nil {
		t.Fatal(err)
	}
	// reasons names the rows for a failure message, without flooding it.
	reasons := func(es []nodes.Event) string {
		var r []string
		for i, e := range es {
			if i == 3 {
				r = append(r, "...")
				break
			}
			r = append(r, e.Reason+": "+e.Result)
		}
		return strings.Join(r, "\n")
	}
	rows := func() (refused []nodes.Event, other []string) {
		st.mu.Lock()
		defer st.mu.Unlock()
		for _, e := range st.events {
			if e.Action == nodes.ActionSSHRefused {
				refused = append(refused, e)
			} else {
				other = append(other, string(e.Action)+" "+e.Reason+": "+e.Result)
			}
		}
		return refused, other
	}
	refused, other := rows()
	if len(refused) != 1 || refused[0].Reason != "serve" || strings.Contains(refused[0].Result, "refusals") {
		t.Fatalf("during the burst: %d ssh-refused rows, want the first refusal alone:\n%s", len(refused), reasons(refused))
	}
	if strings.Join(other, "\n") != "ssh-command status: exit 0" {
		t.Fatalf("other rows, want only the status command's:\n%s", strings.Join(other, "\n"))
	}
	stop()
	refused, _ = rows()
	if len(refused) != 2 || refused[1].Reason != "mask n1" ||
		!strings.Contains(refused[1].Result, fmt.Sprintf("the last of %d refusals from 127.0.0.1 since ", burst-1)) {
		t.Fatalf("after the daemon stopped: %d ssh-refused rows, want 2, the second with the count:\n%s", len(refused), reasons(refused))
	}
}
