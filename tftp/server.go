// Package tftp is node-switch's read-only TFTP server: github.com/pin/tftp
// on the wire, bootfs for what a name means. Per-node configs are rendered
// from the inventory at the moment of the read; write requests are refused;
// a masked node gets nothing but errors.
package tftp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/node-switch/node-switch/bootprofiles/bootfs"
	"github.com/node-switch/node-switch/metrics"
)

// Options tune the transfer engine; zero values take the defaults below.
type Options struct {
	// Timeout is the retransmission timeout a transfer starts with, before
	// it has measured a round trip (DefaultTimeout). With FixedTimeout it
	// is every packet's timeout (pin/tftp's own is 5 s).
	Timeout time.Duration
	// FixedTimeout turns the adaptive timer off and goes back to
	// pin/tftp's fixed Timeout with Retries and Backoff; for comparisons.
	FixedTimeout bool
	// Retries is how many retransmits a packet gets before the transfer
	// is abandoned (DefaultRetries), with FixedTimeout only: the adaptive
	// timer gives up after Patience instead.
	Retries int
	// Backoff is a fixed pause before each retransmit, with FixedTimeout
	// only. Zero means backoff(): none for the first, then doubling.
	// Negative keeps pin/tftp's default, a random 0-1 s pause.
	Backoff time.Duration
	// Window is the largest RFC 7440 windowsize granted to a client that
	// asks (DefaultWindow); 1 refuses the option. Not with FixedTimeout.
	Window int
	// Anticipate > 0 sends that many blocks ahead of the acknowledgements
	// (pin/tftp's sender anticipation; not RFC 7440, clients do not know).
	Anticipate uint
	// SinglePort serves every transfer from the listening port, as some
	// firewalls in front of PXE networks require.
	SinglePort bool
	// CacheBudget is how many bytes of boot files are served from memory
	// (DefaultCacheBudget when 0; negative: none, every transfer reads its
	// file). A file larger than a quarter of it is always read from disk.
	CacheBudget int64
	// Cache, when set, is a file cache this server shares with others
	// (serve runs one server per listening address, all sending the same
	// files); CacheBudget is then not used.
	Cache *FileCache
}

// The adaptive retransmission timer (our fork of pin/tftp,
// third_party/pin-tftp/FORK.md). A fixed timer shorter than a client's
// round trip sends every block twice (an emulated or busy node, an old PXE
// ROM that acknowledges slowly); a long one stalls a transfer for its
// length at each loss. So each transfer measures its round trips (RFC
// 6298) and waits RTTFloor longer than what it measured: on a LAN a loss
// costs ~100 ms, as with the fixed 100 ms timer this replaces, and a client
// answering in 150-300 ms gets each block once. Timeouts double the wait up
// to RTOCeiling; Patience without progress ends the transfer.
const (
	DefaultTimeout = 200 * time.Millisecond
	RTTFloor       = 100 * time.Millisecond
	RTOCeiling     = 4 * time.Second
	Patience       = 30 * time.Second
	// DefaultWindow covers OVMF's windowsize 4 with room; a loss inside a
	// window resends the rest of it, so larger windows cost more on a
	// lossy wire.
	DefaultWindow = 8
	// DefaultRetries applies with FixedTimeout: ~20 s of patience with
	// backoff().
	DefaultRetries = 12
	fixedTimeout   = 100 * time.Millisecond
)

// backoff is the pause before retransmit number attempt (from 0) with
// FixedTimeout: none, then 100 ms doubling up to 2 s.
func backoff(attempt int) time.Duration {
	if attempt == 0 {
		return 0
	}
	d := 100 * time.Millisecond << (attempt - 1)
	if attempt > 6 || d > 2*time.Second {
		d = 2 * time.Second
	}
	return d
}

// readBuffer is per transfer: 500 concurrent clients hold 32 MiB of it.
const readBuffer = 64 << 10

// Server serves one boot root.
type Server struct {
	fs    *bootfs.FS
	log   *slog.Logger
	srv   *tftp.Server
	cache *FileCache
}

// New makes a server; Serve starts it.
func New(bfs *bootfs.FS, log *slog.Logger, o Options) *Server {
	if o.Cache == nil {
		o.Cache = NewFileCache(o.CacheBudget)
	}
	s := &Server{fs: bfs, log: log, cache: o.Cache}
	s.srv = tftp.NewServer(s.read, s.write)
	if o.FixedTimeout {
		if o.Timeout <= 0 {
			o.Timeout = fixedTimeout
		}
		if o.Retries <= 0 {
			o.Retries = DefaultRetries
		}
		s.srv.SetRetries(o.Retries)
		switch {
		case o.Backoff == 0:
			s.srv.SetBackoff(backoff)
		case o.Backoff > 0:
			b := o.Backoff
			s.srv.SetBackoff(func(int) time.Duration { return b })
		}
	} else {
		if o.Timeout <= 0 {
			o.Timeout = DefaultTimeout
		}
		if o.Window <= 0 {
			o.Window = DefaultWindow
		}
		s.srv.SetAdaptiveTimeout(RTTFloor, RTOCeiling, Patience)
		s.srv.SetWindowSize(o.Window)
	}
	s.srv.SetTimeout(o.Timeout)
	if o.Anticipate > 0 {
		s.srv.SetAnticipate(o.Anticipate)
	}
	if o.SinglePort {
		s.srv.EnableSinglePort()
	}
	s.srv.SetHook(hook{log})
	return s
}

// Serve answers requests on conn until Shutdown.
func (s *Server) Serve(conn net.PacketConn) error { return s.srv.Serve(conn) }

// Shutdown stops accepting requests and waits for running transfers.
func (s *Server) Shutdown() { s.srv.Shutdown() }

func addrOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

func (s *Server) read(name string, rf io.ReaderFrom) error {
	var client, server netip.Addr
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		ra := ot.RemoteAddr()
		client = addrOf(ra.IP)
	}
	if pi, ok := rf.(tftp.RequestPacketInfo); ok {
		server = addrOf(pi.LocalIP())
	}
	// The transfer itself has its own timeouts; the inventory read must
	// not hang a boot forever behind a locked database.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	c, err := s.fs.Open(ctx, name, client, server)
	cancel()
	if err != nil {
		s.logRefusal(name, client, err)
		metrics.TFTPTransfer(resultOf(err), 0)
		return clientError(err)
	}
	defer c.Close()
	// pin/tftp reads one block per call. A boot storm makes the CPU the
	// bottleneck, and every node fetches the same files: one copy in
	// memory serves them all (FileCache), and a file too large for it
	// gets a buffer that turns ~45 reads per 64 KiB into one. The size
	// is set here, so no Seeker is needed.
	var r io.Reader
	size := c.Size
	if f, ok := c.ReadSeeker.(*os.File); ok {
		data, release, cached, err := s.cache.get(f)
		if err != nil {
			s.log.Error("tftp read failed", "file", name, "client", client, "err", err)
			metrics.TFTPTransfer(metrics.Error, 0)
			return clientError(err)
		}
		if cached {
			// ReadFrom returns when the transfer has ended: the copy is
			// not read after release.
			defer release()
			r, size = bytes.NewReader(data), int64(len(data))
		}
	}
	switch {
	case r != nil:
	case size > readBuffer:
		r = bufio.NewReaderSize(c, readBuffer)
	default:
		r = c
	}
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		ot.SetSize(size)
	}
	s.log.Debug("tftp read", "file", name, "client", client, "node", c.Node, "rendered", c.Rendered, "size", size)
	sent, err := rf.ReadFrom(r)
	if err != nil {
		// OVMF asks for tsize alone, then aborts with error 8: normal.
		if isClientAbort(err) {
			metrics.TFTPTransfer(metrics.Aborted, sent)
			s.log.Debug("tftp transfer ended by client", "file", name, "client", client, "err", err)
			return nil
		}
		metrics.TFTPTransfer(metrics.Failed, sent)
		s.log.Info("tftp transfer failed", "file", name, "client", client, "node", c.Node, "err", err)
		return nil
	}
	metrics.TFTPTransfer(metrics.Sent, sent)
	return nil
}

// clientError is what the client is told: enough to debug a boot from the
// console, nothing about the server's file system layout.
func clientError(err error) error {
	switch {
	case errors.Is(err, bootfs.ErrMasked):
		return errors.New("access violation: node is masked")
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("file not found")
	case errors.Is(err, bootfs.ErrBadName):
		return errors.New("file not found: bad name")
	default:
		return errors.New("server error: see node-switch log")
	}
}

// resultOf is clientError for the transfer counters.
func resultOf(err error) metrics.Result {
	switch {
	case errors.Is(err, bootfs.ErrMasked):
		return metrics.Masked
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, bootfs.ErrBadName):
		return metrics.NotFound
	default:
		return metrics.Error
	}
}

func (s *Server) logRefusal(name string, client netip.Addr, err error) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// pxelinux and GRUB try several names; misses are expected.
		s.log.Debug("tftp not found", "file", name, "client", client)
	case errors.Is(err, bootfs.ErrMasked):
		s.log.Debug("tftp refused masked node", "file", name, "client", client, "err", err)
	case errors.Is(err, bootfs.ErrBadName):
		s.log.Info("tftp refused name", "file", name, "client", client, "err", err)
	default:
		s.log.Error("tftp read failed", "file", name, "client", client, "err", err)
	}
}

func (s *Server) write(name string, wt io.WriterTo) error {
	var client netip.Addr
	if it, ok := wt.(tftp.IncomingTransfer); ok {
		ra := it.RemoteAddr()
		client = addrOf(ra.IP)
	}
	metrics.TFTPTransfer(metrics.Refused, 0)
	s.log.Info("tftp write refused", "file", name, "client", client)
	return errors.New("access violation: node-switch TFTP is read-only")
}

// isClientAbort tells a client's own error packet (pin/tftp reports it as
// "code=N") from a network failure.
func isClientAbort(err error) bool {
	return strings.Contains(err.Error(), "code=")
}

// hook logs transfer outcomes at debug level: one line per TFTP decision.
type hook struct{ log *slog.Logger }

func (h hook) OnSuccess(st tftp.TransferStats) {
	h.log.Debug("tftp sent", "file", st.Filename, "client", st.RemoteAddr, "duration", st.Duration,
		"datagrams", st.DatagramsSent, "blksize", st.Opts["blksize"], "window", st.WindowSize,
		"retransmits", st.Retransmits, "srtt", st.SRTT, "rto", st.RTO)
}

func (h hook) OnFailure(st tftp.TransferStats, err error) {
	if st.Filename == "" {
		// Errors of the listening loop (a malformed packet), not of a
		// transfer.
		h.log.Debug("tftp bad packet", "err", err)
		return
	}
	h.log.Debug("tftp transfer failed", "file", st.Filename, "client", st.RemoteAddr, "err", err)
}

// Listen opens the UDP socket for addr (":69"). DHCP and PXE are IPv4
// here, and an IPv4 socket lets pin/tftp learn each request's destination
// address, which answers must come from and configs name for HTTP.
func Listen(addr string) (net.PacketConn, error) {
	network := "udp4"
	if host, _, err := net.SplitHostPort(addr); err == nil && strings.Contains(host, ":") {
		network = "udp6"
	}
	conn, err := net.ListenPacket(network, addr)
	if err != nil {
		return nil, fmt.Errorf("tftp listen %s: %w", addr, err)
	}
	return conn, nil
}
