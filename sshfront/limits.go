package sshfront

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"
)

// Defaults for the pre-authentication limits, after OpenSSH's MaxStartups
// and PerSourceMaxStartups: one address can hold only a few half-open
// connections, so a flood from one place cannot lock out a key that
// connects from another.
const (
	DefaultMaxStartups          = 100
	DefaultPerSourceMaxStartups = 10
	DefaultMaxAuthenticated     = 64
	DefaultHandshakeTimeout     = 15 * time.Second
)

// Early drop, OpenSSH's "start:rate:full": from half of the total limit on, a
// new unauthenticated connection is refused with a probability that rises
// from earlyDropRate percent to 100 at the limit. A distributed flood then
// thins out before the table is full instead of leaving no room at all; with
// the per-source limit well under half the total, one address alone never
// reaches the early drop, so it cannot make others lose connections.
const earlyDropRate = 30

// Reasons a connection is refused; they name the setting to raise.
const (
	refusedPerSource = "too many unauthenticated connections from this address (PerSourceMaxStartups)"
	refusedTotal     = "too many unauthenticated connections (MaxStartups)"
	refusedEarlyDrop = "early drop: many unauthenticated connections (MaxStartups)"
	refusedSessions  = "too many authenticated connections (MaxAuthenticated)"
)

// startups counts unauthenticated connections per source and in total. It is
// pure bookkeeping (the random draw is passed in) so its policy can be tested
// without a network; the Server guards it with a mutex.
type startups struct {
	perSource, total int
	open             int
	bySource         map[netip.Prefix]int
}

func newStartups(perSource, total int) *startups {
	return &startups{perSource: perSource, total: total, bySource: map[netip.Prefix]int{}}
}

// sourceOf is the unit a per-source limit counts: one IPv4 address, or one
// IPv6 /64, since a single IPv6 host usually has a whole /64 to pick from.
func sourceOf(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, _ := addr.Prefix(bits)
	return p
}

// sourceName is how logs name a source: the address, or the IPv6 /64.
func sourceName(p netip.Prefix) string {
	if !p.IsValid() {
		return "unknown"
	}
	if p.Addr().Is4() {
		return p.Addr().String()
	}
	return p.String()
}

// admit decides on a new unauthenticated connection from src, given a draw
// in [0, 100); on success the connection is counted until release.
func (s *startups) admit(src netip.Prefix, draw int) (ok bool, why string) {
	switch {
	case s.bySource[src] >= s.perSource:
		return false, refusedPerSource
	case s.open >= s.total:
		return false, refusedTotal
	}
	if start := s.total / 2; start > 0 && s.open >= start {
		// Linear from earlyDropRate at start to 100 at total.
		p := earlyDropRate + (100-earlyDropRate)*(s.open-start)/(s.total-start)
		if draw < p {
			return false, refusedEarlyDrop
		}
	}
	s.open++
	s.bySource[src]++
	return true, ""
}

// release forgets one admitted connection from src (its handshake ended,
// either way).
func (s *startups) release(src netip.Prefix) {
	s.open--
	if s.bySource[src]--; s.bySource[src] <= 0 {
		delete(s.bySource, src)
	}
}

// refusalLog logs refused connections without letting a flood write a line
// per connection: the first refusal after a quiet spell is logged at once,
// later ones are counted and summed up once per window while they go on.
type refusalLog struct {
	log    *slog.Logger
	window time.Duration

	mu      sync.Mutex
	timer   *time.Timer // non-nil while a window is open
	count   int
	why     map[string]int
	sources map[string]int
}

func (r *refusalLog) refused(why, from string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer == nil {
		r.log.Warn("ssh connection refused", "why", why, "from", from)
		r.timer = time.AfterFunc(r.window, r.flush)
		return
	}
	if r.why == nil {
		r.why, r.sources = map[string]int{}, map[string]int{}
	}
	r.count++
	r.why[why]++
	r.sources[from]++
}

// flush writes the summary of the window that just ended; a window with no
// refusals closes, so the next refusal is logged at once again.
func (r *refusalLog) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.count == 0 {
		r.timer = nil
		return
	}
	r.log.Warn("ssh connections refused", "count", r.count, "over", r.window.String(),
		"why", topCounts(r.why, 3), "from", topCounts(r.sources, 5), "sources", len(r.sources))
	r.count, r.why, r.sources = 0, nil, nil
	r.timer = time.AfterFunc(r.window, r.flush)
}

// stop ends the current window without its summary line.
func (r *refusalLog) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		r.timer.Stop()
	}
}

// topCounts names the n most frequent keys with their counts, most first.
func topCounts(m map[string]int, n int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	if len(keys) > n {
		keys = keys[:n]
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%s (%d)", k, m[k])
	}
	return strings.Join(out, "; ")
}
