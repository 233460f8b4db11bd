package reboot

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestNewExplainsWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(key, pem.EncodeToMemory(block), 0o600)
	os.WriteFile(key+".enc", pem.EncodeToMemory(enc), 0o600)
	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, nil, 0o600)
	tests := []struct {
		cfg     Config
		wantErr string
	}{
		{Config{KeyFile: filepath.Join(dir, "none"), KnownHostsFile: kh}, "ssh-keygen -t ed25519"},
		{Config{KeyFile: key + ".enc", KnownHostsFile: kh}, "unencrypted"},
		{Config{KeyFile: key, KnownHostsFile: filepath.Join(dir, "nohosts")}, "ssh-keyscan"},
		{Config{KeyFile: key, KnownHostsFile: kh}, ""},
	}
	for _, tc := range tests {
		c, err := New(tc.cfg)
		if tc.wantErr == "" {
			if err != nil || c.cfg.Command != "systemctl reboot" || c.cfg.Parallel != 32 || c.cfg.User != "root" {
				t.Errorf("New(%+v) = %+v, %v", tc.cfg, c, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("New(%+v): %v, want error containing %q", tc.cfg, err, tc.wantErr)
		}
	}
}

// sshd is an in-process SSH server on loopback that accepts one client key
// and answers every exec request with exit status 0, counting them.
type sshd struct {
	addr    string
	hostKey ssh.PublicKey
	mu      sync.Mutex
	execs   int
	// exec, when set, answers exec requests instead (and counts nothing):
	// a fake node that misbehaves in ways OpenSSH cannot be made to on cue.
	exec func(r *ssh.Request, ch ssh.Channel, conn ssh.Conn)
}

func startSSHD(t *testing.T, host ssh.Signer, client ssh.PublicKey, exec ...func(r *ssh.Request, ch ssh.Channel, conn ssh.Conn)) *sshd {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &sshd{addr: ln.Addr().String(), hostKey: host.PublicKey()}
	if len(exec) > 0 {
		s.exec = exec[0]
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if !bytes.Equal(k.Marshal(), client.Marshal()) {
			return nil, errors.New("unknown key")
		}
		return nil, nil
	}}
	cfg.AddHostKey(host)
	go func() {
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(raw, cfg)
		}
	}()
	return s
}

func (s *sshd) serve(raw net.Conn, cfg *ssh.ServerConfig) {
	defer raw.Close()
	conn, chans, reqs, err := ssh.NewServerConn(raw, cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		ch, reqs, err := nc.Accept()
		if err != nil {
			return
		}
		for r := range reqs {
			if r.Type != "exec" {
				r.Reply(false, nil)
				continue
			}
			if s.exec != nil {
				s.exec(r, ch, conn)
				continue
			}
			r.Reply(true, nil)
			s.mu.Lock()
			s.execs++
			s.mu.Unlock()
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
			ch.Close()
		}
	}
}

func (s *sshd) execCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.execs
}

func newSigner(t *testing.T) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return signer, pem.EncodeToMemory(block)
}

// TestHostKeyUnderNameOrAddress: known_hosts may list a node's key under its
// name (the README's "ssh-keyscan umu20") or its address, as OpenSSH
// accepts with HostKeyAlias and CheckHostIP; a different key listed under
// either is a mismatch, even when the other lists the right one, and the
// reboot command never runs.
func TestHostKeyUnderNameOrAddress(t *testing.T) {
	dir := t.TempDir()
	clientSigner, clientPEM := newSigner(t)
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, clientPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	hostSigner, _ := newSigner(t)
	otherSigner, _ := newSigner(t)
	srv := startSSHD(t, hostSigner, clientSigner.PublicKey())
	_, port, _ := net.SplitHostPort(srv.addr)
	right, wrong := hostSigner.PublicKey(), otherSigner.PublicKey()
	line := func(names string, k ssh.PublicKey) string {
		return names + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	}
	addr := "[127.0.0.1]:" + port
	name := "umu20"
	namePort := "[umu20]:" + port

	tests := []struct {
		desc  string
		lines []string
		want  Status
	}{
		{"right key under the name", []string{line(name, right)}, OK},
		{"right key under the name and port", []string{line(namePort, right)}, OK},
		{"right key under the address", []string{line(addr, right)}, OK},
		{"right key under both, one line", []string{line(name+","+addr, right)}, OK},
		{"right key under both, two lines", []string{line(addr, right), line(name, right)}, OK},
		{"wrong key under the name", []string{line(name, wrong)}, HostKeyChanged},
		{"wrong key under the address", []string{line(addr, wrong)}, HostKeyChanged},
		{"right under the address, wrong under the name", []string{line(addr, right), line(name, wrong)}, HostKeyChanged},
		{"right under the name, wrong under the address", []string{line(name, right), line(addr, wrong)}, HostKeyChanged},
		{"listed only under another node", []string{line("umu21", right)}, HostKeyUnknown},
		{"nothing listed", nil, HostKeyUnknown},
	}
	for i, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			kh := filepath.Join(dir, fmt.Sprintf("known_hosts.%d", i))
			text := strings.Join(tc.lines, "\n")
			if text != "" {
				text += "\n"
			}
			if err := os.WriteFile(kh, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := New(Config{KeyFile: keyFile, KnownHostsFile: kh})
			if err != nil {
				t.Fatal(err)
			}
			before := srv.execCount()
			r := c.One(context.Background(), Target{Name: name, Addr: srv.addr})
			if r.Status != tc.want {
				t.Fatalf("status %q (%s), want %q", r.Status, r.Detail, tc.want)
			}
			ran := srv.execCount() - before
			if want := map[bool]int{true: 1, false: 0}[tc.want == OK]; ran != want {
				t.Errorf("the reboot command ran %d times, want %d", ran, want)
			}
			if tc.want == HostKeyChanged && !strings.Contains(r.Detail, "ssh-keygen -R") {
				t.Errorf("mismatch message does not say how to fix it: %s", r.Detail)
			}
		})
	}
}

// TestConnectionLostCountsOnlyOnceStarted: "systemctl reboot" drops the
// connection without an exit status, so a lost connection is the reboot
// happening, but only once the node has acknowledged the exec request (sshd
// forked the command). A connection lost before that (sshd shedding
// connections under load) or closed by our own deadline is no evidence that
// the command ran, and reporting "ok" then hid nodes that never rebooted
// (TestReboot in e2e/sshe2e, under load). The server is a fake on
// x/crypto/ssh because OpenSSH cannot be made to drop an exec on cue.
func TestConnectionLostCountsOnlyOnceStarted(t *testing.T) {
	dir := t.TempDir()
	clientSigner, clientPEM := newSigner(t)
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, clientPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	hostSigner, _ := newSigner(t)
	exitStatus := func(ch ssh.Channel, code uint32) {
		ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{code}))
		ch.Close()
	}
	// cancel ends the client's context: a fake node "hangs" by calling it,
	// as the per-node deadline would, with no clock involved.
	tests := []struct {
		desc   string
		exec   func(r *ssh.Request, ch ssh.Channel, conn ssh.Conn, cancel func())
		want   Status
		detail string
	}{
		{"exits 0", func(r *ssh.Request, ch ssh.Channel, _ ssh.Conn, _ func()) {
			r.Reply(true, nil)
			exitStatus(ch, 0)
		}, OK, "accepted"},
		{"started, then the connection drops (the reboot)", func(r *ssh.Request, _ ssh.Channel, conn ssh.Conn, _ func()) {
			r.Reply(true, nil)
			conn.Close()
		}, OK, "closed by the reboot"},
		{"exec dropped before it was acknowledged", func(_ *ssh.Request, _ ssh.Channel, conn ssh.Conn, _ func()) {
			conn.Close()
		}, CommandFailed, "was not started"},
		{"exec refused", func(r *ssh.Request, _ ssh.Channel, _ ssh.Conn, _ func()) {
			r.Reply(false, nil)
		}, CommandFailed, "was not started"},
		{"started, then our deadline closes the connection", func(r *ssh.Request, _ ssh.Channel, conn ssh.Conn, cancel func()) {
			r.Reply(true, nil)
			cancel()
			conn.Wait() // the client hangs up
		}, TimedOut, ""},
		{"exits 3", func(r *ssh.Request, ch ssh.Channel, _ ssh.Conn, _ func()) {
			r.Reply(true, nil)
			exitStatus(ch, 3)
		}, CommandFailed, "exited 3"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			srv := startSSHD(t, hostSigner, clientSigner.PublicKey(), func(r *ssh.Request, ch ssh.Channel, conn ssh.Conn) {
				tc.exec(r, ch, conn, cancel)
			})
			kh := filepath.Join(dir, "known_hosts")
			line := srv.addr + " " + string(ssh.MarshalAuthorizedKey(hostSigner.PublicKey()))
			if err := os.WriteFile(kh, []byte(line), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := New(Config{KeyFile: keyFile, KnownHostsFile: kh})
			if err != nil {
				t.Fatal(err)
			}
			r := c.One(ctx, Target{Name: "n01", Addr: srv.addr})
			if r.Status != tc.want || !strings.Contains(r.Detail, tc.detail) {
				t.Fatalf("status %q (%s), want %q (%s)", r.Status, r.Detail, tc.want, tc.detail)
			}
		})
	}
}
