package tftp

import (
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
		backoff int
		want    time.Duration
	}{
		{"before any sample", nil, 0, 200 * ms},
		{"first sample: srtt + 4 * srtt/2", []time.Duration{150 * ms}, 0, 450 * ms},
		{"steady slow client: srtt + floor", repeat(150*ms, 40), 0, 250 * ms},
		{"fast LAN: floor plus the round trip", repeat(ms, 40), 0, 101 * ms},
		{"backoff doubles", repeat(150*ms, 40), 1, 500 * ms},
		{"backoff stops at the ceiling", repeat(150*ms, 40), 6, 4 * time.Second},
		{"a new sample replaces the backoff", append(repeat(150*ms, 40), 150*ms), 0, 250 * ms},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newRTOEstimator(cfg)
			for i, s := range c.samples {
				if c.name == "a new sample replaces the backoff" && i == len(c.samples)-1 {
					e.backoff()
					e.backoff()
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
