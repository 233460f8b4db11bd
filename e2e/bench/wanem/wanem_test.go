//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/node-switch/node-switch/e2e/netlab"
)

// The relay tests build three namespaces, as storm.sh does:
//
//	srv eth0 10.89.0.1 <-veth-> wire w0 [wanem] w1 <-veth-> cli eth0 10.89.0.2
//
// and send UDP "pings" (an echo server in srv) through the relay.

const (
	srvIP = "10.89.0.1"
	cliIP = "10.89.0.2"
)

var nsSeq atomic.Int32

type wire struct {
	srv, wire, cli string
	bin            string
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root (creates network namespaces and packet sockets)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: needs ip (iproute2)")
	}
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// relayBinary builds this package once per test binary.
func relayBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("building the relay: %v", err)
			return
		}
		dir, err := os.MkdirTemp("", "wanem-test")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "wanem")
		if out, err := exec.Command(gobin, "build", "-o", buildBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildBin != "" {
		os.RemoveAll(filepath.Dir(buildBin))
	}
	os.Exit(code)
}

// newWire creates the namespaces (removed in t.Cleanup) with static
// neighbour entries, so loss cannot disturb ARP.
func newWire(t *testing.T) *wire {
	t.Helper()
	needRoot(t)
	tag := fmt.Sprintf("wanem%d-%d", os.Getpid(), nsSeq.Add(1))
	w := &wire{srv: tag + "-srv", wire: tag + "-wire", cli: tag + "-cli", bin: relayBinary(t)}
	for _, ns := range []string{w.srv, w.wire, w.cli} {
		run(t, "ip", "netns", "add", ns)
		ns := ns
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	const srvMAC, cliMAC = "02:89:00:00:00:01", "02:89:00:00:00:02"
	run(t, "ip", "-n", w.srv, "link", "add", "eth0", "address", srvMAC, "type", "veth", "peer", "name", "w0", "netns", w.wire)
	run(t, "ip", "-n", w.wire, "link", "add", "w1", "type", "veth", "peer", "name", "eth0", "address", cliMAC, "netns", w.cli)
	_ = exec.Command("ip", "netns", "exec", w.wire, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1").Run()
	run(t, "ip", "-n", w.wire, "link", "set", "w0", "up")
	run(t, "ip", "-n", w.wire, "link", "set", "w1", "up")
	for _, e := range []struct{ ns, ip, peer, peerMAC string }{{w.srv, srvIP, cliIP, cliMAC}, {w.cli, cliIP, srvIP, srvMAC}} {
		run(t, "ip", "-n", e.ns, "addr", "add", e.ip+"/24", "dev", "eth0")
		run(t, "ip", "-n", e.ns, "link", "set", "eth0", "up")
		run(t, "ip", "-n", e.ns, "neigh", "replace", e.peer, "lladdr", e.peerMAC, "dev", "eth0", "nud", "permanent")
	}
	return w
}

// offloadsOff turns checksum and segmentation offloads off on the four
// veth ends, as storm.sh does, when ethtool is installed; it reports
// whether it did.
func (w *wire) offloadsOff(t *testing.T) bool {
	t.Helper()
	if _, err := exec.LookPath("ethtool"); err != nil {
		return false
	}
	for _, e := range [][2]string{{w.srv, "eth0"}, {w.wire, "w0"}, {w.wire, "w1"}, {w.cli, "eth0"}} {
		run(t, "ip", "netns", "exec", e[0], "ethtool", "-K", e[1], "tx", "off", "tso", "off", "gso", "off", "gro", "off")
	}
	return true
}

// inNS runs f on a thread that is in network namespace ns (sockets f
// creates stay there).
func inNS(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		err = f()
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else the thread dies with this goroutine, still locked
		errc <- err
	}()
	return <-errc
}

func listenUDP(t *testing.T, ns, addr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := inNS(ns, func() error {
		a, err := net.ResolveUDPAddr("udp4", addr)
		if err != nil {
			return err
		}
		c, err = net.ListenUDP("udp4", a)
		return err
	})
	if err != nil {
		t.Fatalf("listen %s in %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echo starts a UDP echo server on srv and returns a client socket on cli.
func (w *wire) echo(t *testing.T) (*net.UDPConn, *net.UDPAddr) {
	t.Helper()
	s := listenUDP(t, w.srv, srvIP+":7")
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := s.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = s.WriteToUDP(buf[:n], from)
		}
	}()
	return listenUDP(t, w.cli, cliIP+":0"), &net.UDPAddr{IP: net.ParseIP(srvIP), Port: 7}
}

type relay struct {
	cmd    *exec.Cmd
	stderr *netlab.SyncBuffer
	done   bool
}

// start runs the relay in the wire namespace until stop (or the test's end).
func (w *wire) start(t *testing.T, args ...string) *relay {
	t.Helper()
	r := &relay{stderr: &netlab.SyncBuffer{}}
	argv := append([]string{"netns", "exec", w.wire, w.bin, "-a", "w0", "-b", "w1"}, args...)
	r.cmd = exec.Command("ip", argv...)
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.stop(t) })
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(r.stderr.String(), "forwarding"); {
		if time.Now().After(deadline) {
			t.Fatalf("relay did not start: %s", r.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r
}

// stop ends the relay with SIGTERM and returns its counters.
func (r *relay) stop(t *testing.T) map[string]float64 {
	t.Helper()
	if !r.done {
		r.done = true
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		if err := r.cmd.Wait(); err != nil {
			t.Errorf("relay: %v\n%s", err, r.stderr.String())
		}
	}
	out := r.stderr.String()
	i := strings.LastIndex(out, "wanem: lost=")
	if i < 0 {
		t.Fatalf("relay printed no counters: %q", out)
	}
	stats := map[string]float64{}
	for _, kv := range strings.Fields(strings.TrimPrefix(out[i:], "wanem: ")) {
		k, v, _ := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("counter %q: %v", kv, err)
		}
		stats[k] = f
	}
	return stats
}

// pings sends count UDP probes interval apart and returns the round-trip
// times of those answered and how many were not (1 s grace at the end).
func pings(t *testing.T, c *net.UDPConn, dst *net.UDPAddr, count int, interval time.Duration) ([]time.Duration, int) {
	t.Helper()
	start := time.Now()
	var mu sync.Mutex
	rtt := map[uint64]time.Duration{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, err := c.Read(buf)
			if err != nil {
				return // the grace second passed without an answer
			}
			if n < 16 {
				continue
			}
			seq := binary.BigEndian.Uint64(buf)
			sent := time.Duration(binary.BigEndian.Uint64(buf[8:]))
			mu.Lock()
			if _, dup := rtt[seq]; !dup && seq < uint64(count) {
				rtt[seq] = time.Since(start) - sent
			}
			mu.Unlock()
		}
	}()
	msg := make([]byte, 64)
	for i := range count {
		binary.BigEndian.PutUint64(msg, uint64(i))
		binary.BigEndian.PutUint64(msg[8:], uint64(time.Since(start)))
		if _, err := c.WriteToUDP(msg, dst); err != nil {
			t.Fatalf("send: %v", err)
		}
		time.Sleep(interval)
	}
	<-done
	mu.Lock()
	defer mu.Unlock()
	var out []time.Duration
	for _, d := range rtt {
		out = append(out, d)
	}
	slices.Sort(out)
	return out, count - len(out)
}

// reach waits until a probe comes back (the relay is up and forwarding).
func reach(t *testing.T, c *net.UDPConn, dst *net.UDPAddr) {
	t.Helper()
	for range 20 {
		if got, _ := pings(t, c, dst, 1, 0); len(got) == 1 {
			return
		}
	}
	t.Fatal("no probe got through the relay")
}

func median(d []time.Duration) time.Duration { return d[len(d)/2] }

func TestRelayDelay(t *testing.T) {
	w := newWire(t)
	c, dst := w.echo(t)

	r := w.start(t, "-delay", "0")
	reach(t, c, dst)
	fast, lost := pings(t, c, dst, 100, 5*time.Millisecond)
	st := r.stop(t)
	if lost > 0 || len(fast) == 0 {
		t.Fatalf("-delay 0: %d of 100 probes lost", lost)
	}
	if st["a2b_fwd"] < 100 || st["b2a_fwd"] < 100 || st["notfwd"] != 0 {
		t.Errorf("-delay 0: counters %v", st)
	}

	r = w.start(t, "-delay", "5ms")
	reach(t, c, dst)
	slow, lost := pings(t, c, dst, 100, 5*time.Millisecond)
	st = r.stop(t)
	if lost > 0 || len(slow) == 0 {
		t.Fatalf("-delay 5ms: %d of 100 probes lost", lost)
	}
	m0, m5 := median(fast), median(slow)
	t.Logf("median RTT: %v with -delay 0, %v with -delay 5ms (min %v, max %v); relay: late_avg_us %v/%v, late_max_us %v/%v, csumfix %v/%v",
		m0, m5, slow[0], slow[len(slow)-1], st["a2b_late_avg_us"], st["b2a_late_avg_us"], st["a2b_late_max_us"], st["b2a_late_max_us"],
		st["a2b_csumfix"], st["b2a_csumfix"])
	if slow[0] < 10*time.Millisecond {
		t.Errorf("-delay 5ms: fastest RTT %v, want >= 10ms (5 ms each way)", slow[0])
	}
	if m5 < 10*time.Millisecond {
		t.Errorf("-delay 5ms: median RTT %v, want >= 10ms", m5)
	}
	if m0 >= m5/2 {
		t.Errorf("median RTT %v with -delay 0 is not well below %v with -delay 5ms", m0, m5)
	}
}

func TestRelayLoss(t *testing.T) {
	w := newWire(t)
	c, dst := w.echo(t)

	r := w.start(t, "-loss", "0")
	reach(t, c, dst)
	_, lost := pings(t, c, dst, 200, 5*time.Millisecond)
	st := r.stop(t)
	if lost != 0 {
		t.Errorf("-loss 0: %d of 200 probes lost (relay: %v)", lost, st)
	}
	if st["lost"] != 0 {
		t.Errorf("-loss 0: relay counted %v lost", st["lost"])
	}

	r = w.start(t, "-loss", "0.5", "-seed", "7")
	got, lost := pings(t, c, dst, 200, 5*time.Millisecond)
	st = r.stop(t)
	t.Logf("-loss 0.5: %d of 200 probes answered (expect ~50: 0.5 each way); relay counted %v lost", len(got), st["lost"])
	// A probe is answered when neither it nor its reply is dropped: 1 in
	// 4, so 50 of 200 with a standard deviation of about 6.
	if len(got) < 20 || len(got) > 85 || lost == 0 {
		t.Errorf("-loss 0.5: %d of 200 probes answered (%d lost), want about 50", len(got), lost)
	}
	if st["lost"] == 0 || st["notfwd"] != 0 {
		t.Errorf("-loss 0.5: counters %v", st)
	}
}

// TestChecksum checks the completion of CHECKSUM_PARTIAL frames against a
// checksum computed from scratch.
func TestChecksum(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 1400, 1401} {
		f := make([]byte, 14+20+8+n)
		ip := f[14:]
		ip[0], ip[9] = 0x45, 17
		copy(ip[12:], []byte{10, 89, 0, 1, 10, 89, 0, 2})
		udp := ip[20:]
		binary.BigEndian.PutUint16(udp[0:], 69)
		binary.BigEndian.PutUint16(udp[2:], 40000)
		binary.BigEndian.PutUint16(udp[4:], uint16(8+n))
		for i := range n {
			udp[8+i] = byte(i*7 + 3)
		}
		// Reference: pseudo-header + UDP header + payload, 16 bits at a time.
		var s uint32
		add := func(b []byte) {
			for i := 0; i < len(b); i += 2 {
				w := uint32(b[i]) << 8
				if i+1 < len(b) {
					w |= uint32(b[i+1])
				}
				s += w
			}
		}
		pseudo := append(append([]byte{}, ip[12:20]...), 0, 17, byte((8+n)>>8), byte(8+n))
		add(pseudo)
		add(udp)
		for s>>16 != 0 {
			s = s&0xffff + s>>16
		}
		want := ^uint16(s)
		if want == 0 {
			want = 0xffff
		}
		// What the kernel hands over: the pseudo-header sum in the field.
		var p uint32
		for i := 0; i < len(pseudo); i += 2 {
			p += uint32(pseudo[i])<<8 | uint32(pseudo[i+1])
		}
		for p>>16 != 0 {
			p = p&0xffff + p>>16
		}
		binary.BigEndian.PutUint16(udp[6:], uint16(p))
		if !fixChecksum(f, 34, 6) {
			t.Fatalf("payload %d: fixChecksum refused", n)
		}
		if got := binary.BigEndian.Uint16(udp[6:]); got != want {
			t.Errorf("payload %d: checksum %#04x, want %#04x", n, got, want)
		}
	}
	if fixChecksum(make([]byte, 40), 34, 6) {
		t.Error("fixChecksum accepted a field past the frame's end")
	}
}

// TestCapacity measures how many frames/s the relay forwards and what CPU
// it costs (set WANEM_CAPACITY=1, and WANEM_ARGS for more relay flags; the
// figures in main.go's comment come from it): one-way UDP from cli to srv
// at increasing offered rates.
func TestCapacity(t *testing.T) {
	if os.Getenv("WANEM_CAPACITY") == "" {
		t.Skip("skipped: set WANEM_CAPACITY=1 to measure the relay's capacity")
	}
	w := newWire(t)
	t.Logf("offloads off (ethtool): %v", w.offloadsOff(t))
	recv := listenUDP(t, w.srv, srvIP+":9")
	send := listenUDP(t, w.cli, cliIP+":0")
	_ = recv.SetReadBuffer(16 << 20)
	var got atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, err := recv.Read(buf); err != nil {
				return
			}
			got.Add(1)
		}
	}()
	dst := &net.UDPAddr{IP: net.ParseIP(srvIP), Port: 9}
	payload := make([]byte, 1400) // 1442-byte frames
	const secs = 3
	for _, rate := range []int{10000, 25000, 50000, 75000, 100000, 125000, 0} {
		r := w.start(t, append([]string{"-delay", "500us"}, strings.Fields(os.Getenv("WANEM_ARGS"))...)...)
		cpu0, c0 := relayCPU(t, r.cmd.Process.Pid), got.Load()
		t0 := time.Now()
		sent := 0
		for time.Since(t0) < secs*time.Second {
			// Pace in 1 ms slices (rate 0: as fast as possible).
			want := int(time.Since(t0).Seconds()*float64(rate)) + 1
			if rate == 0 {
				want = sent + 64
			}
			for ; sent < want; sent++ {
				if _, err := send.WriteToUDP(payload, dst); err != nil && !errors.Is(err, unix.ENOBUFS) {
					t.Fatal(err)
				}
			}
			if rate != 0 {
				time.Sleep(time.Millisecond)
			}
		}
		time.Sleep(50 * time.Millisecond)
		el := time.Since(t0).Seconds()
		n, cpu := got.Load()-c0, relayCPU(t, r.cmd.Process.Pid)-cpu0
		st := r.stop(t)
		t.Logf("offered %6.0f frames/s: delivered %6.0f frames/s, relay CPU %.2f s/s = %.2f s per 100k frames; late avg %.0f us, max %.0f us; queue high-water %.0f; not forwarded %.0f",
			float64(sent)/el, float64(n)/el, cpu/el, cpu/float64(max(n, 1))*1e5,
			st["b2a_late_avg_us"], st["b2a_late_max_us"], st["b2a_qhw"], st["notfwd"])
	}
}

// relayCPU returns the user+system CPU seconds of process pid so far.
func relayCPU(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}
