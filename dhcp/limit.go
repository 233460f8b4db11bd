package dhcp

import (
	"sync"
	"time"
)

// rateLimiter is a token bucket per MAC. A client stuck in a DISCOVER loop,
// or a flood spoofing one MAC, spends its own tokens and nobody else's: the
// check runs in the socket reader, before a packet takes a worker.
type rateLimiter struct {
	rate  float64 // tokens per second
	burst float64

	mu      sync.Mutex
	buckets map[[6]byte]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(perSecond float64, burst int) *rateLimiter {
	return &rateLimiter{rate: perSecond, burst: float64(burst), buckets: map[[6]byte]*bucket{}}
}

// allow takes one token for mac at time now.
func (l *rateLimiter) allow(mac [6]byte, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Forget idle clients now and then so a scan of random MACs cannot
	// grow the map without bound. A bucket idle for burst/rate is full
	// again anyway, so dropping it changes nothing.
	if now.Sub(l.swept) > 10*time.Second {
		idle := time.Duration(l.burst / l.rate * float64(time.Second))
		for k, b := range l.buckets {
			if now.Sub(b.last) > idle {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[mac]
	if !ok {
		l.buckets[mac] = &bucket{tokens: l.burst - 1, last: now}
		return true
	}
	b.tokens += now.Sub(b.last).Seconds() * l.rate
	if b.tokens > l.burst {
		b.tokens = l.burst
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
