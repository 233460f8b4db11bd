package web

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestLimiterReservations drives the limiter step by step: attempts are
// reserved before their check, so checks in flight count against the limit
// as failures do; a success frees its place without clearing failures; the
// window runs from the first attempt and refusals do not extend it.
func TestLimiterReservations(t *testing.T) {
	// A step: "r SRC" reserves (want "ok" or "wait DURATION"), "f N" / "s
	// N" ends the Nth reservation made as failed / succeeded, "+DURATION"
	// moves the clock.
	type step struct{ do, want string }
	tests := []struct {
		name  string
		max   int
		steps []step
	}{
		{"a burst gets max reservations, the rest wait a second", 3, []step{
			{"r a", "ok"}, {"r a", "ok"}, {"r a", "ok"}, {"r a", "wait 1s"}, {"r a", "wait 1s"},
			{"r b", "ok"}, // another source is not affected
		}},
		{"a success frees its place", 2, []step{
			{"r a", "ok"}, {"r a", "ok"}, {"r a", "wait 1s"},
			{"s 1", ""}, {"r a", "ok"},
		}},
		{"failures fill the window until it ends", 2, []step{
			{"r a", "ok"}, {"f 1", ""}, {"+1m", ""}, {"r a", "ok"}, {"f 2", ""},
			{"r a", "wait 4m0s"}, {"+3m", ""}, {"r a", "wait 1m0s"},
			{"+59s", ""}, {"r a", "wait 1s"}, {"+2s", ""}, {"r a", "ok"},
		}},
		{"a success does not reset failures", 2, []step{
			{"r a", "ok"}, {"f 1", ""}, {"r a", "ok"}, {"s 2", ""}, {"r a", "ok"}, {"f 3", ""},
			{"r a", "wait 5m0s"},
		}},
		{"a check running across the window's end counts in the next", 2, []step{
			{"r a", "ok"}, {"f 1", ""}, {"r a", "ok"}, {"+6m", ""}, {"r a", "ok"}, {"r a", "wait 1s"},
			{"f 2", ""}, {"r a", "wait 1s"}, {"f 3", ""}, {"r a", "wait 5m0s"},
		}},
		{"in-flight and failed together", 3, []step{
			{"r a", "ok"}, {"r a", "ok"}, {"f 1", ""}, {"r a", "ok"}, {"r a", "wait 1s"},
			{"f 2", ""}, {"r a", "wait 1s"}, {"f 3", ""}, {"r a", "wait 5m0s"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
			l := &limiter{max: tc.max, window: 5 * time.Minute, now: func() time.Time { return now }, m: map[string]*attempts{}}
			var made []reservation
			for i, s := range tc.steps {
				verb, arg, _ := strings.Cut(s.do, " ")
				switch {
				case verb == "r":
					res, ok, wait := l.reserve(arg)
					got := "ok"
					if !ok {
						got = fmt.Sprintf("wait %v", wait)
					} else {
						made = append(made, res)
					}
					if got != s.want {
						t.Fatalf("step %d %q: %s, want %s", i, s.do, got, s.want)
					}
				case verb == "f" || verb == "s":
					var n int
					fmt.Sscan(arg, &n)
					made[n-1].done(verb == "f")
				case strings.HasPrefix(verb, "+"):
					d, err := time.ParseDuration(verb[1:])
					must(t, err)
					now = now.Add(d)
				default:
					t.Fatalf("bad step %q", s.do)
				}
			}
		})
	}
}

// TestLimiterForgets: a source whose attempts all succeeded leaves nothing
// behind, and a full table of live entries counts new sources together.
func TestLimiterForgets(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	l := &limiter{max: 2, window: time.Minute, now: func() time.Time { return now }, m: map[string]*attempts{}}
	res, ok, _ := l.reserve("a")
	if !ok {
		t.Fatal("refused")
	}
	res.done(false)
	if len(l.m) != 0 {
		t.Fatalf("a success left %v", l.m)
	}
	for i := range maxLimited {
		res, _, _ := l.reserve(fmt.Sprint(i))
		res.done(true)
	}
	for i, want := range []bool{true, true, false} {
		if _, ok, _ := l.reserve(fmt.Sprint("new", i)); ok != want {
			t.Fatalf("new source %d with the table full: %v, want %v", i, ok, want)
		}
	}
	now = now.Add(2 * time.Minute)
	if _, ok, _ := l.reserve("later"); !ok || len(l.m) > 2 {
		t.Fatalf("after the window: %v, %d entries", ok, len(l.m))
	}
}

// TestHashGate: at most concurrency hashes at once, at most queue waiting
// (the next refused at once), waiters served when a slot frees, and a
// waiter whose request ends gives up its place.
func TestHashGate(t *testing.T) {
	g := newHashGate(1, 1, time.Hour)
	ctx := context.Background()
	first, ok := g.acquire(ctx)
	if !ok {
		t.Fatal("first refused")
	}
	got := make(chan bool)
	go func() {
		release, ok := g.acquire(ctx)
		if ok {
			defer release()
		}
		got <- ok
	}()
	waitFor := func(n int) {
		for {
			g.mu.Lock()
			w := g.waiting
			g.mu.Unlock()
			if w == n {
				return
			}
			runtime.Gosched()
		}
	}
	waitFor(1)
	if _, ok := g.acquire(ctx); ok {
		t.Fatal("a third acquired with the queue full")
	}
	first()
	if !<-got {
		t.Fatal("the waiter was refused")
	}
	waitFor(0)

	hold, _ := g.acquire(ctx)
	cctx, cancel := context.WithCancel(ctx)
	go func() { _, ok := g.acquire(cctx); got <- ok }()
	waitFor(1)
	cancel()
	if <-got {
		t.Fatal("a cancelled waiter acquired")
	}
	waitFor(0)
	hold()
	if release, ok := g.acquire(ctx); !ok {
		t.Fatal("slot not freed")
	} else {
		release()
	}
}
