// Package pgtest runs a throw-away PostgreSQL server (Debian's binaries)
// for tests: initdb in a temporary directory owned by an unprivileged user,
// the server listening on a unix socket only, so it reaches no network and
// needs no port. Tests skip with a clear message when the binaries are
// missing.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// BinDirs are searched in order for initdb and postgres.
var BinDirs = []string{"/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"}

// RunAs is the unprivileged user the server runs as when the test runs as
// root (initdb and postgres refuse root).
const RunAs = "nobody"

// Server is one running PostgreSQL cluster.
type Server struct {
	Dir     string // data directory and socket directory live under it
	bin     string
	uid     int
	gid     int
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
	// args are extra server settings (-c name=value ...).
	args []string
}

// Bin finds the directory holding initdb and postgres, or says why not.
func Bin() (string, error) {
	for _, d := range BinDirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				return d, nil
			}
		}
	}
	return "", fmt.Errorf("PostgreSQL server binaries not found in %s (apt-get install postgresql)", strings.Join(BinDirs, ", "))
}

// Start initialises a new cluster and starts it; the test skips when the
// binaries are missing. Stop it with Close (Start registers it on tb).
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := StartServer()
	if errors.Is(err, errMissing) {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

var errMissing = errors.New("missing")

// StartServer is Start without a testing.TB, for TestMain.
func StartServer() (*Server, error) {
	bin, err := Bin()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errMissing, err)
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, bin: bin, uid: os.Getuid(), gid: os.Getgid(), logPath: filepath.Join(dir, "postgres.log")}
	if os.Getuid() == 0 {
		u, err := user.Lookup(RunAs)
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("%w: user %s to run PostgreSQL as: %v", errMissing, RunAs, err)
		}
		s.uid, _ = strconv.Atoi(u.Uid)
		s.gid, _ = strconv.Atoi(u.Gid)
		if err := os.Chown(dir, s.uid, s.gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	initdb := s.command(filepath.Join(bin, "initdb"), "-D", s.DataDir(), "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	if err := s.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// DataDir is the cluster's data directory.
func (s *Server) DataDir() string { return filepath.Join(s.Dir, "data") }

// SocketDir is where the server's unix socket is.
func (s *Server) SocketDir() string { return s.Dir }

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.Dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if os.Getuid() == 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(s.uid), Gid: uint32(s.gid)}
	}
	return cmd
}

// Start starts the server (again, after Stop) and waits until it accepts
// connections.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	// fsync off: a test cluster need not survive a power cut, and the
	// machine is shared.
	cmd := s.command(filepath.Join(s.bin, "postgres"), append([]string{"-D", s.DataDir(), "-k", s.SocketDir(),
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "max_connections=200", "-c", "shared_buffers=16MB"}, s.args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Should the test binary die (a -timeout panic), the server goes
	// with it rather than outliving the test; its backends follow the
	// postmaster.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	logf.Close()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	db, err := sql.Open("pgx", s.URL("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	for {
		select {
		case <-done:
			s.cmd = nil
			log, _ := os.ReadFile(s.logPath)
			return fmt.Errorf("postgres exited at start: %s", log)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down (fast mode: clients are disconnected) and
// waits for it to exit.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	<-s.done
	s.cmd = nil
}

// Kill stops the server and every backend with SIGKILL, as a crash of its
// machine would.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	// The backends are each in a session of their own (postgres calls
	// setsid), so they are found as the postmaster's children, all frozen
	// first so that none notices the others' death and says goodbye.
	pids := append([]int{s.cmd.Process.Pid}, children(s.cmd.Process.Pid)...)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGSTOP)
	}
	for _, pid := range append(pids, children(s.cmd.Process.Pid)...) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	<-s.done
	s.cmd = nil
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, w := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(w); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// Close stops the server and removes its directory.
func (s *Server) Close() {
	s.Stop()
	os.RemoveAll(s.Dir)
}

// URL is the connection string for database db as the superuser.
func (s *Server) URL(db string) string {
	return "postgres://postgres@/" + url.PathEscape(db) + "?host=" + url.QueryEscape(s.SocketDir()) + "&sslmode=disable"
}

// Exec runs statements on database db as the superuser.
func (s *Server) Exec(db, stmt string) error {
	c, err := sql.Open("pgx", s.URL(db))
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Exec(stmt)
	return err
}

// Standby makes a streaming-replication standby of s (pg_basebackup) named
// name, starts it, and makes it synchronous: a commit on s returns once the
// standby has it. It is stopped and removed when the test ends.
func (s *Server) Standby(tb testing.TB, name string) *Server {
	tb.Helper()
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		tb.Fatal(err)
	}
	sb := &Server{Dir: dir, bin: s.bin, uid: s.uid, gid: s.gid, logPath: filepath.Join(dir, "postgres.log"),
		// The WAL receiver introduces itself by cluster_name, which
		// synchronous_standby_names lists.
		args: []string{"-c", "cluster_name=" + name}}
	tb.Cleanup(sb.Close)
	if err := os.Chown(dir, s.uid, s.gid); err != nil {
		tb.Fatal(err)
	}
	bb := sb.command(filepath.Join(s.bin, "pg_basebackup"), "-h", s.SocketDir(), "-U", "postgres", "-D", sb.DataDir(), "-R", "-X", "stream", "--no-sync", "--checkpoint=fast")
	if out, err := bb.CombinedOutput(); err != nil {
		tb.Fatalf("pg_basebackup: %v: %s", err, out)
	}
	if err := sb.Start(); err != nil {
		tb.Fatal(err)
	}
	if err := s.Exec("postgres", `ALTER SYSTEM SET synchronous_standby_names = '`+name+`'`); err != nil {
		tb.Fatal(err)
	}
	if err := s.Exec("postgres", `SELECT pg_reload_conf()`); err != nil {
		tb.Fatal(err)
	}
	c, err := sql.Open("pgx", s.URL("postgres"))
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	for {
		var state string
		err := c.QueryRow(`SELECT sync_state FROM pg_stat_replication WHERE application_name = $1`, name).Scan(&state)
		if err == nil && state == "sync" {
			return sb
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Promote makes a standby the primary and waits until it accepts writes.
func (s *Server) Promote() error {
	return s.Exec("postgres", `SELECT pg_promote(true, 60)`)
}

var dbSeq atomic.Int64

// NewDB creates an empty database and returns its connection string; it is
// dropped when the test ends.
func (s *Server) NewDB(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	admin, err := sql.Open("pgx", s.URL("postgres"))
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		admin, err := sql.Open("pgx", s.URL("postgres"))
		if err != nil {
			return
		}
		defer admin.Close()
		admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
	})
	return s.URL(name)
}

var (
	shared     *Server
	sharedErr  error
	sharedOnce sync.Once
)

// Shared is one server for the whole test binary, started on first use;
// Main stops it. Tests that need only a database use Shared(tb).NewDB(tb).
func Shared(tb testing.TB) *Server {
	tb.Helper()
	sharedOnce.Do(func() { shared, sharedErr = StartServer() })
	if errors.Is(sharedErr, errMissing) {
		tb.Skip(sharedErr)
	}
	if sharedErr != nil {
		tb.Fatal(sharedErr)
	}
	return shared
}

// Main runs the tests and then stops the shared server: call it from
// TestMain as os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	return code
}
