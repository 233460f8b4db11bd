package sshfront

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
)

func TestStartups(t *testing.T) {
	type step struct {
		release bool   // release one connection from src instead of admitting
		src     string // an address; the limiter counts sourceOf it
		draw    int    // the random draw in [0, 100)
		why     string // "" admitted, else the refusal expected
	}
	// fill admits n connections from distinct addresses with a draw that
	// never drops (the early drop's top probability is below 100).
	fill := func(n int) []step {
		var s []step
		for i := range n {
			s = append(s, step{src: netip.AddrFrom4([4]byte{10, 9, 0, byte(i)}).String(), draw: 99})
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
	for _, tc := range []struct {
		name             string
		perSource, total int
		steps            []step
	}{
		{"per-source cap, other sources unaffected, slot back on release", 2, 100, []step{
			{src: "10.0.0.1"}, {src: "10.0.0.1"},
			{src: "10.0.0.1", why: refusedPerSource},
			{src: "10.0.0.2"},
			{release: true, src: "10.0.0.1"},
			{src: "10.0.0.1"},
			{src: "10.0.0.1", why: refusedPerSource},
		}},
		{"below half of the total nothing is dropped, whatever the draw", 10, 10, []step{
			{src: "10.0.0.1"}, {src: "10.0.0.2"}, {src: "10.0.0.3"}, {src: "10.0.0.4"}, {src: "10.0.0.5"},
		}},
		{"early drop rises from 30% at half to 100% at the total", 10, 10, cat(fill(5), []step{
			{src: "10.0.1.1", draw: 29, why: refusedEarlyDrop}, // open 5: p = 30
			{src: "10.0.1.1", draw: 30},
			{src: "10.0.1.2", draw: 43, why: refusedEarlyDrop}, // open 6: p = 30 + 70*1/5 = 44
			{src: "10.0.1.2", draw: 44},
			{src: "10.0.1.3", draw: 99}, {src: "10.0.1.4", draw: 99}, // open 7, 8
			{src: "10.0.1.5", draw: 85, why: refusedEarlyDrop}, // open 9: p = 30 + 70*4/5 = 86
			{src: "10.0.1.5", draw: 86},
			{src: "10.0.1.6", draw: 99, why: refusedTotal}, // open 10: full
			{release: true, src: "10.0.1.5"},
			{src: "10.0.1.6", draw: 99},
		})},
		{"the per-source cap applies before the total", 1, 2, []step{
			{src: "10.0.0.1"}, {src: "10.0.0.1", draw: 99, why: refusedPerSource},
		}},
		{"a total of one has no early drop", 1, 1, []step{
			{src: "10.0.0.1", draw: 0}, {src: "10.0.0.2", draw: 99, why: refusedTotal},
		}},
		{"IPv6 counts per /64, IPv4-mapped as IPv4", 1, 100, []step{
			{src: "2001:db8:0:1::1"},
			{src: "2001:db8:0:1:ffff::2", why: refusedPerSource},
			{src: "2001:db8:0:2::1"},
			{src: "192.0.2.1"},
			{src: "::ffff:192.0.2.1", why: refusedPerSource},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStartups(tc.perSource, tc.total)
			for i, st := range tc.steps {
				src := sourceOf(netip.MustParseAddr(st.src))
				if st.release {
					s.release(src)
					continue
				}
				ok, why := s.admit(src, st.draw)
				if ok != (st.why == "") || why != st.why {
					t.Fatalf("step %d (%s, draw %d): admitted %v %q, want %q", i, st.src, st.draw, ok, why, st.why)
				}
			}
		})
	}
}

func TestRefusalLogSumsUpFloods(t *testing.T) {
	var buf bytes.Buffer
	r := &refusalLog{log: slog.New(slog.NewTextHandler(&buf, nil)), window: 1 << 62} // windows end by flush below only
	defer r.stop()
	lines := func() []string { return strings.Split(strings.TrimSpace(buf.String()), "\n") }

	for i := range 1000 {
		from := "10.0.0.1"
		if i%10 == 9 {
			from = "10.0.0.2"
		}
		r.refused(refusedPerSource, from)
	}
	if l := lines(); len(l) != 1 || !strings.Contains(l[0], "from=10.0.0.1") {
		t.Fatalf("a flood of 1000 wrote %d lines, want 1 at once:\n%s", len(l), buf.String())
	}
	r.flush() // the window ends
	if l := lines(); len(l) != 2 || !strings.Contains(l[1], "count=999") || !strings.Contains(l[1], `10.0.0.1 (899)`) ||
		!strings.Contains(l[1], "sources=2") {
		t.Fatalf("want one summary of 999 more, most from 10.0.0.1:\n%s", buf.String())
	}
	r.flush() // a quiet window: no line, and the next refusal is logged at once
	if l := lines(); len(l) != 2 {
		t.Fatalf("a quiet window wrote a line:\n%s", buf.String())
	}
	r.refused(refusedTotal, "10.0.0.3")
	if l := lines(); len(l) != 3 || !strings.Contains(l[2], "from=10.0.0.3") {
		t.Fatalf("first refusal after a quiet window not logged at once:\n%s", buf.String())
	}
}
