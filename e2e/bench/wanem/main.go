//go:build linux

// Command wanem is a userspace wire emulator for the boot-storm benchmark
// (e2e/bench/tftp/storm.sh) on kernels without sch_netem: it forwards every
// Ethernet frame between two interfaces of its own network namespace, each
// direction with a fixed one-way delay and a random loss, so
//
//	server eth0 <-veth-> w0 [wanem] w1 <-veth-> client eth0
//
// behaves as one lossy, slow wire between the two outer namespaces (same
// subnet: the relay is a transparent L2 bridge, ARP included).
//
//	wanem -a w0 -b w1 -delay 500us -loss 0.001 [-stats FILE]
//
// Mechanics. One AF_PACKET raw socket per interface, bound to it,
// promiscuous, with PACKET_IGNORE_OUTGOING so it never reads back what it
// sent. Per direction a reader goroutine takes batches with recvmmsg, stamps
// them with the time it read them, drops each with probability -loss and
// queues the rest in a lock-free single-producer single-consumer ring (a
// fixed delay keeps arrival order, so the head is always the next frame
// due); a sender goroutine on a thread of its own (timer slack 1 ns) sleeps
// with nanosleep until the head is due, or in read(2) on an eventfd while
// the ring is empty, and then sends, with sendmmsg, every frame that is due
// by then. No frame waits on Go's scheduler (no channel, no timer) and none
// leaves early; it leaves late by the sender's wake-up latency, and by the
// reader's when the reader was slow to read it (-stats late_avg_us and
// late_max_us measure the sender's; both grow when the CPUs are busy).
//
// Frames larger than the MTU must not cross a wire: the veth ends must have
// TSO/GSO (and GRO) off, which storm.sh does with ethtool. A frame that
// still arrives larger than the outgoing MTU (a GSO super-frame) is not
// forwarded and is counted (oversize). Frames whose checksum was left to
// offload (CHECKSUM_PARTIAL, reported through PACKET_VNET_HDR) get it
// computed here (csumfix), so tx checksumming may stay on. Every frame that
// was read but not forwarded for another reason than -loss is counted too:
// queue overflow (-limit), send errors, and the kernel's receive-buffer drops
// of the socket (PACKET_STATISTICS). "notfwd" is their sum; it should be 0.
//
// Counters: -stats FILE is rewritten every second and on SIGUSR1 (one line
// of key=value); SIGTERM or SIGINT prints the same line to stderr and
// exits.
//
// Capacity, measured on the development VM (2 vCPUs, kernel 6.18, veth
// offloads off; TestCapacity with WANEM_CAPACITY=1: one-way UDP of 1442-byte
// frames from the client namespace, -delay 500us, the load generator and
// its receiver on the same 2 CPUs):
//
//	offered frames/s   relay CPU     CPU-s per 100k frames   late avg (max)
//	  10,000            0.14 CPU      1.5                     28 µs (3 ms)
//	  50,000            0.35 CPU      0.7                     29 µs (0.9 ms)
//	 100,000            0.62 CPU      0.6                    127 µs (5 ms)
//	 123,000            0.74 CPU      0.6                    640 µs (32 ms)
//	 139,000 (max)      0.86 CPU      0.6                     12 ms (76 ms)
//
// Every frame was delivered at every rate, but above ~100,000 frames/s
// (~145 MB/s of full frames, one way) the queue grows and frames leave
// increasingly late: the delay is faithful up to about there. The CPU
// includes the receiving veth's softirq work, done in the relay's sendmmsg
// (a plain veth charges it to the sender), and per-frame wake-ups dominate
// at low rates. On 2 CPUs that CPU is taken from the servers and clients
// under test (0.6-0.7 of a CPU in a full-size node-switch storm of N=50):
// a benchmark through the relay measures them on less than 2 CPUs.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const vnetHdrLen = 10 // struct virtio_net_hdr, before each frame (PACKET_VNET_HDR)

// epoch is the origin of mono(): Go's monotonic clock, read through the vDSO.
var epoch = time.Now()

func mono() int64 { return int64(time.Since(epoch)) }

// frame is one Ethernet frame with its virtio_net_hdr in front.
type frame struct {
	buf []byte // vnetHdrLen + frame bytes; len(buf) is the buffer's capacity
	n   int    // bytes of buf in use, header included
	due int64  // mono() time at which it may leave
}

// port is one interface's packet socket.
type port struct {
	name     string
	fd       int
	maxFrame int // largest frame the interface sends: MTU + Ethernet and VLAN headers

	mu       sync.Mutex
	rcvDrops uint64 // PACKET_STATISTICS tp_drops, accumulated (the kernel resets it on read)
}

// stats are one direction's counters.
type stats struct {
	rx, fwd, lost, overflow, oversize, sendErr, csumFix atomic.Uint64
	qhw                                                 atomic.Int64
	lateSum, lateN, lateMax                             atomic.Int64 // ns the batch heads left after their due time
}

// direction forwards from in to out.
type direction struct {
	name    string
	in, out *port
	delay   int64
	loss    float64
	rng     *rand.Rand
	q       *ring
	pool    *sync.Pool
	batch   int
	st      stats
}

// ring is the FIFO of one direction: single producer (the reader), single
// consumer (the sender), no lock. The sender, when it finds the ring empty,
// blocks in read(2) on an eventfd that the reader writes after pushing a
// batch, so no frame waits on Go's scheduler.
type ring struct {
	slots      []*frame
	head, tail atomic.Uint64 // next to take, next free
	idle       atomic.Bool   // the sender is (about to be) blocked on efd
	efd        int
}

func newRing(n int) (*ring, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return &ring{slots: make([]*frame, n), efd: efd}, nil
}

// push appends f and returns the ring's length, or false when it is full.
func (r *ring) push(f *frame) (int, bool) {
	t, h := r.tail.Load(), r.head.Load()
	if t-h >= uint64(len(r.slots)) {
		return 0, false
	}
	r.slots[t%uint64(len(r.slots))] = f
	r.tail.Store(t + 1)
	return int(t + 1 - h), true
}

// wake unblocks the sender if it waits for an empty ring (after pushes).
func (r *ring) wake() {
	if r.idle.Load() {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		_, _ = unix.Write(r.efd, one[:])
	}
}

// peek returns the head, or nil.
func (r *ring) peek() *frame {
	h := r.head.Load()
	if h == r.tail.Load() {
		return nil
	}
	return r.slots[h%uint64(len(r.slots))]
}

// pop drops the head (after peek returned it).
func (r *ring) pop() {
	h := r.head.Load()
	r.slots[h%uint64(len(r.slots))] = nil
	r.head.Store(h + 1)
}

// wait blocks until the ring is not empty.
func (r *ring) wait() {
	r.idle.Store(true)
	for r.peek() == nil {
		var buf [8]byte
		if _, err := unix.Read(r.efd, buf[:]); err != nil && !errors.Is(err, unix.EINTR) {
			fmt.Fprintf(os.Stderr, "wanem: eventfd: %v\n", err)
			time.Sleep(time.Millisecond)
		}
	}
	r.idle.Store(false)
}

// mmsghdr is struct mmsghdr (recvmmsg, sendmmsg).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func openPort(name string) (*port, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	// Protocol 0 receives nothing until bind names ETH_P_ALL, so no frame
	// of another interface slips in before the options are set.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: packet socket: %w", name, err)
	}
	fail := func(what string, err error) (*port, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %s: %w", name, what, err)
	}
	// Before Linux 4.20 there is no PACKET_IGNORE_OUTGOING: readLoop then
	// skips the PACKET_OUTGOING frames itself.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return fail("PACKET_VNET_HDR", err)
	}
	for _, o := range []struct{ force, plain int }{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
		// Room for bursts (a TCP window of several clients at once) while
		// the reader waits for a CPU: a real wire queues rather than drops.
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, o.force, 64<<20) != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, o.plain, 64<<20)
		}
	}
	mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return fail("promiscuous mode", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return fail("bind", err)
	}
	// Reset the statistics: whatever was counted before bind is not ours.
	_, _ = unix.GetsockoptTpacketStats(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	return &port{name: name, fd: fd, maxFrame: ifi.MTU + 14 + 4}, nil
}

// readDrops returns the frames the kernel dropped for want of receive
// buffer space on p's socket so far.
func (p *port) readDrops() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, err := unix.GetsockoptTpacketStats(p.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
		p.rcvDrops += uint64(s.Drops)
	}
	return p.rcvDrops
}

func (d *direction) newFrame() *frame { return d.pool.Get().(*frame) }

// readLoop reads frames from d.in and queues those that survive the loss.
func (d *direction) readLoop() {
	frames := make([]*frame, d.batch)
	iov := make([]unix.Iovec, d.batch)
	names := make([]unix.RawSockaddrLinklayer, d.batch)
	msgs := make([]mmsghdr, d.batch)
	arm := func(i int) {
		iov[i].Base = &frames[i].buf[0]
		iov[i].SetLen(len(frames[i].buf))
		msgs[i] = mmsghdr{}
		msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&names[i]))
		msgs[i].hdr.Namelen = uint32(unsafe.Sizeof(names[i]))
		msgs[i].hdr.Iov = &iov[i]
		msgs[i].hdr.Iovlen = 1
	}
	for i := range frames {
		frames[i] = d.newFrame()
		arm(i)
	}
	for {
		n, err := mmsg(unix.SYS_RECVMMSG, d.in.fd, msgs, unix.MSG_WAITFORONE)
		if err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			fmt.Fprintf(os.Stderr, "wanem: %s: recvmmsg: %v\n", d.in.name, err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		now := mono()
		for i := 0; i < n; i++ {
			f, m := frames[i], &msgs[i]
			f.n = int(m.len)
			trunc := m.hdr.Flags&unix.MSG_TRUNC != 0
			outgoing := names[i].Pkttype == unix.PACKET_OUTGOING
			arm(i) // reset flags and lengths for the next call
			if outgoing {
				continue // kernels without PACKET_IGNORE_OUTGOING
			}
			d.st.rx.Add(1)
			if trunc || f.n-vnetHdrLen > d.out.maxFrame || f.n < vnetHdrLen {
				d.st.oversize.Add(1)
				continue
			}
			if f.buf[0]&unix.VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 {
				start := int(binary.NativeEndian.Uint16(f.buf[6:]))
				off := int(binary.NativeEndian.Uint16(f.buf[8:]))
				if !fixChecksum(f.buf[vnetHdrLen:f.n], start, off) {
					d.st.oversize.Add(1) // malformed: not forwardable as is
					continue
				}
				d.st.csumFix.Add(1)
			}
			clear(f.buf[:vnetHdrLen]) // sent as a plain frame: no offload, no GSO
			if d.loss > 0 && d.rng.Float64() < d.loss {
				d.st.lost.Add(1)
				continue
			}
			f.due = now + d.delay
			l, ok := d.q.push(f)
			if !ok {
				d.st.overflow.Add(1)
				continue
			}
			if int64(l) > d.st.qhw.Load() {
				d.st.qhw.Store(int64(l))
			}
			frames[i] = d.newFrame()
			arm(i)
		}
		d.q.wake()
	}
}

// sendLoop releases the queue's frames on d.out when they are due.
func (d *direction) sendLoop() {
	runtime.LockOSThread() // the timer slack is per thread
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	out := make([]*frame, 0, d.batch)
	iov := make([]unix.Iovec, d.batch)
	msgs := make([]mmsghdr, d.batch)
	for {
		head := d.q.peek()
		if head == nil {
			d.q.wait()
			continue
		}
		if r := head.due - mono(); r > 0 {
			ts := unix.NsecToTimespec(r)
			_ = unix.Nanosleep(&ts, nil) // the head stays the head: FIFO, fixed delay
			continue
		}
		now := mono()
		late := now - head.due
		d.st.lateSum.Add(late)
		d.st.lateN.Add(1)
		if late > d.st.lateMax.Load() {
			d.st.lateMax.Store(late)
		}
		out = out[:0]
		for f := head; f != nil && f.due <= now && len(out) < d.batch; f = d.q.peek() {
			out = append(out, f)
			d.q.pop()
		}
		for i, f := range out {
			iov[i].Base = &f.buf[0]
			iov[i].SetLen(f.n)
			msgs[i] = mmsghdr{}
			msgs[i].hdr.Iov = &iov[i]
			msgs[i].hdr.Iovlen = 1
		}
		for off := 0; off < len(out); {
			k, err := mmsg(unix.SYS_SENDMMSG, d.out.fd, msgs[off:len(out)], 0)
			if err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				d.st.sendErr.Add(1) // this frame is lost; go on with the next
				off++
				continue
			}
			d.st.fwd.Add(uint64(k))
			off += k
		}
		for _, f := range out {
			d.pool.Put(f)
		}
	}
}

// mmsg calls recvmmsg or sendmmsg on msgs and returns how many it handled.
func mmsg(trap uintptr, fd int, msgs []mmsghdr, flags int) (int, error) {
	n, _, e := unix.Syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), uintptr(flags), 0, 0)
	runtime.KeepAlive(msgs)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// fixChecksum completes a frame whose transport checksum was left to
// offload: the 16-bit field at start+off holds the pseudo-header sum and
// the checksum covers frame[start:] (as the kernel's skb_checksum_help).
func fixChecksum(frame []byte, start, off int) bool {
	if start < 0 || start+off+2 > len(frame) {
		return false
	}
	c := ^fold(sum(frame[start:]))
	if c == 0 {
		c = 0xffff // UDP's "no checksum" is 0; 0xffff is the same sum
	}
	binary.BigEndian.PutUint16(frame[start+off:], c)
	return true
}

// sum is the one's-complement sum of b as big-endian 16-bit words, unfolded.
func sum(b []byte) uint64 {
	var s uint64
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		s += v >> 32
		s += v & 0xffffffff
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

func fold(s uint64) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// line renders both directions' counters as one line of key=value.
func line(dirs []*direction) string {
	var b strings.Builder
	var lost, notfwd uint64
	drops := make([]uint64, len(dirs))
	for i, d := range dirs {
		drops[i] = d.in.readDrops()
		lost += d.st.lost.Load()
		notfwd += d.st.overflow.Load() + d.st.oversize.Load() + d.st.sendErr.Load() + drops[i]
	}
	fmt.Fprintf(&b, "lost=%d notfwd=%d", lost, notfwd)
	for i, d := range dirs {
		s := &d.st
		avg := 0.0
		if n := s.lateN.Load(); n > 0 {
			avg = float64(s.lateSum.Load()) / float64(n) / 1e3
		}
		for _, kv := range []struct {
			k string
			v any
		}{
			{"rx", s.rx.Load()}, {"fwd", s.fwd.Load()}, {"lost", s.lost.Load()},
			{"overflow", s.overflow.Load()}, {"oversize", s.oversize.Load()},
			{"senderr", s.sendErr.Load()}, {"rcvdrop", drops[i]},
			{"csumfix", s.csumFix.Load()}, {"qhw", s.qhw.Load()},
			{"late_n", s.lateN.Load()}, {"late_sum_us", s.lateSum.Load() / 1e3},
			{"late_avg_us", fmt.Sprintf("%.1f", avg)},
			{"late_max_us", fmt.Sprintf("%.1f", float64(s.lateMax.Load())/1e3)},
		} {
			fmt.Fprintf(&b, " %s_%s=%v", d.name, kv.k, kv.v)
		}
	}
	return b.String()
}

func writeStats(path, s string) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s+"\n"), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "wanem: %v\n", err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		fmt.Fprintf(os.Stderr, "wanem: %v\n", err)
	}
}

func main() {
	a := flag.String("a", "", "first interface (e.g. w0)")
	b := flag.String("b", "", "second interface (e.g. w1)")
	delay := flag.Duration("delay", 0, "one-way delay, each direction (e.g. 500us)")
	loss := flag.Float64("loss", 0, "probability that a frame is dropped, each direction (0.001 = 0.1%)")
	limit := flag.Int("limit", 100000, "frames queued per direction at most; more are dropped and counted (overflow)")
	batch := flag.Int("batch", 64, "frames per recvmmsg/sendmmsg")
	seed := flag.Uint64("seed", 0, "random seed for the loss (0: from the clock)")
	statsPath := flag.String("stats", "", "rewrite this file with the counters every second and on SIGUSR1")
	flag.Parse()
	if *a == "" || *b == "" || *a == *b || flag.NArg() > 0 || *delay < 0 || *loss < 0 || *loss > 1 || *limit < 1 || *batch < 1 {
		fmt.Fprintln(os.Stderr, "usage: wanem -a IFACE -b IFACE [-delay 500us] [-loss 0.001] [-stats FILE]")
		flag.PrintDefaults()
		os.Exit(2)
	}
	pa, err := openPort(*a)
	if err != nil {
		fmt.Fprintf(os.Stderr, "wanem: %v\n", err)
		os.Exit(1)
	}
	pb, err := openPort(*b)
	if err != nil {
		fmt.Fprintf(os.Stderr, "wanem: %v\n", err)
		os.Exit(1)
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	size := vnetHdrLen + max(pa.maxFrame, pb.maxFrame) + 64 // room to tell an oversize frame
	pool := &sync.Pool{New: func() any { return &frame{buf: make([]byte, size)} }}
	mk := func(name string, in, out *port, stream uint64) *direction {
		q, err := newRing(*limit)
		if err != nil {
			fmt.Fprintf(os.Stderr, "wanem: %v\n", err)
			os.Exit(1)
		}
		return &direction{name: name, in: in, out: out, delay: int64(*delay), loss: *loss,
			rng: rand.New(rand.NewPCG(*seed, stream)), q: q, pool: pool, batch: *batch}
	}
	// The four forwarding loops spend their time in blocking system calls
	// and each needs a P when it returns from one: have one for each.
	runtime.GOMAXPROCS(max(runtime.NumCPU(), 4))
	dirs := []*direction{mk("a2b", pa, pb, 1), mk("b2a", pb, pa, 2)}
	for _, d := range dirs {
		go d.readLoop()
		go d.sendLoop()
	}
	fmt.Fprintf(os.Stderr, "wanem: forwarding %s <-> %s, delay %v, loss %g each direction\n", *a, *b, *delay, *loss)

	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	tick := time.NewTicker(time.Second)
	for {
		select {
		case s := <-sig:
			l := line(dirs)
			if *statsPath != "" {
				writeStats(*statsPath, l)
			}
			if s != syscall.SIGUSR1 {
				fmt.Fprintf(os.Stderr, "wanem: %s\n", l)
				os.Exit(0)
			}
			if *statsPath == "" {
				fmt.Fprintf(os.Stderr, "wanem: %s\n", l)
			}
		case <-tick.C:
			if *statsPath != "" {
				writeStats(*statsPath, line(dirs))
			}
		}
	}
}
