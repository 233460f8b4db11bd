package tftp

// node-switch fork: the adaptive sender. See FORK.md.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// rtoConfig bounds the per-transfer retransmission timeout.
type rtoConfig struct {
	initial  time.Duration // before the first round-trip sample
	floor    time.Duration
	ceiling  time.Duration
	patience time.Duration // longest time without progress before giving up
}

// rtoEstimator is RFC 6298's retransmission timer for one transfer:
// smoothed round trip and its variance, a floor and a ceiling, and a
// doubling on every timeout that stays until a fresh sample replaces it.
// Karn's rule (no sample from a retransmitted block) is the caller's part.
//
// The floor also bounds the variance term from below (RFC 6298's G, set
// the way Linux TCP sets its minimum RTO): a client that acknowledges
// steadily after 150 ms drives the variance towards zero, and a timer of
// srtt + 1 ms would then fire at the first hiccup of a busy machine.
type rtoEstimator struct {
	cfg          rtoConfig
	srtt, rttvar time.Duration
	rto          time.Duration
	sampled      bool
}

func newRTOEstimator(cfg rtoConfig) rtoEstimator {
	e := rtoEstimator{cfg: cfg}
	e.rto = e.clamp(cfg.initial)
	return e
}

func (e *rtoEstimator) clamp(d time.Duration) time.Duration {
	if d < e.cfg.floor {
		d = e.cfg.floor
	}
	if e.cfg.ceiling > 0 && d > e.cfg.ceiling {
		d = e.cfg.ceiling
	}
	return d
}

// sample takes one round trip of a block sent exactly once.
func (e *rtoEstimator) sample(r time.Duration) {
	if !e.sampled {
		e.srtt, e.rttvar, e.sampled = r, r/2, true
	} else {
		diff := e.srtt - r
		if diff < 0 {
			diff = -diff
		}
		e.rttvar = (3*e.rttvar + diff) / 4
		e.srtt = (7*e.srtt + r) / 8
	}
	e.rto = e.clamp(e.srtt + max(e.cfg.floor, 4*e.rttvar))
}

// backoff doubles the timeout after a timeout (RFC 6298 5.5).
func (e *rtoEstimator) backoff() { e.rto = e.clamp(2 * e.rto) }

// errPatience is returned when a transfer made no progress for the
// configured patience.
var errPatience = errors.New("no acknowledgement within the transfer's patience")

// adaptive reports whether the sender runs the adaptive code path.
func (s *sender) adaptive() bool { return s.rtoCfg.floor > 0 && !s.sendA.enabled }

// negotiateWindow answers a client's RFC 7440 windowsize option: the
// smaller of its value and the server's limit; removed (the client then
// runs lock-step) when the server has none.
func (s *sender) negotiateWindow(value string) bool {
	n, err := strconv.Atoi(value)
	if err != nil || n < 1 || s.maxWindow < 2 || !s.adaptive() {
		return false
	}
	n = min(n, s.maxWindow)
	s.window = n
	s.opts["windowsize"] = strconv.Itoa(n)
	return true
}

// sendOACKAdaptive sends the OACK until the client acknowledges it with
// ACK 0; its round trip is the transfer's first RTT sample.
func (s *sender) sendOACKAdaptive(l int) error {
	start := time.Now()
	sent, retransmitted := time.Time{}, false
	for {
		if time.Since(start) > s.rtoCfg.patience {
			return errPatience
		}
		if err := s.conn.sendTo(s.send[:l], s.addr); err != nil {
			return err
		}
		s.datagramsSent++
		if !sent.IsZero() {
			retransmitted = true
			s.retransmits++
		}
		sent = time.Now()
		deadline := sent.Add(s.est.rto)
		for {
			p, err := s.receivePacket(deadline, nil)
			if isTimeout(err) {
				s.est.backoff()
				break
			}
			if err != nil {
				return err
			}
			if ack, ok := p.(pACK); ok && ack.block() == 0 {
				s.datagramsAcked++
				if !retransmitted {
					s.est.sample(time.Since(sent))
				}
				return nil
			}
		}
	}
}

// receivePacket sends pending, if any, then reads the next packet from
// the transfer's peer until deadline; ERROR packets become errors.
func (s *sender) receivePacket(deadline time.Time, pending []byte) (interface{}, error) {
	cc, socket := s.conn.(*connConnection)
	connected := socket && cc.raw != nil
	if pending != nil && !connected {
		if err := s.conn.sendTo(pending, s.addr); err != nil {
			return nil, err
		}
		pending = nil
	}
	for {
		// A socket's deadline is re-armed only when it is past or later
		// than wanted: lock-step moves the deadline at every block, and
		// an early wake-up every RTO costs less than a timer update per
		// block. The single-port connection's timeout is per read.
		if now := time.Now(); !socket || !s.armed.After(now) || s.armed.After(deadline) {
			if err := s.conn.setDeadline(deadline.Sub(now)); err != nil {
				return nil, err
			}
			s.armed = deadline
		}
		var (
			n    int
			addr *net.UDPAddr
			err  error
		)
		if pending != nil {
			n, addr, err = cc.sendRead(pending, s.receive)
			pending = nil
		} else {
			n, addr, err = s.conn.readFrom(s.receive)
		}
		if isTimeout(err) && socket && time.Now().Before(deadline) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !addr.IP.Equal(s.addr.IP) || (s.tid != 0 && addr.Port != s.tid) {
			continue
		}
		p, err := parsePacket(s.receive[:n])
		if err != nil {
			continue
		}
		s.tid = addr.Port
		if e, ok := p.(pERROR); ok {
			return nil, fmt.Errorf("sending block %d: code=%d, error: %s", s.block, e.code(), strings.TrimRight(e.message(), "\x00"))
		}
		return p, nil
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readFromAdaptive sends r in windows of s.window blocks (1 = lock-step,
// RFC 1350) with an RFC 6298 timer per transfer:
//
//   - Only an ACK that acknowledges new blocks moves the transfer on; a
//     duplicate or stale ACK is ignored, never answered with a resend
//     (RFC 1123 4.2.3.1, the Sorcerer's Apprentice).
//   - An ACK inside the window (RFC 7440: the client saw a gap) resends
//     from the block after it, the rest of the window with it.
//   - On timeout the window is sent again from the oldest unacknowledged
//     block and the timer doubles.
//   - A round trip is sampled only from a window-ending block sent once
//     (Karn's rule).
//   - The transfer is abandoned after patience without progress.
func (s *sender) readFromAdaptive(r io.Reader) (n int64, err error) {
	w := max(s.window, 1)
	blksize := len(s.send) - 4
	bufs := make([][]byte, w)
	lens := make([]int, w)
	sentAt := make([]time.Time, w)
	resent := make([]bool, w)
	for i := range bufs {
		bufs[i] = make([]byte, blksize+4)
		binary.BigEndian.PutUint16(bufs[i], opDATA)
	}
	// Block numbers count from 1 without wrapping; the wire carries them
	// modulo 2^16 (the common rollover to 0).
	var (
		acked    uint64 // highest block acknowledged
		next     uint64 = 1
		read     uint64 // highest block read from r
		last     uint64 // the final (short) block, once read
		progress = time.Now()
		deadline time.Time
		// The window's last block goes out with the read that waits for
		// its answer (connConnection.sendRead).
		pending []byte
	)
	for {
		// Send what the window allows.
		for next <= acked+uint64(w) && (last == 0 || next <= last) {
			i := next % uint64(w)
			if next > read {
				l, rerr := io.ReadFull(r, bufs[i][4:])
				if rerr != nil && rerr != io.ErrUnexpectedEOF && rerr != io.EOF {
					return n, rerr
				}
				n += int64(l)
				lens[i] = l
				binary.BigEndian.PutUint16(bufs[i][2:], uint16(next))
				read = next
				if l < blksize {
					last = next
				}
				resent[i] = false
			} else {
				resent[i] = true
				s.retransmits++
			}
			s.block = uint16(next)
			if pending != nil {
				if err := s.conn.sendTo(pending, s.addr); err != nil {
					return n, err
				}
			}
			pending = bufs[i][:4+lens[i]]
			s.datagramsSent++
			sentAt[i] = time.Now()
			deadline = sentAt[i].Add(s.est.rto)
			next++
		}
		// The timer runs from the last transmission: packets that do not
		// move the transfer on (duplicate ACKs above all) must not push it
		// back, or a client repeating its ACK would keep us from ever
		// resending.
		p, err := s.receivePacket(deadline, pending)
		pending = nil
		if isTimeout(err) {
			if time.Since(progress) > s.rtoCfg.patience {
				return n, fmt.Errorf("block %d: %w", acked+1, errPatience)
			}
			s.est.backoff()
			next = acked + 1
			continue
		}
		if err != nil {
			return n, err
		}
		ack, ok := p.(pACK)
		if !ok {
			continue
		}
		// How far past the acknowledged point this ACK reaches; 0 is a
		// duplicate, beyond what was sent is stale (a previous wrap).
		d := uint64(ack.block() - uint16(acked))
		if d == 0 || acked+d >= next {
			continue
		}
		s.datagramsAcked++
		acked += d
		progress = time.Now()
		i := acked % uint64(w)
		if acked == next-1 && !resent[i] {
			s.est.sample(time.Since(sentAt[i]))
		}
		if acked == last {
			return n, nil
		}
		// An ACK short of the window's end means the client missed the
		// block after it: go back to it (RFC 7440). After a full window
		// next is there already.
		next = acked + 1
	}
}
