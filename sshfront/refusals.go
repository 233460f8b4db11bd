package sshfront

import (
	"fmt"
	"sync"
	"time"

	"github.com/node-switch/node-switch/nodes"
)

// DefaultRefusalLogEvery is how often one source's refused commands may
// write a logbook row. A key holder running refused commands in a loop
// would otherwise grow the logbook (and its disk) by a row per command.
const DefaultRefusalLogEvery = time.Minute

// refusal is one refused command (or shell, subsystem, terminal).
type refusal struct {
	actor     nodes.Actor
	line, why string
	at        time.Time
}

// refusalRow is a logbook row about refusals from one source: a single
// refusal (held 0), or the last of held refusals that were counted instead
// of written one by one.
type refusalRow struct {
	refusal
	src   string
	held  int       // refusals this row stands for; 0 for a plain row
	since time.Time // the first of them
	keys  int       // how many keys they came from
}

// event is the logbook entry for the row. The count is in the row itself,
// so "log --action ssh-refused" shows every refusal there was, one way or
// the other.
func (r refusalRow) event() nodes.Event {
	result := "refused: " + r.why
	if r.held > 0 {
		by := ""
		if r.keys > 1 {
			by = fmt.Sprintf(" by %d keys", r.keys)
		}
		result += fmt.Sprintf(" [the last of %d refusals from %s%s since %s, counted rather than logged one by one: at most one row a minute per address]",
			r.held, r.src, by, r.since.UTC().Format(time.RFC3339))
	}
	return nodes.Event{Action: nodes.ActionSSHRefused, Reason: r.line, Result: result}
}

// commandRefusals decides which refusals become logbook rows. From one
// source (an IPv4 address or IPv6 /64) the first refusal after a quiet spell
// is written at once; later ones are counted, and once the spell's interval
// is up the count is written with the last of them, which starts the next
// interval. A spell with nothing counted when its interval is up ends, so
// the next refusal is written at once again. It is pure bookkeeping (times
// are passed in), so it can be tested without waiting; refusalBook runs it
// with timers.
type commandRefusals struct {
	every   time.Duration
	sources map[string]*refusalSpell
}

type refusalSpell struct {
	written time.Time // when the source's last row was written
	held    int
	since   time.Time
	last    refusal
	keys    map[string]bool
}

// refused takes one refusal from src and returns the row to write now, if
// any.
func (c *commandRefusals) refused(src string, r refusal) (refusalRow, bool) {
	if c.sources == nil {
		c.sources = map[string]*refusalSpell{}
	}
	sp := c.sources[src]
	if sp == nil {
		c.sources[src] = &refusalSpell{written: r.at}
		return refusalRow{refusal: r, src: src}, true
	}
	// The interval is up but its timer has not run yet (it is late, or
	// about to): nothing held is written alone, a count goes out with this
	// one, which it then includes.
	up := r.at.Sub(sp.written) >= c.every
	if up && sp.held == 0 {
		sp.written = r.at
		return refusalRow{refusal: r, src: src}, true
	}
	if sp.held == 0 {
		sp.since, sp.keys = r.at, map[string]bool{}
	}
	sp.held++
	sp.last = r
	sp.keys[r.actor.Name] = true
	if up {
		return c.flush(src, sp, r.at), true
	}
	return refusalRow{}, false
}

// due is called when src's interval may be up: it returns the row to write,
// if any, and how long until src is due again (0: the spell is over).
func (c *commandRefusals) due(src string, now time.Time) (row refusalRow, ok bool, next time.Duration) {
	sp := c.sources[src]
	switch {
	case sp == nil:
		return refusalRow{}, false, 0
	case now.Sub(sp.written) < c.every:
		return refusalRow{}, false, c.every - now.Sub(sp.written)
	case sp.held == 0:
		delete(c.sources, src)
		return refusalRow{}, false, 0
	}
	return c.flush(src, sp, now), true, c.every
}

func (c *commandRefusals) flush(src string, sp *refusalSpell, now time.Time) refusalRow {
	row := refusalRow{refusal: sp.last, src: src, held: sp.held, since: sp.since, keys: len(sp.keys)}
	sp.written, sp.held, sp.keys = now, 0, nil
	return row
}

// drain returns the rows of every count not yet written and forgets all
// sources: the daemon is stopping, and no refusal may go unrecorded.
func (c *commandRefusals) drain() []refusalRow {
	var rows []refusalRow
	for src, sp := range c.sources {
		if sp.held > 0 {
			rows = append(rows, c.flush(src, sp, sp.last.at))
		}
	}
	c.sources = nil
	return rows
}

// refusalBook runs commandRefusals for a Server: one timer per source with a
// spell open, and write for every row (it records the row in the logbook).
type refusalBook struct {
	write func(refusalRow)

	mu     sync.Mutex
	c      commandRefusals
	timers map[string]*time.Timer
	closed bool
	wg     sync.WaitGroup // rows being written by timers
}

func newRefusalBook(every time.Duration, write func(refusalRow)) *refusalBook {
	return &refusalBook{write: write, c: commandRefusals{every: every}, timers: map[string]*time.Timer{}}
}

func (b *refusalBook) refused(src string, r refusal) {
	b.mu.Lock()
	if b.closed {
		// Stopping: nothing is counted any more, so it is written.
		b.mu.Unlock()
		b.write(refusalRow{refusal: r, src: src})
		return
	}
	row, ok := b.c.refused(src, r)
	if _, armed := b.timers[src]; !armed {
		b.timers[src] = time.AfterFunc(b.c.every, func() { b.due(src) })
	}
	b.mu.Unlock()
	if ok {
		b.write(row)
	}
}

func (b *refusalBook) due(src string) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	row, ok, next := b.c.due(src, time.Now())
	if next > 0 {
		b.timers[src].Reset(next)
	} else {
		delete(b.timers, src)
	}
	if ok {
		b.wg.Add(1)
		defer b.wg.Done()
	}
	b.mu.Unlock()
	if ok {
		b.write(row)
	}
}

// close writes every count still held, and waits for rows a timer is
// writing, so all are in the logbook before the daemon closes it.
func (b *refusalBook) close() {
	b.mu.Lock()
	b.closed = true
	for _, t := range b.timers {
		t.Stop()
	}
	b.timers = nil
	rows := b.c.drain()
	b.mu.Unlock()
	for _, row := range rows {
		b.write(row)
	}
	b.wg.Wait()
}
