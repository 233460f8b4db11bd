package web

import (
	"context"
	"sync"
	"time"
)

// limiter bounds the password checks per source: at most max attempts
// that failed or are being checked, within window from the first of them.
// An attempt is reserved BEFORE its password is hashed, so a burst of
// parallel requests from one source gets max hashes and refusals for the
// rest, not a hash each (a failure counted only after its hash let all of
// a burst through). When max have failed, further attempts from there are
// refused (even with the right password) until the window since the first
// has passed; refused attempts do not extend it, so a lockout always ends.
// A success frees its reservation but does not reset the count: whoever
// holds one account could otherwise guess another's password between
// logins of their own.
type limiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	now    func() time.Time
	m      map[string]*attempts
}

type attempts struct {
	failed   int       // failures within the window
	inflight int       // reserved, being checked
	first    time.Time // start of the window
}

// maxLimited bounds the table a scan from many addresses could grow.
const maxLimited = 100000

// overflowKey counts every new source once the table is full of live
// entries: a flood from very many sources is then limited as a whole.
const overflowKey = "overflow"

// inflightRetry is what a source refused because its attempts are still
// being checked is told to wait: a check takes well under a second, and
// one of them may succeed and free its place.
const inflightRetry = time.Second

// reservation is one reserved attempt; done releases it.
type reservation struct {
	l   *limiter
	key string
}

// reserve takes an attempt for src. When src has none left it returns
// false and how long to wait before trying again.
func (l *limiter) reserve(src string) (reservation, bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	a, ok := l.m[src]
	if !ok {
		if len(l.m) >= maxLimited {
			l.sweep(now)
			if len(l.m) >= maxLimited {
				src = overflowKey
				a, ok = l.m[src]
			}
		}
		if !ok {
			a = &attempts{first: now}
			l.m[src] = a
		}
	}
	if end := a.first.Add(l.window); now.After(end) {
		// A new window; checks still running from the last one count in it.
		a.failed, a.first = 0, now
	}
	if a.failed+a.inflight >= l.max {
		if a.failed >= l.max {
			return reservation{}, false, a.first.Add(l.window).Sub(now)
		}
		return reservation{}, false, inflightRetry
	}
	a.inflight++
	return reservation{l: l, key: src}, true, 0
}

// done releases the attempt, counting it as a failure when failed.
func (r reservation) done(failed bool) {
	if r.l == nil {
		return
	}
	l := r.l
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.m[r.key]
	if !ok {
		return
	}
	a.inflight--
	if failed {
		a.failed++
	}
	if a.failed == 0 && a.inflight == 0 {
		delete(l.m, r.key)
	}
}

// sweep drops the entries whose window has passed and that hold no
// reservation.
func (l *limiter) sweep(now time.Time) {
	for k, a := range l.m {
		if a.inflight == 0 && now.After(a.first.Add(l.window)) {
			delete(l.m, k)
		}
	}
}

// hashGate bounds the password hashes running at once across all sources
// (each costs ~60 ms of a core and 19 MiB; the same process answers DHCP
// and TFTP for the whole cluster on a head of two cores), and the requests
// waiting for one: a request beyond the queue is refused at once rather
// than held with its memory. Waiters are served in arrival order (a
// channel's), so a login that came first is not passed by later ones.
type hashGate struct {
	slots   chan struct{}
	mu      sync.Mutex
	waiting int
	queue   int
	wait    time.Duration
}

func newHashGate(concurrency, queue int, wait time.Duration) *hashGate {
	return &hashGate{slots: make(chan struct{}, concurrency), queue: queue, wait: wait}
}

// acquire takes a slot for one hash, waiting in the queue if there is room
// in it, at most g.wait and while ctx lasts. It returns the release, or
// false when the hash must not run.
func (g *hashGate) acquire(ctx context.Context) (func(), bool) {
	release := func() { <-g.slots }
	select {
	case g.slots <- struct{}{}:
		return release, true
	default:
	}
	g.mu.Lock()
	if g.waiting >= g.queue {
		g.mu.Unlock()
		return nil, false
	}
	g.waiting++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.waiting--
		g.mu.Unlock()
	}()
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return release, true
	case <-ctx.Done():
	case <-t.C:
	}
	return nil, false
}
