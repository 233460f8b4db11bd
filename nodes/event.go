package nodes

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// appendEvent writes a logbook entry inside the transaction that makes the
// change, so the change and its record commit together or not at all.
func (s *Store) appendEvent(ctx context.Context, tx *sql.Tx, actor Actor, e Event) (int64, error) {
	if actor.Name == "" || actor.Channel == "" {
		return 0, fmt.Errorf("logbook: change without an actor")
	}
	// An action outside the list would be an entry "log --action" can
	// never select and a hook name nobody expects: refuse it, so a typo
	// fails every test that reaches it rather than reaching the logbook.
	if !KnownAction(e.Action) {
		return 0, fmt.Errorf("logbook: unknown action %q (add it to nodes/actions.go)", e.Action)
	}
	if err := checkEvent(actor, e); err != nil {
		return 0, err
	}
	// The result is what happened, often a program's output (a hook's, a
	// BMC's error): it is kept, escaped, rather than refused.
	e.Result = EscapeCut(FieldResult, e.Result)
	// RETURNING rather than LastInsertId: PostgreSQL has no last insert id.
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO events (time, actor, channel, origin, action, nodes, source, target, reason, result) VALUES (?,?,?,?,?,?,?,?,?,?) RETURNING id`,
		s.now().UnixMicro(), actor.Name, actor.Channel, actor.From, e.Action, Compress(e.Nodes), e.Source, e.Target, e.Reason, e.Result).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("logbook: %w", err)
	}
	if sink, ok := ctx.Value(eventSinkKey{}).(*int64); ok {
		*sink = id
	}
	for batch := range slices.Chunk(e.Nodes, batchSize) {
		args := make([]any, 0, 2*len(batch))
		for _, n := range batch {
			args = append(args, id, n)
		}
		q := `INSERT OR IGNORE INTO event_nodes (event, node) VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?),", len(batch)), ",")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return 0, fmt.Errorf("logbook: %w", err)
		}
	}
	return id, nil
}

type eventSinkKey struct{}

// WatchEvent returns a context under which a change records the number of
// the logbook entry it writes, read with the returned func after the change
// succeeded. Commands print that number ("removed subnet ... (logbook #12)")
// so the operator can find the entry; carrying it on the context keeps the
// store's change methods, and their many callers that do not print it,
// unchanged. A transaction retried after a conflict rewrites the number,
// and a failed change leaves nothing worth reading.
func WatchEvent(ctx context.Context) (context.Context, func() int64) {
	id := new(int64)
	return context.WithValue(ctx, eventSinkKey{}, id), func() int64 { return *id }
}

// checkEvent refuses an entry whose free text CheckText refuses: the
// reason the operator gave and who they are. Source and Target are
// clusters, whose names checkName keeps plain.
func checkEvent(actor Actor, e Event) error {
	return checkTexts("", textField{FieldActor, actor.Name}, textField{FieldOrigin, actor.From},
		textField{FieldReason, e.Reason})
}

// Record appends an entry that goes with no inventory change: a reboot's
// outcome, a hook's output, a refused SSH command. What it records has
// happened already and must not be lost to a refusal, so its free text is
// escaped (Escape) and cut rather than refused: an SSH command line with a
// line break in it is logged as "...\n...". Operations that take a reason
// before recording (reboot, power) check it first, with CheckText.
func (s *Store) Record(ctx context.Context, actor Actor, e Event) (int64, error) {
	actor.Name = EscapeCut(FieldActor, actor.Name)
	actor.From = EscapeCut(FieldOrigin, actor.From)
	e.Reason = EscapeCut(FieldReason, e.Reason)
	var id int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		id, err = s.appendEvent(ctx, tx, actor, e)
		return err
	})
	return id, err
}

// LogFilter selects logbook entries.
type LogFilter struct {
	Nodes  []string  // entries naming any of these nodes; none = all entries
	Since  time.Time // zero = from the beginning
	Action Action    // exact action, "" = any
	Actor  string    // exact actor name, "" = any
	Limit  int       // newest N, 0 = no limit
}

// Log returns logbook entries oldest first.
func (s *Store) Log(ctx context.Context, f LogFilter) ([]Event, error) {
	var where []string
	var args []any
	if len(f.Nodes) > 0 {
		where = append(where, `id IN (SELECT event FROM event_nodes WHERE node IN (`+strings.TrimSuffix(strings.Repeat("?,", len(f.Nodes)), ",")+`))`)
		for _, n := range f.Nodes {
			args = append(args, n)
		}
	}
	if !f.Since.IsZero() {
		where = append(where, `time >= ?`)
		args = append(args, f.Since.UnixMicro())
	}
	if f.Action != "" {
		where = append(where, `action = ?`)
		args = append(args, f.Action)
	}
	if f.Actor != "" {
		where = append(where, `actor = ?`)
		args = append(args, f.Actor)
	}
	q := `SELECT id, time, actor, channel, origin, action, nodes, source, target, reason, result FROM events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY id DESC`
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read logbook: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var t int64
		var nodes string
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Channel, &e.Origin, &e.Action, &nodes, &e.Source, &e.Target, &e.Reason, &e.Result); err != nil {
			return nil, fmt.Errorf("read logbook: %w", err)
		}
		e.Time = time.UnixMicro(t).UTC()
		e.Nodes = []string{}
		if nodes != "" {
			e.Nodes, _ = expandHostlistList(nodes)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read logbook: %w", err)
	}
	// Oldest first reads like a logbook; the query ran newest first so
	// Limit keeps the most recent entries.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// Event returns one logbook entry.
func (s *Store) Event(ctx context.Context, id int64) (Event, error) {
	var e Event
	var t int64
	var nodes string
	err := s.db.QueryRowContext(ctx, `SELECT id, time, actor, channel, origin, action, nodes, source, target, reason, result FROM events WHERE id = ?`, id).
		Scan(&e.ID, &t, &e.Actor, &e.Channel, &e.Origin, &e.Action, &nodes, &e.Source, &e.Target, &e.Reason, &e.Result)
	if err == sql.ErrNoRows {
		return Event{}, fmt.Errorf("event %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Event{}, fmt.Errorf("event %d: %w", id, err)
	}
	e.Time = time.UnixMicro(t).UTC()
	// Like Log: an entry naming no node has "nodes": [], never null.
	e.Nodes = []string{}
	if nodes != "" {
		e.Nodes, _ = expandHostlistList(nodes)
	}
	return e, nil
}

// expandHostlistList expands a compressed list without checking names
// against the inventory (logbook entries outlive their nodes).
func expandHostlistList(expr string) ([]string, error) {
	terms, err := ParseRange(expr)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range terms {
		out = append(out, t.Names...)
	}
	return out, nil
}

// LogNodes resolves a range given as a logbook filter ("log RANGE", the web
// console's logbook page). Removed nodes keep their history, so names no
// longer in the inventory are still valid here; exclusions are not.
func (s *Store) LogNodes(ctx context.Context, expr string) ([]string, error) {
	terms, err := ParseRange(expr)
	if err != nil {
		return nil, Invalid(err)
	}
	var out []string
	for _, t := range terms {
		if t.Exclude {
			return nil, Invalid(fmt.Errorf("exclusions make no sense for a logbook filter"))
		}
		ns, err := s.Nodes(ctx, t.Text)
		if err == nil && !t.Pattern {
			out = append(out, namesOf(ns)...)
			continue
		}
		out = append(out, t.Names...)
	}
	return out, nil
}

// ParseSince reads an age (Go durations plus days, "7d", the unit admins
// reach for) or a local date, as the start of the logbook entries to show.
func ParseSince(v string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, time.Local); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateTime, v, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, Invalid(fmt.Errorf("%q: want an age such as 90m, 24h or 7d (units s, m, h, d), or a date such as 2026-11-30", v))
}
