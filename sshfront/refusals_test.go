package sshfront

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/nodes"
)

func TestCommandRefusals(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 3, 10, 0, 0, time.UTC)
	type step struct {
		due  bool   // the timer of src fires instead of a refusal
		src  string // source
		at   time.Duration
		key  string // actor name of the refusal
		want string // "" no row, "plain", or "held N since S keys K"
		next time.Duration
	}
	burst := func(src string, n int, at time.Duration) []step {
		var s []step
		for i := range n {
			s = append(s, step{src: src, at: at + time.Duration(i)*time.Millisecond, key: "k"})
		}
		return s
	}
	cat := func(parts ...[]step) []step {
		var s []step
		for _, p := range parts {
			s = append(s, p...)
		}
		return s
	}
	first := func(s []step) []step { s[0].want = "plain"; return s }
	for _, tc := range []struct {
		name  string
		every time.Duration
		steps []step
	}{
		{"a burst writes its first refusal, then the count when the minute is up", time.Minute, cat(
			first(burst("10.0.0.5", 50, 0)),
			[]step{{due: true, src: "10.0.0.5", at: time.Minute, want: "held 49 since 1ms keys 1", next: time.Minute}},
			// Quiet for a minute: the spell ends, and the next
			// refusal is written at once.
			[]step{{due: true, src: "10.0.0.5", at: 2 * time.Minute}},
			[]step{{src: "10.0.0.5", at: 3 * time.Minute, key: "k", want: "plain"}},
		)},
		{"sources are counted apart", time.Minute, []step{
			{src: "10.0.0.5", key: "a", want: "plain"},
			{src: "10.0.0.6", at: time.Second, key: "b", want: "plain"},
			{src: "10.0.0.5", at: 2 * time.Second, key: "a"},
			{src: "10.0.0.5", at: 3 * time.Second, key: "c"},
			{due: true, src: "10.0.0.5", at: time.Minute, want: "held 2 since 2s keys 2", next: time.Minute},
			{due: true, src: "10.0.0.6", at: time.Minute + time.Second},
		}},
		{"an early timer waits for the rest of the minute", time.Minute, []step{
			{src: "10.0.0.5", key: "a", want: "plain"},
			{src: "10.0.0.5", at: time.Second, key: "a"},
			{due: true, src: "10.0.0.5", at: 40 * time.Second, next: 20 * time.Second},
			{due: true, src: "10.0.0.5", at: time.Minute, want: "held 1 since 1s keys 1", next: time.Minute},
		}},
		{"a late timer: the count goes out with the next refusal", time.Minute, []step{
			{src: "10.0.0.5", key: "a", want: "plain"},
			{src: "10.0.0.5", at: time.Second, key: "a"},
			{src: "10.0.0.5", at: 70 * time.Second, key: "a", want: "held 2 since 1s keys 1"},
			// The timer, once it runs, finds the next minute open.
			{due: true, src: "10.0.0.5", at: 80 * time.Second, next: 50 * time.Second},
		}},
		{"a refusal after a quiet minute whose timer has not run is written alone", time.Minute, []step{
			{src: "10.0.0.5", key: "a", want: "plain"},
			{src: "10.0.0.5", at: 90 * time.Second, key: "a", want: "plain"},
			{src: "10.0.0.5", at: 100 * time.Second, key: "a"},
			{due: true, src: "10.0.0.5", at: 100 * time.Second, next: 50 * time.Second},
			{due: true, src: "10.0.0.5", at: 150 * time.Second, want: "held 1 since 1m40s keys 1", next: time.Minute},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := commandRefusals{every: tc.every}
			for i, s := range tc.steps {
				var (
					row  refusalRow
					ok   bool
					next time.Duration
				)
				if s.due {
					row, ok, next = c.due(s.src, t0.Add(s.at))
				} else {
					row, ok = c.refused(s.src, refusal{actor: nodes.Actor{Name: s.key}, line: fmt.Sprint("cmd ", i), why: "no", at: t0.Add(s.at)})
				}
				got := ""
				switch {
				case ok && row.held == 0:
					got = "plain"
				case ok:
					got = fmt.Sprintf("held %d since %s keys %d", row.held, row.since.Sub(t0), row.keys)
				}
				if got != s.want || next != s.next || (ok && row.src != s.src) {
					t.Fatalf("step %d %+v: got %q next %s src %s", i, s, got, next, row.src)
				}
			}
		})
	}
}

// At shutdown every count still held is written, in one row per source with
// the last refusal; a source with nothing held writes nothing, and all
// spells are forgotten.
func TestCommandRefusalsDrain(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 3, 10, 0, 0, time.UTC)
	c := commandRefusals{every: time.Minute}
	for i := range 12 {
		c.refused("10.0.0.5", refusal{actor: nodes.Actor{Name: "k"}, line: fmt.Sprint("cmd ", i), why: "no", at: t0.Add(time.Duration(i) * time.Second)})
	}
	c.refused("10.0.0.6", refusal{actor: nodes.Actor{Name: "k"}, line: "alone", why: "no", at: t0})
	rows := c.drain()
	if len(rows) != 1 || rows[0].held != 11 || rows[0].line != "cmd 11" || rows[0].src != "10.0.0.5" {
		t.Fatalf("drain: %+v", rows)
	}
	e := rows[0].event()
	if e.Action != nodes.ActionSSHRefused || e.Reason != "cmd 11" ||
		!strings.Contains(e.Result, "refused: no [the last of 11 refusals from 10.0.0.5 since 2026-12-06T03:10:01Z") {
		t.Fatalf("event: %+v", e)
	}
	if rows := c.drain(); len(rows) != 0 {
		t.Fatalf("second drain: %+v", rows)
	}
}
