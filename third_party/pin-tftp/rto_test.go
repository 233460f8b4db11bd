package tftp

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// node-switch fork: the RFC 6298 arithmetic of the adaptive sender.
func TestRTOEstimator(t *testing.T) {
	const ms = time.Millisecond
	cfg := rtoConfig{initial: 200 * ms, floor: 100 * ms, ceiling: 4 * time.Second}
	cases := []struct {
		name    string
		samples []time.Duration
		// backoffBeforeLast times out that often before the last sample.
		backoffBeforeLast int
		backoff           int
		want              time.Duration
	}{
		{"before any sample", nil, 0, 0, 200 * ms},
		{"first sample: srtt + 4 * srtt/2", []time.Duration{150 * ms}, 0, 0, 450 * ms},
		{"steady slow client: srtt + floor", repeat(150*ms, 40), 0, 0, 250 * ms},
		{"fast LAN: floor plus the round trip", repeat(ms, 40), 0, 0, 101 * ms},
		{"backoff doubles", repeat(150*ms, 40), 0, 1, 500 * ms},
		{"backoff stops at the ceiling", repeat(150*ms, 40), 0, 6, 4 * time.Second},
		{"a new sample replaces the backoff", repeat(150*ms, 41), 2, 0, 250 * ms},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newRTOEstimator(cfg)
			for i, s := range c.samples {
				if i == len(c.samples)-1 {
					for range c.backoffBeforeLast {
						e.backoff()
					}
				}
				e.sample(s)
			}
			for range c.backoff {
				e.backoff()
			}
			// Integer arithmetic leaves the variance a few ns above 0.
			if d := e.rto - c.want; d < 0 || d > ms {
				t.Errorf("rto = %v, want %v (srtt %v, rttvar %v)", e.rto, c.want, e.srtt, e.rttvar)
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = d
	}
	return s
}

// A client that never acknowledges: the sender backs off, doubling its
// timer, and gives up after its patience with an ERROR to the client.
func TestAdaptivePatience(t *testing.T) {
	const ms = time.Millisecond
	s := NewServer(func(_ string, rf io.ReaderFrom) error {
		_, err := rf.ReadFrom(bytes.NewReader(make([]byte, 4096)))
		return err
	}, nil)
	s.SetTimeout(20 * ms)
	// Without backoff, 300 ms of patience at 20 ms would be 15 sends.
	s.SetAdaptiveTimeout(20*ms, time.Second, 300*ms)
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(conn)
	defer s.Shutdown()

	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WriteToUDP([]byte("\x00\x01file\x00octet\x00"), conn.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Fatal(err)
	}
	sends := 0
	buf := make([]byte, 1024)
	for {
		// A guard against a hang, not a measurement.
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("after %d DATA packets: %v", sends, err)
		}
		p, err := parsePacket(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		switch p := p.(type) {
		case pDATA:
			if p.block() != 1 {
				t.Fatalf("block %d without an ACK for block 1", p.block())
			}
			sends++
		case pERROR:
			if !strings.Contains(p.message(), "no acknowledgement") {
				t.Errorf("error %q, want the patience error", p.message())
			}
			if sends < 2 || sends > 8 {
				t.Errorf("block 1 sent %d times, want a few with the timer doubling", sends)
			}
			return
		}
	}
}
