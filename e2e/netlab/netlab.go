// Package netlab builds throw-away networks of Linux network namespaces for
// tests with real peers (dhclient, tftp-hpa, QEMU, sshd ...). Everything a
// Lab creates lives inside namespaces it made, with names unique to the test
// run, and is removed by the test's cleanup: no traffic reaches a real LAN
// and concurrent test binaries do not collide.
package netlab

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireRoot skips the test unless it runs as root (namespaces need it).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (run the tests as root, as CI does)")
	}
}

// Require skips the test unless each program is on PATH (or is an absolute
// path that exists). Each argument is "program" or "program=debian-package".
func Require(t testing.TB, programs ...string) {
	t.Helper()
	for _, p := range programs {
		prog, pkg, _ := strings.Cut(p, "=")
		if pkg == "" {
			pkg = prog
		}
		if filepath.IsAbs(prog) {
			if _, err := os.Stat(prog); err != nil {
				t.Skipf("needs %s (apt-get install %s)", prog, pkg)
			}
			continue
		}
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("needs %s on PATH (apt-get install %s)", prog, pkg)
		}
	}
}

// Missing returns the Debian packages (deduplicated, in order) of the
// programs, given as Require takes them, that are not here: for programs
// that are not tests, which say what to install instead of skipping.
func Missing(programs ...string) []string {
	var pkgs []string
	for _, p := range programs {
		prog, pkg, _ := strings.Cut(p, "=")
		if pkg == "" {
			pkg = prog
		}
		if have(prog) || slices.Contains(pkgs, pkg) {
			continue
		}
		pkgs = append(pkgs, pkg)
	}
	return pkgs
}

func have(prog string) bool {
	if filepath.IsAbs(prog) {
		_, err := os.Stat(prog)
		return err == nil
	}
	_, err := exec.LookPath(prog)
	return err == nil
}

// Lab is one test's set of namespaces.
type Lab struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	spaces []*NS
}

// New makes an empty lab; it skips the test without root or iproute2.
func New(t testing.TB) *Lab {
	t.Helper()
	RequireRoot(t)
	Require(t, "ip=iproute2")
	b := make([]byte, 3)
	rand.Read(b)
	l := &Lab{t: t, prefix: "nst" + hex.EncodeToString(b)}
	t.Cleanup(l.close)
	return l
}

// NS is one network namespace.
type NS struct {
	lab  *Lab
	Name string // full name as "ip netns" knows it
	mu   sync.Mutex
	cmds []*exec.Cmd
}

// Namespace creates a namespace with loopback up.
func (l *Lab) Namespace(short string) *NS {
	l.t.Helper()
	ns := &NS{lab: l, Name: l.prefix + "-" + short}
	mustRun(l.t, "ip", "netns", "add", ns.Name)
	l.mu.Lock()
	l.spaces = append(l.spaces, ns)
	l.mu.Unlock()
	ns.MustRun("ip", "link", "set", "lo", "up")
	return ns
}

func (l *Lab) close() {
	l.mu.Lock()
	spaces := l.spaces
	l.spaces = nil
	l.mu.Unlock()
	for i := len(spaces) - 1; i >= 0; i-- {
		spaces[i].stopAll()
	}
	for _, ns := range spaces {
		// Killing every process left in the namespace lets "netns del"
		// free it; a stray process would keep interfaces alive.
		if out, err := exec.Command("ip", "netns", "pids", ns.Name).Output(); err == nil {
			for _, pid := range strings.Fields(string(out)) {
				exec.Command("kill", "-9", pid).Run()
			}
		}
		exec.Command("ip", "netns", "del", ns.Name).Run()
	}
}

// Veth connects namespace a (interface aIf) to b (interface bIf).
func (l *Lab) Veth(a *NS, aIf string, b *NS, bIf string) {
	l.t.Helper()
	a.MustRun("ip", "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b.Name)
	a.MustRun("ip", "link", "set", aIf, "up")
	b.MustRun("ip", "link", "set", bIf, "up")
}

// Bridge creates a bridge in ns, with an address if cidr is not empty.
func (ns *NS) Bridge(name, cidr string) {
	ns.lab.t.Helper()
	ns.MustRun("ip", "link", "add", name, "type", "bridge")
	// No STP and no forwarding delay: a port must pass DHCP at once.
	ns.MustRun("ip", "link", "set", name, "type", "bridge", "stp_state", "0", "forward_delay", "0")
	ns.MustRun("ip", "link", "set", name, "up")
	if cidr != "" {
		ns.Addr(name, cidr)
	}
}

// Enslave puts an interface of ns into one of its bridges.
func (ns *NS) Enslave(ifname, bridge string) {
	ns.lab.t.Helper()
	ns.MustRun("ip", "link", "set", ifname, "master", bridge)
	ns.MustRun("ip", "link", "set", ifname, "up")
}

// Addr assigns an address (CIDR notation) to an interface of ns.
func (ns *NS) Addr(ifname, cidr string) {
	ns.lab.t.Helper()
	ns.MustRun("ip", "addr", "add", cidr, "dev", ifname)
	ns.MustRun("ip", "link", "set", ifname, "up")
}

// SetMAC sets an interface's hardware address (before it is used).
func (ns *NS) SetMAC(ifname, mac string) {
	ns.lab.t.Helper()
	ns.MustRun("ip", "link", "set", ifname, "address", mac)
}

// Command returns a command that runs inside ns.
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Run runs a command in ns and returns its combined output.
func (ns *NS) Run(name string, args ...string) (string, error) {
	out, err := ns.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), ns.Name, err, out)
	}
	return string(out), nil
}

// MustRun runs a command in ns and fails the test if it fails.
func (ns *NS) MustRun(name string, args ...string) string {
	ns.lab.t.Helper()
	out, err := ns.Run(name, args...)
	if err != nil {
		ns.lab.t.Fatal(err)
	}
	return out
}

// Proc is a background process in a namespace.
type Proc struct {
	Cmd  *exec.Cmd
	out  *SyncBuffer
	done chan struct{}
	err  error
}

// Output is everything the process wrote to stdout and stderr so far.
func (p *Proc) Output() string { return p.out.String() }

// Wait waits for the process to exit by itself, up to d.
func (p *Proc) Wait(d time.Duration) (exited bool, err error) {
	select {
	case <-p.done:
		return true, p.err
	case <-time.After(d):
		return false, nil
	}
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, then SIGKILL after a grace period, and waits.
func (p *Proc) Stop() {
	if p.Exited() {
		return
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.Cmd.Process.Kill()
		<-p.done
	}
}

// Start runs a command in the background inside ns; the lab's cleanup stops
// it. Extra environment entries may be given with env.
func (ns *NS) Start(env []string, name string, args ...string) *Proc {
	ns.lab.t.Helper()
	cmd := ns.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	buf := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		ns.lab.t.Fatalf("start %s in %s: %v", name, ns.Name, err)
	}
	p := &Proc{Cmd: cmd, out: buf, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	ns.mu.Lock()
	ns.cmds = append(ns.cmds, cmd)
	ns.mu.Unlock()
	ns.lab.t.Cleanup(p.Stop)
	return p
}

func (ns *NS) stopAll() {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	for _, c := range ns.cmds {
		if c.ProcessState == nil && c.Process != nil {
			c.Process.Kill()
		}
	}
}

// SyncBuffer collects a process's output while tests read it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func mustRun(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// WaitFor polls cond every 50ms until it is true or d has passed. It is a
// readiness wait, not a performance assertion: d should be generous.
func WaitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// build is one command of this module built once per test process.
type build struct {
	once sync.Once
	path string
	err  error
}

var builds = map[string]*build{"node-switch": {}, "node-switch-demo": {}}

// Binary builds ./cmd/node-switch once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	return buildCommand(t, "node-switch")
}

// DemoBinary builds ./cmd/node-switch-demo once per test process and
// returns its path.
func DemoBinary(t testing.TB) string {
	t.Helper()
	return buildCommand(t, "node-switch-demo")
}

func buildCommand(t testing.TB, name string) string {
	t.Helper()
	b := builds[name]
	b.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", name+"-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", b.path, "./cmd/"+name)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./cmd/%s: %v: %s", name, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}
