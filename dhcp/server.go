package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/node-switch/node-switch/bootprofiles"
	"github.com/node-switch/node-switch/metrics"
	"github.com/node-switch/node-switch/nodes"
)

// Config tunes a Server; zero values pick the defaults.
type Config struct {
	// Interfaces are the only interfaces served. There is no "all": a DHCP
	// server answering on the wrong network breaks that network.
	Interfaces []string
	// ServerIP, when set, is used as the server identifier on the interface
	// that has it; the other interfaces use their first IPv4 address.
	ServerIP  netip.Addr
	LeaseTime time.Duration
	// Loaders is what the boot root holds (shared with the boot servers,
	// so the boot file named here and the config they render agree).
	Loaders *bootprofiles.LoaderWatch
	// HTTPPort is the port of the HTTP boot endpoint (serve's
	// --http-listen), 0 when it is off: native UEFI HTTP boot clients then
	// get no boot URI.
	HTTPPort int
	// Workers bound the requests handled at once per interface (default
	// 4). Each worker reads its own packets from the interface's socket
	// (up to batchSize at a time), so there is no hand-off between
	// goroutines; packets waiting for a worker queue in the socket's
	// receive buffer, and what overflows it is dropped by the kernel. The
	// buffer is left at the kernel's default (about a hundred requests) on
	// purpose: a deep queue under overload only makes every answer late,
	// and a late answer is as good as none to a client that has already
	// retransmitted. Clients retransmit, so a drop costs a retry, not a
	// node.
	Workers int
	// RatePerMAC and Burst limit packets per second from one MAC (default
	// 5/s, burst 20): a PXE client sends 2-4 packets per boot.
	RatePerMAC float64
	Burst      int
	// FlushEvery is how often sightings are written (default 5 s).
	FlushEvery time.Duration
	// UnknownMax caps the unknown MACs remembered (default
	// nodes.DefaultUnknownMax; negative: none are recorded). They are
	// recorded when the SeenRecorder is also an UnknownRecorder.
	UnknownMax int
}

// SeenRecorder stores sightings; *nodes.Store implements it.
type SeenRecorder interface {
	RecordSeen(ctx context.Context, seen []nodes.Seen) error
}

// Server is the DHCP listener around Handle.
type Server struct {
	cfg   Config
	inv   Inventory
	rec   SeenRecorder
	log   *slog.Logger
	limit *rateLimiter
	links []*link

	seenMu sync.Mutex
	seen   map[string]nodes.Seen

	unknown    *unknownBuffer // nil: unknown MACs are not recorded
	unknownRec UnknownRecorder

	stats struct {
		// reads counts recvmmsg calls that returned packets:
		// received/reads is the mean batch.
		reads, received, replied, silent, failed, limited atomic.Uint64
		unknown, unknownDropped                           atomic.Uint64
	}
}

// link is one served interface and its socket.
type link struct {
	name     string
	conn     *net.UDPConn
	settings Settings
}

// NewServer opens a socket on port 67 bound to each interface. It fails,
// naming the interface, when one does not exist or has no IPv4 address.
func NewServer(cfg Config, inv Inventory, rec SeenRecorder, log *slog.Logger) (*Server, error) {
	if len(cfg.Interfaces) == 0 {
		return nil, errors.New("no interface to serve DHCP on (name them with --interface)")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.RatePerMAC <= 0 {
		cfg.RatePerMAC = 5
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 20
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = 5 * time.Second
	}
	if cfg.UnknownMax == 0 {
		cfg.UnknownMax = nodes.DefaultUnknownMax
	}
	s := &Server{cfg: cfg, inv: inv, rec: rec, log: log, limit: newRateLimiter(cfg.RatePerMAC, cfg.Burst),
		seen: map[string]nodes.Seen{}}
	if ur, ok := rec.(UnknownRecorder); ok && cfg.UnknownMax > 0 {
		s.unknown, s.unknownRec = newUnknownBuffer(cfg.UnknownMax), ur
	}
	own, err := ownAddrs()
	if err != nil {
		return nil, err
	}
	serverIPUsed := !cfg.ServerIP.IsValid()
	for _, name := range cfg.Interfaces {
		st, err := InterfaceSettings(name, cfg.ServerIP)
		if err != nil {
			s.close()
			return nil, err
		}
		st.LeaseTime = cfg.LeaseTime
		st.HTTPPort = cfg.HTTPPort
		st.Own = own
		if st.ServerIP == cfg.ServerIP {
			serverIPUsed = true
		}
		conn, err := listen(name)
		if err != nil {
			s.close()
			return nil, err
		}
		s.links = append(s.links, &link{name: name, conn: conn, settings: st})
	}
	if !serverIPUsed {
		s.close()
		return nil, fmt.Errorf("--server-ip %s is not an address of any served interface (%v): the server identifier must be an address clients can reach on the link", cfg.ServerIP, cfg.Interfaces)
	}
	return s, nil
}

// ownAddrs lists the host's IPv4 addresses, on every interface: a node
// given one of them would fight the head node for it. They are read once, at
// start; an address added later is not known.
func ownAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list this host's addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			ip, _ := netip.AddrFromSlice(ipn.IP.To4())
			out = append(out, ip)
		}
	}
	return out, nil
}

// InterfaceSettings finds the address and prefix the server uses on an
// interface: serverIP if the interface has it, else its first IPv4 address.
func InterfaceSettings(name string, serverIP netip.Addr) (Settings, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return Settings{}, fmt.Errorf("interface %s: %w", name, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return Settings{}, fmt.Errorf("interface %s: list addresses: %w", name, err)
	}
	var first Settings
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil {
			continue
		}
		ones, _ := ipn.Mask.Size()
		addr, _ := netip.AddrFromSlice(ipn.IP.To4())
		st := Settings{ServerIP: addr, Prefix: netip.PrefixFrom(addr, ones).Masked()}
		if addr == serverIP {
			return st, nil
		}
		if !first.ServerIP.IsValid() {
			first = st
		}
	}
	if !first.ServerIP.IsValid() {
		return Settings{}, fmt.Errorf("interface %s has no IPv4 address: give it the head node's address on the node network first", name)
	}
	return first, nil
}

// listen opens UDP port 67 bound to one device, so the server hears only the
// named interface and its broadcasts leave through it.
func listen(ifname string) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); serr != nil {
				return
			}
			serr = unix.BindToDevice(int(fd), ifname)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", ":67")
	if err != nil {
		hint := ""
		if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
			hint = " (port 67 needs root or CAP_NET_BIND_SERVICE, and binding to a device CAP_NET_RAW)"
		} else if errors.Is(err, syscall.EADDRINUSE) {
			hint = " (another DHCP server, such as dnsmasq or dhcpd, already listens there: stop it)"
		}
		return nil, fmt.Errorf("interface %s: listen on udp port 67: %w%s", ifname, err, hint)
	}
	return pc.(*net.UDPConn), nil
}

func (s *Server) close() {
	for _, l := range s.links {
		l.conn.Close()
	}
}

// Serve answers requests until ctx is done, then stops the listeners, lets
// the workers finish and writes the sightings still in memory.
func (s *Server) Serve(ctx context.Context) error {
	for _, l := range s.links {
		s.log.Info("dhcp listening", "interface", l.name, "server_ip", l.settings.ServerIP, "prefix", l.settings.Prefix)
	}
	var workers sync.WaitGroup
	readErr := make(chan error, len(s.links)*s.cfg.Workers)
	for _, l := range s.links {
		for range s.cfg.Workers {
			workers.Add(1)
			go func() {
				defer workers.Done()
				if err := s.work(ctx, l); err != nil {
					readErr <- err
				}
			}()
		}
	}
	flushDone := make(chan struct{})
	go func() {
		defer close(flushDone)
		t := time.NewTicker(s.cfg.FlushEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.flush(ctx)
			}
		}
	}()

	var err error
	select {
	case <-ctx.Done():
	case err = <-readErr:
	}
	s.close()
	workers.Wait()
	<-flushDone
	// ctx is done by now; the last flush gets its own short deadline.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	s.flush(fctx)
	cancel()
	s.log.Info("dhcp stopped", "received", s.stats.received.Load(), "reads", s.stats.reads.Load(), "replied", s.stats.replied.Load(),
		"silent", s.stats.silent.Load(), "failed", s.stats.failed.Load(),
		"rate_limited", s.stats.limited.Load(), "unknown", s.stats.unknown.Load(), "unknown_dropped", s.stats.unknownDropped.Load())
	return err
}

// work is one worker: it takes the packets waiting on the interface's
// socket, up to batchSize in one recvmmsg, answers them and sends the
// replies in one sendmmsg, until the socket is closed. Under load most
// wake-ups find several requests queued (perfdhcp at 20,000 DORA/s: 3.8 a
// read on average), so a system call is paid per batch, not per packet.
func (s *Server) work(ctx context.Context, l *link) error {
	pc := ipv4.NewPacketConn(l.conn)
	in := make([]ipv4.Message, batchSize)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	out := newReplies(pc)
	for {
		k, err := pc.ReadBatch(in, 0)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("interface %s: read: %w", l.name, err)
		}
		s.stats.reads.Add(1)
		for _, m := range in[:k] {
			s.admit(ctx, l, m, out)
		}
		s.send(ctx, l, out)
	}
}

// admit checks one received datagram before it is parsed and hands it to
// handle.
func (s *Server) admit(ctx context.Context, l *link, m ipv4.Message, out *replies) {
	s.stats.received.Add(1)
	// 28..34 is chaddr; rate limiting before parsing keeps a flood
	// cheap. Anything too short to hold a header is not DHCP.
	if m.N < 240 {
		s.stats.silent.Add(1)
		metrics.DHCPPacket(0, metrics.DHCPMalformed)
		return
	}
	data := m.Buffers[0][:m.N]
	var mac [6]byte
	copy(mac[:], data[28:34])
	if !s.limit.allow(mac, time.Now()) {
		s.stats.limited.Add(1)
		metrics.DHCPPacket(0, metrics.DHCPRateLimited)
		return
	}
	var from netip.AddrPort
	if a, ok := m.Addr.(*net.UDPAddr); ok {
		from = a.AddrPort()
	}
	s.handle(ctx, l, from, data, out)
}

// handle decides the answer to one request and, when there is one, queues
// it in out; send delivers it.
func (s *Server) handle(ctx context.Context, l *link, from netip.AddrPort, data []byte, out *replies) {
	req, err := dhcpv4.FromBytes(data)
	if err != nil {
		s.stats.silent.Add(1)
		metrics.DHCPPacket(0, metrics.DHCPMalformed)
		s.log.Debug("dhcp ignored malformed packet", "interface", l.name, "from", from, "err", err)
		return
	}
	st := l.settings
	st.Loaders = s.cfg.Loaders.Current()
	reply, d, rec, err := HandleAppend(ctx, out.next(), req, s.inv, st)
	fw := ClientFirmware(req)
	if rec.Node.Name != "" && !errors.Is(err, ErrOtherServer) {
		s.sighted(rec.Node, fw)
	} else if s.unknown != nil && errors.Is(err, nodes.ErrNotFound) {
		// Still no answer: the machine is only remembered.
		s.stats.unknown.Add(1)
		if !s.unknown.add(unknownSighting(req, l.name), time.Now()) {
			s.stats.unknownDropped.Add(1)
		}
	}
	if err != nil {
		metrics.DHCPPacket(msgType(req), decisionOf(err))
		if IsSilent(err) {
			s.stats.silent.Add(1)
			if req.MessageType() == dhcpv4.MessageTypeDecline && rec.Node.Name != "" && !rec.Node.Masked {
				// The node found its reserved address in use: another machine
				// holds it, which an operator must fix.
				s.log.Warn("dhcp decline: the node's reserved address is in use by another machine", "interface", l.name,
					"node", rec.Node.Name, "mac", rec.Node.MAC, "ip", rec.Node.IP)
				return
			}
			if s.log.Enabled(ctx, slog.LevelDebug) {
				// A MAC is a []byte, which slog would print raw.
				s.log.Debug("dhcp no reply", "interface", l.name, "mac", req.ClientHWAddr.String(), "type", req.MessageType(), "why", err)
			}
			return
		}
		s.stats.failed.Add(1)
		s.log.Warn("dhcp cannot answer", "interface", l.name, "mac", req.ClientHWAddr.String(), "type", req.MessageType(), "err", err)
		return
	}
	if !out.add(reply, d.Addr, pending{req: req, node: rec.Node, fw: fw, d: d}) {
		s.stats.failed.Add(1)
		metrics.DHCPPacket(msgType(req), metrics.DHCPSendFailed)
		s.log.Warn("dhcp send failed", "interface", l.name, "node", rec.Node.Name, "to", d.Addr, "err", "not an IPv4 destination")
	}
}

// send delivers the replies queued in out and counts each one.
func (s *Server) send(ctx context.Context, l *link, out *replies) {
	for i := 0; i < out.n; {
		k, err := out.pc.WriteBatch(out.msgs[i:out.n], 0)
		if err != nil || k == 0 {
			// sendmmsg reports an error only for the first message of the
			// call (those before it were sent, and counted on the previous
			// round); the rest are tried again.
			p := out.sent[i]
			s.stats.failed.Add(1)
			metrics.DHCPPacket(msgType(p.req), metrics.DHCPSendFailed)
			s.log.Warn("dhcp send failed", "interface", l.name, "node", p.node.Name, "to", p.d.Addr, "err", err)
			i++
			continue
		}
		for j := i; j < i+k; j++ {
			s.sentReply(ctx, l, out.sent[j], out.msgs[j].Buffers[0])
		}
		i += k
	}
	out.reset()
}

// sentReply counts a reply the kernel took.
func (s *Server) sentReply(ctx context.Context, l *link, p pending, out []byte) {
	s.stats.replied.Add(1)
	metrics.DHCPPacket(msgType(p.req), answerDecision(p.req, out))
	if s.log.Enabled(ctx, slog.LevelDebug) {
		if reply, err := dhcpv4.FromBytes(out); err == nil {
			s.log.Debug("dhcp reply", "interface", l.name, "node", p.node.Name, "mac", p.node.MAC,
				"request", p.req.MessageType(), "reply", reply.MessageType(), "ip", reply.YourIPAddr,
				"firmware", p.fw.Label(), "file", reply.BootFileName, "delivery", p.d.Kind, "to", p.d.Addr)
		}
	}
}

// sighted notes that a node asked; the write happens in flush.
func (s *Server) sighted(n nodes.Node, fw Firmware) {
	label := fw.Label()
	s.seenMu.Lock()
	if label == "" {
		// An OS's DHCP client says nothing about firmware; keep what the
		// firmware said, still pending here or already stored (RecordSeen
		// leaves it alone). n.Firmware is no guide: the cached inventory is
		// not reread for sightings.
		label = s.seen[n.MAC].Firmware
	}
	s.seen[n.MAC] = nodes.Seen{MAC: n.MAC, Time: time.Now(), Firmware: label}
	s.seenMu.Unlock()
}

func (s *Server) flush(ctx context.Context) {
	s.flushSeen(ctx)
	s.flushUnknown(ctx)
}

func (s *Server) flushSeen(ctx context.Context) {
	s.seenMu.Lock()
	if len(s.seen) == 0 {
		s.seenMu.Unlock()
		return
	}
	batch := make([]nodes.Seen, 0, len(s.seen))
	for _, x := range s.seen {
		batch = append(batch, x)
	}
	s.seen = map[string]nodes.Seen{}
	s.seenMu.Unlock()
	if s.rec == nil {
		return
	}
	if err := s.rec.RecordSeen(ctx, batch); err != nil {
		// Last-seen is a convenience: losing a batch costs no boot.
		s.log.Warn("dhcp could not record last-seen times", "nodes", len(batch), "err", err)
	}
}

func (s *Server) flushUnknown(ctx context.Context) {
	if s.unknown == nil {
		return
	}
	batch, dropped := s.unknown.take()
	if dropped > 0 {
		s.log.Warn("dhcp heard more unknown MACs than it keeps: the newest were not recorded (a flood of spoofed MACs, or raise --dhcp-unknown-max)",
			"kept", len(batch), "dropped", dropped)
	}
	if len(batch) == 0 {
		return
	}
	res, err := s.unknownRec.RecordUnknown(ctx, batch, s.cfg.UnknownMax)
	if err != nil {
		s.log.Warn("dhcp could not record unknown MACs", "macs", len(batch), "err", err)
		return
	}
	if res.Evicted > 0 {
		s.log.Warn("dhcp unknown-MAC list is full: the least recently seen were forgotten", "max", s.cfg.UnknownMax, "forgotten", res.Evicted)
	}
}
