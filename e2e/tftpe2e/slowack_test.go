package tftpe2e

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

// TestSlowAndLossyClient fetches a file with tftp-hpa's client through a
// relay that holds every client-to-server packet back 150-300 ms (a client
// that acknowledges slowly: an emulated or busy node, an old PXE ROM) and,
// in some rows, drops packets both ways. The relay counts the DATA packets
// the server sends for each block and the longest silence between them.
//
// A fixed 100 ms timer sends every block at least twice to such a client;
// the adaptive one learns the round trip and sends each block about once,
// and under loss it resends a lost block after a few round trips, never in
// answer to a duplicate ACK.
func TestSlowAndLossyClient(t *testing.T) {
	lab := netlab.New(t)
	netlab.Require(t, "tftp=tftp-hpa")
	bin := netlab.Binary(t)
	dir := t.TempDir()
	db, root := filepath.Join(dir, "inv.db"), filepath.Join(dir, "boot")
	must(t, os.MkdirAll(root, 0o755))
	// 48 full blocks of 512 and a short one: ~11 s at 225 ms a block.
	content := make([]byte, 48*512+100)
	rand.Read(content)
	must(t, os.WriteFile(filepath.Join(root, "loader.0"), content, 0o644))
	st, err := nodes.Open(db)
	must(t, err)
	st.Close()

	srv, node := lab.Namespace("srv"), lab.Namespace("node")
	lab.Veth(srv, "eth0", node, "eth0")
	srv.Addr("eth0", "10.78.0.1/24")
	node.Addr("eth0", "10.78.0.20/24")

	// Two servers side by side: the adaptive timer on 69, the fixed one
	// it replaces on 1069.
	start := func(port string, extra ...string) {
		args := append([]string{"--db", db, "serve", "--boot-root", root, "--tftp-listen", "10.78.0.1:" + port,
			"--http-listen", "", "--ssh-listen", "", "--log-level", "debug"}, extra...)
		p := srv.Start(nil, bin, args...)
		if !netlab.WaitFor(30*time.Second, func() bool { return p.Exited() || strings.Contains(p.Output(), "tftp listening") }) || p.Exited() {
			t.Fatalf("serve on %s did not come up:\n%s", port, p.Output())
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("serve on %s:\n%s", port, p.Output())
			}
		})
	}
	start("69")
	start("1069", "--tftp-fixed-timeout")

	cases := []struct {
		name   string
		port   int
		loss   float64
		checks func(s relayStats, blocks int) error
	}{
		{"adaptive, slow ACKs", 69, 0, func(s relayStats, blocks int) error {
			// The first block or two go out before a round trip is known.
			if s.extra() > blocks/10 {
				return fmt.Errorf("%d DATA packets sent again for %d blocks", s.extra(), blocks)
			}
			return nil
		}},
		{"fixed 100 ms, slow ACKs (the old timer)", 1069, 0, func(s relayStats, blocks int) error {
			// Shows that the row above can fail.
			if s.extra() < blocks/2 {
				return fmt.Errorf("only %d DATA packets sent again for %d blocks", s.extra(), blocks)
			}
			return nil
		}},
		{"adaptive, slow ACKs, 10% loss each way", 69, 0.10, func(s relayStats, blocks int) error {
			// Each loss costs one resend (two when a retransmission is
			// lost too); a duplicate-ACK storm would double everything.
			if limit := 2*s.dropped + blocks/10; s.extra() > limit {
				return fmt.Errorf("%d DATA packets sent again for %d blocks and %d drops (limit %d)", s.extra(), blocks, s.dropped, limit)
			}
			// A loss stalls the transfer for one timeout (srtt + 100 ms
			// or 4 rttvar, ~0.4 s here). Repeated losses double it up to
			// the 4 s ceiling, and the doubled timer is kept until a
			// block sent once is acknowledged (Karn): an ACK after a
			// resend cannot say which send it answers, and collapsing
			// the timer there would resend every block forever to a
			// client whose round trip grew past it.
			if s.maxGap > 5*time.Second {
				return fmt.Errorf("server silent for %v", s.maxGap)
			}
			return nil
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := startRelay(t, srv, "10.78.0.1:6969", &net.UDPAddr{IP: net.IPv4(10, 78, 0, 1), Port: c.port},
				150*time.Millisecond, 300*time.Millisecond, c.loss)
			dst := filepath.Join(dir, "got-"+strings.ReplaceAll(c.name, " ", "_"))
			began := time.Now()
			out, _ := node.Run("tftp", "-m", "binary", "10.78.0.1", "6969", "-c", "get", "loader.0", dst)
			took := time.Since(began)
			got, err := os.ReadFile(dst)
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("tftp-hpa: %v (%d bytes, want %d)\n%s", err, len(got), len(content), out)
			}
			s := r.stop()
			blocks := len(content)/512 + 1
			t.Logf("%d blocks in %v: %d DATA sent again, %d packets dropped, longest server silence %v, most sends of one block %d",
				blocks, took.Round(time.Millisecond), s.extra(), s.dropped, s.maxGap.Round(time.Millisecond), s.maxSends())
			if err := c.checks(s, blocks); err != nil {
				t.Error(err)
			}
		})
	}
}

// relay is a userspace UDP relay inside the server's namespace standing
// between a TFTP client and server: client-to-server packets are held back
// a random delay in [minDelay, maxDelay], and each packet either way is
// dropped with probability loss. A client that sends its RRQ to the
// relay's address talks to the server through a socket of the relay's own
// (its TID), so every packet of the transfer crosses the relay.
type relay struct {
	front, up, down *net.UDPConn
	wg              sync.WaitGroup
	mu              sync.Mutex
	stats           relayStats
	lastData        time.Time
	timers          []*time.Timer
}

type relayStats struct {
	sends   map[uint16]int // DATA packets the server sent, per block
	dropped int
	maxGap  time.Duration // longest time between two DATA packets
}

func (s relayStats) extra() int {
	n := 0
	for _, c := range s.sends {
		n += c - 1
	}
	return n
}

func (s relayStats) maxSends() int {
	m := 0
	for _, c := range s.sends {
		m = max(m, c)
	}
	return m
}

func startRelay(t *testing.T, ns *netlab.NS, listen string, server *net.UDPAddr, minDelay, maxDelay time.Duration, loss float64) *relay {
	t.Helper()
	r := &relay{stats: relayStats{sends: map[uint16]int{}}}
	r.front = listenUDPIn(t, ns, listen)
	r.up = listenUDPIn(t, ns, server.IP.String()+":0")
	r.down = listenUDPIn(t, ns, server.IP.String()+":0")
	t.Cleanup(func() { r.stop() })
	rng := mrand.New(mrand.NewPCG(1, 2))
	var (
		client   *net.UDPAddr
		serverAt = server // becomes the server's TID with its first answer
	)
	drop := func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		if rng.Float64() < loss {
			r.stats.dropped++
			return true
		}
		return false
	}
	toServer := func(p []byte) {
		if drop() {
			return
		}
		r.mu.Lock()
		d := minDelay + time.Duration(rng.Int64N(int64(maxDelay-minDelay)))
		to := serverAt
		r.timers = append(r.timers, time.AfterFunc(d, func() { r.up.WriteToUDP(p, to) }))
		r.mu.Unlock()
	}
	fromClient := func(c *net.UDPConn) {
		defer r.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			r.mu.Lock()
			client = cloneAddr(from)
			r.mu.Unlock()
			toServer(bytes.Clone(buf[:n]))
		}
	}
	r.wg.Add(3)
	go fromClient(r.front)
	go fromClient(r.down)
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := r.up.ReadFromUDP(buf)
			if err != nil {
				return
			}
			r.mu.Lock()
			serverAt = cloneAddr(from)
			to := client
			if n >= 4 && binary.BigEndian.Uint16(buf) == 3 {
				r.stats.sends[binary.BigEndian.Uint16(buf[2:])]++
				now := time.Now()
				if !r.lastData.IsZero() {
					r.stats.maxGap = max(r.stats.maxGap, now.Sub(r.lastData))
				}
				r.lastData = now
			}
			r.mu.Unlock()
			if to == nil || drop() {
				continue
			}
			r.down.WriteToUDP(buf[:n], to)
		}
	}()
	return r
}

// stop closes the relay and returns its counters.
func (r *relay) stop() relayStats {
	r.front.Close()
	r.up.Close()
	r.down.Close()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, tm := range r.timers {
		tm.Stop()
	}
	return r.stats
}

// listenUDPIn opens a UDP socket inside ns from the test process: a
// socket belongs to the namespace it was created in, so the thread enters
// ns for the socket call only.
func listenUDPIn(t *testing.T, ns *netlab.NS, addr string) *net.UDPConn {
	t.Helper()
	conn, err := func() (*net.UDPConn, error) {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		defer self.Close()
		target, err := os.Open("/var/run/netns/" + ns.Name)
		if err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			return nil, fmt.Errorf("setns %s: %w", ns.Name, err)
		}
		a, err := net.ResolveUDPAddr("udp4", addr)
		var conn *net.UDPConn
		if err == nil {
			conn, err = net.ListenUDP("udp4", a)
		}
		// A thread left in the wrong namespace must not run other
		// goroutines: without UnlockOSThread it ends with this one.
		if serr := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); serr != nil {
			return nil, errors.Join(err, fmt.Errorf("setns back: %w", serr))
		}
		runtime.UnlockOSThread()
		return conn, err
	}()
	if err != nil {
		t.Fatalf("listen %s in %s: %v", addr, ns.Name, err)
	}
	return conn
}

// cloneAddr copies an address ReadFromUDP returned, which a later read may
// reuse while a delayed packet still waits to be sent to it.
func cloneAddr(a *net.UDPAddr) *net.UDPAddr {
	return &net.UDPAddr{IP: slices.Clone(a.IP), Port: a.Port}
}
