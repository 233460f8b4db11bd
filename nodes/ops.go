package nodes

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// ErrNothingToDo is returned (wrapped) when every node an operation names is
// already in the requested state; the CLI exits non-zero so a script that
// expected a change notices.
var ErrNothingToDo = errors.New("nothing to do")

// ErrRefused is returned (wrapped) when a safety check refuses an operation
// that --force would allow.
var ErrRefused = errors.New("refused")

// Change is the outcome of a move, mask or unmask, or its plan.
type Change struct {
	Event   int64    `json:"event"`
	Action  Action   `json:"action"`
	Changed []Node   `json:"changed"`           // nodes as they were before the change
	Skipped []string `json:"skipped,omitempty"` // already in the requested state
	To      string   `json:"to,omitempty"`
	DryRun  bool     `json:"dry_run,omitempty"`
}

// Names lists the changed nodes.
func (c Change) Names() []string { return namesOf(c.Changed) }

// From is the compressed list of clusters the changed nodes came from.
func (c Change) From() string {
	seen := map[string]bool{}
	var out []string
	for _, n := range c.Changed {
		if !seen[n.Cluster] {
			seen[n.Cluster] = true
			out = append(out, n.Cluster)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// differs says how now (computed in the commit's transaction) departs from
// plan (computed before the pre-hooks ran), or "" when they are the same:
// the same nodes to change, each still in the cluster and mask state the
// hooks were told, and the same nodes left alone.
func (plan Change) differs(now Change) string {
	var diffs []string
	was := map[string]Node{}
	for _, n := range plan.Changed {
		was[n.Name] = n
	}
	is := map[string]Node{}
	for _, n := range now.Changed {
		is[n.Name] = n
		p, ok := was[n.Name]
		switch {
		case !ok:
			diffs = append(diffs, n.Name+" was not in the plan")
		case p.Cluster != n.Cluster:
			diffs = append(diffs, fmt.Sprintf("%s is now in cluster %s, not %s", n.Name, n.Cluster, p.Cluster))
		case p.Masked != n.Masked:
			diffs = append(diffs, fmt.Sprintf("%s masked is now %v", n.Name, n.Masked))
		case p.OnceCluster != n.OnceCluster:
			diffs = append(diffs, fmt.Sprintf("%s boot once is now %q, not %q", n.Name, n.OnceCluster, p.OnceCluster))
		}
	}
	for _, n := range plan.Changed {
		if _, ok := is[n.Name]; !ok {
			diffs = append(diffs, n.Name+" would no longer change")
		}
	}
	if Compress(plan.Skipped) != Compress(now.Skipped) {
		diffs = append(diffs, fmt.Sprintf("unchanged nodes were %s, now %s", orNone(plan.Skipped), orNone(now.Skipped)))
	}
	return strings.Join(diffs, "; ")
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return Compress(names)
}

// checkPlan fails with ErrChanged when plan is set and now departs from it.
func checkPlan(plan *Change, now Change) error {
	if plan == nil {
		return nil
	}
	if d := plan.differs(now); d != "" {
		return fmt.Errorf("%w while the pre-hooks ran (%s); nothing was changed, run it again", ErrChanged, d)
	}
	return nil
}

// MoveRequest asks for nodes to change logical cluster.
type MoveRequest struct {
	Range  string
	To     string
	Reason string
	DryRun bool
	// Force skips the NFS-root health check of the target profile.
	Force bool
	// Plan, when set, is what the pre-hooks were told: the move commits
	// exactly that or fails with ErrChanged, changing nothing.
	Plan *Change
}

// Move puts every node of a range into another cluster in one transaction:
// the check that every node exists, the change and the logbook entry commit
// together, or nothing does. Nodes already in the target are reported as
// skipped; if that is all of them the move is an error.
func (s *Store) Move(ctx context.Context, actor Actor, r MoveRequest) (Change, error) {
	ch, err := s.change(ctx, actor, changeSpec{
		change: Change{Action: ActionMove, To: r.To, DryRun: r.DryRun}, rng: r.Range, plan: r.Plan,
		target:  func(ctx context.Context, tx *sql.Tx) error { return checkTarget(ctx, tx, r.To, r.Force) },
		done:    func(n Node) bool { return n.Cluster == r.To },
		nothing: func(skipped string) string { return skipped + " already in cluster " + r.To },
		event: func(ch Change) Event {
			return Event{Source: ch.From(), Target: r.To, Reason: r.Reason, Result: skippedNote(ch.Skipped, "already in "+r.To)}
		},
		update: func(ch Change) (string, []any) {
			return `UPDATE nodes SET cluster = ?, event = ? WHERE name = ?`, []any{r.To, ch.Event}
		},
	})
	if err != nil {
		return Change{}, fmt.Errorf("move %s to %s: %w", r.Range, r.To, err)
	}
	return ch, nil
}

// checkTarget refuses a change that sends nodes to a cluster that does not
// exist or whose NFS root has not passed its check (unless forced).
func checkTarget(ctx context.Context, tx *sql.Tx, cluster string, force bool) error {
	c, err := getCluster(ctx, tx, cluster)
	if err != nil {
		return Invalid(fmt.Errorf("unknown cluster %q", cluster))
	}
	return checkBootable(ctx, tx, c, force)
}

// changeSpec is one kind of change to the nodes of a range; Store.change
// runs it.
type changeSpec struct {
	change Change // Action, To and DryRun of the result
	rng    string
	plan   *Change
	// target checks where the nodes go, before the range is resolved.
	target func(ctx context.Context, tx *sql.Tx) error
	// done says a node is already in the requested state (skipped).
	done func(Node) bool
	// nothing says why, when every node is skipped.
	nothing func(skipped string) string
	// verify checks the nodes that change (after the plan check).
	verify func(ctx context.Context, tx *sql.Tx, changed []Node) error
	// event is the logbook entry (Action and Nodes are filled in).
	event func(ch Change) Event
	// update is the statement, ending in "WHERE name = ?", and its
	// arguments before the name.
	update func(ch Change) (string, []any)
}

// change runs a changeSpec in one write transaction: resolve the range, set
// aside the nodes already in the requested state, hold the result to the
// plan the pre-hooks were told, refuse a change of nothing, then log and
// apply it together, or nothing at all.
func (s *Store) change(ctx context.Context, actor Actor, spec changeSpec) (Change, error) {
	// The text first, before anything is read: a dry run is the plan the
	// pre-hooks are told, and text the commit would refuse must be refused
	// before they see it. The entry of no change holds the request's text.
	if err := checkEvent(actor, spec.event(spec.change)); err != nil {
		return Change{}, err
	}
	var ch Change
	err := s.write(ctx, func(tx *sql.Tx) error {
		// Afresh on each attempt: a transaction retried after a conflict
		// must not carry the skipped nodes of the one rolled back.
		ch = spec.change
		if spec.target != nil {
			if err := spec.target(ctx, tx); err != nil {
				return err
			}
		}
		ns, err := expand(ctx, tx, spec.rng)
		if err != nil {
			return err
		}
		// The nodes that change are kept in place in ns: a move of 1,000
		// nodes does not copy them again.
		ch.Changed = ns[:0]
		for _, n := range ns {
			if spec.done(n) {
				ch.Skipped = append(ch.Skipped, n.Name)
			} else {
				ch.Changed = append(ch.Changed, n)
			}
		}
		if err := checkPlan(spec.plan, ch); err != nil {
			return err
		}
		if len(ch.Changed) == 0 {
			return fmt.Errorf("%s: %w", spec.nothing(Compress(ch.Skipped)), ErrNothingToDo)
		}
		if spec.verify != nil {
			if err := spec.verify(ctx, tx, ch.Changed); err != nil {
				return err
			}
		}
		if ch.DryRun {
			return nil
		}
		e := spec.event(ch)
		e.Action, e.Nodes = ch.Action, ch.Names()
		if ch.Event, err = s.appendEvent(ctx, tx, actor, e); err != nil {
			return err
		}
		stmt, args := spec.update(ch)
		return updateNodes(ctx, tx, stmt, ch.Names(), args...)
	})
	return ch, err
}

// MaskRequest asks for nodes to be masked (ignored by our DHCP and TFTP, so
// the Windows head's WDS can reinstall them; they keep their cluster) or
// unmasked.
type MaskRequest struct {
	Range  string
	Mask   bool
	Reason string
	DryRun bool
	// Force unmasks even into a cluster whose NFS root has not passed its
	// check (an unmasked node boots its cluster at once).
	Force bool
	// Plan, as for MoveRequest: commit exactly what the pre-hooks saw.
	Plan *Change
}

// SetMask masks or unmasks every node of a range in one transaction with its
// logbook entry. Nodes already in the requested state are skipped; if that is
// all of them it is an error.
func (s *Store) SetMask(ctx context.Context, actor Actor, r MaskRequest) (Change, error) {
	action, state, maskReason := ActionMask, "masked", r.Reason
	if !r.Mask {
		action, state, maskReason = ActionUnmask, "not masked", ""
	}
	spec := changeSpec{
		change: Change{Action: action, DryRun: r.DryRun}, rng: r.Range, plan: r.Plan,
		done:    func(n Node) bool { return n.Masked == r.Mask },
		nothing: func(skipped string) string { return skipped + " already " + state },
		event: func(ch Change) Event {
			return Event{Source: ch.From(), Reason: r.Reason, Result: skippedNote(ch.Skipped, "already "+state)}
		},
		update: func(ch Change) (string, []any) {
			return `UPDATE nodes SET masked = ?, mask_reason = ?, event = ? WHERE name = ?`, []any{r.Mask, maskReason, ch.Event}
		},
	}
	if !r.Mask {
		// An unmasked node boots its cluster at once.
		spec.verify = func(ctx context.Context, tx *sql.Tx, changed []Node) error {
			checked := map[string]bool{}
			for _, n := range changed {
				if checked[n.Cluster] {
					continue
				}
				checked[n.Cluster] = true
				c, err := getCluster(ctx, tx, n.Cluster)
				if err != nil {
					return fmt.Errorf("%s: cluster %s: %w", n.Name, n.Cluster, err)
				}
				if err := checkBootable(ctx, tx, c, r.Force); err != nil {
					return err
				}
			}
			return nil
		}
	}
	ch, err := s.change(ctx, actor, spec)
	if err != nil {
		return Change{}, fmt.Errorf("%s %s: %w", action, r.Range, err)
	}
	return ch, nil
}

// updateNodes runs stmt, which ends in "WHERE name = ?", for every name:
// in batches, one statement per batch, since each statement is a round
// trip to a PostgreSQL server (a move of 1,000 nodes was 2,000 of them).
func updateNodes(ctx context.Context, tx *sql.Tx, stmt string, names []string, args ...any) error {
	base, ok := strings.CutSuffix(stmt, "WHERE name = ?")
	if !ok {
		return fmt.Errorf("updateNodes: %q does not end in WHERE name = ?", stmt)
	}
	for batch := range slices.Chunk(names, batchSize) {
		q := base + "WHERE name IN (" + placeholders(len(batch)) + ")"
		all := append([]any{}, args...)
		for _, n := range batch {
			all = append(all, n)
		}
		res, err := tx.ExecContext(ctx, q, all...)
		if err != nil {
			return fmt.Errorf("%s: %w", Compress(batch), err)
		}
		if n, err := res.RowsAffected(); err == nil && n != int64(len(batch)) {
			return fmt.Errorf("%s: %d of %d nodes updated", Compress(batch), n, len(batch))
		}
	}
	return nil
}

// batchSize bounds the names in one statement, well under SQLite's limit
// on bound parameters.
const batchSize = 500

func skippedNote(skipped []string, why string) string {
	if len(skipped) == 0 {
		return ""
	}
	return "skipped " + Compress(skipped) + ": " + why
}

// ClusterStatus is one cluster in the distribution.
type ClusterStatus struct {
	Name    string      `json:"name"`
	Profile string      `json:"profile"`
	Kind    ProfileKind `json:"kind"`
	Nodes   []string    `json:"nodes"` // booting this cluster: masked nodes are listed apart
	Range   string      `json:"range"`
}

// MaskedNode is a masked node with the cluster it returns to on unmask.
type MaskedNode struct {
	Name    string `json:"name"`
	Cluster string `json:"cluster"`
	Reason  string `json:"reason,omitempty"`
}

// Distribution is what "status" shows: which nodes boot which cluster, and
// which are masked (ignored by our DHCP, left to the Windows head).
type Distribution struct {
	Clusters     []ClusterStatus `json:"clusters"`
	Masked       []string        `json:"masked"`
	MaskedDetail []MaskedNode    `json:"masked_detail"`
	// Once lists the pending boot-onces; nodes stay listed under their
	// own cluster.
	Once []OnceNode `json:"once"`
}

// Status computes the distribution of nodes over clusters.
func (s *Store) Status(ctx context.Context) (Distribution, error) {
	cs, err := s.Clusters(ctx)
	if err != nil {
		return Distribution{}, err
	}
	ns, err := allNodes(ctx, s.db)
	if err != nil {
		return Distribution{}, err
	}
	d := Distribution{Clusters: []ClusterStatus{}, Masked: []string{}, MaskedDetail: []MaskedNode{}, Once: []OnceNode{}}
	idx := map[string]int{}
	for _, c := range cs {
		p, err := getProfile(ctx, s.db, c.Profile)
		if err != nil {
			return Distribution{}, fmt.Errorf("cluster %s: profile %s: %w", c.Name, c.Profile, err)
		}
		idx[c.Name] = len(d.Clusters)
		d.Clusters = append(d.Clusters, ClusterStatus{Name: c.Name, Profile: c.Profile, Kind: p.Kind, Nodes: []string{}})
	}
	for _, n := range ns {
		if n.OnceCluster != "" {
			d.Once = append(d.Once, OnceNode{Name: n.Name, Cluster: n.OnceCluster, Home: n.Cluster, Event: n.OnceEvent, Masked: n.Masked})
		}
		if n.Masked {
			d.Masked = append(d.Masked, n.Name)
			d.MaskedDetail = append(d.MaskedDetail, MaskedNode{Name: n.Name, Cluster: n.Cluster, Reason: n.MaskReason})
			continue
		}
		cl := &d.Clusters[idx[n.Cluster]]
		cl.Nodes = append(cl.Nodes, n.Name)
	}
	for i := range d.Clusters {
		d.Clusters[i].Range = Compress(d.Clusters[i].Nodes)
	}
	return d, nil
}
