package nodes

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

// Change is the outcome of a move, mask or unmask.
type Change struct {
	Event   int64    `json:"event"`
	Action  string   `json:"action"`
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

// MoveRequest asks for nodes to change logical cluster.
type MoveRequest struct {
	Range  string
	To     string
	Reason string
	DryRun bool
	// Force skips the NFS-root health check of the target profile.
	Force bool
}

// Move puts every node of a range into another cluster in one transaction:
// the check that every node exists, the change and the logbook entry commit
// together, or nothing does. Nodes already in the target are reported as
// skipped; if that is all of them the move is an error.
func (s *Store) Move(ctx context.Context, actor Actor, r MoveRequest) (Change, error) {
	ch := Change{Action: "move", To: r.To, DryRun: r.DryRun}
	err := s.write(ctx, func(tx *sql.Tx) error {
		c, err := getCluster(ctx, tx, r.To)
		if err != nil {
			return fmt.Errorf("unknown cluster %q", r.To)
		}
		if err := checkBootable(ctx, tx, c, r.Force); err != nil {
			return err
		}
		ns, err := expandTx(ctx, tx, r.Range)
		if err != nil {
			return err
		}
		for _, n := range ns {
			if n.Cluster == r.To {
				ch.Skipped = append(ch.Skipped, n.Name)
			} else {
				ch.Changed = append(ch.Changed, n)
			}
		}
		if len(ch.Changed) == 0 {
			return fmt.Errorf("%s already in cluster %s: %w", Compress(ch.Skipped), r.To, ErrNothingToDo)
		}
		if r.DryRun {
			return nil
		}
		ch.Event, err = s.appendEvent(ctx, tx, actor, Event{Action: "move", Nodes: ch.Names(), Source: ch.From(), Target: r.To,
			Reason: r.Reason, Result: skippedNote(ch.Skipped, "already in "+r.To)})
		if err != nil {
			return err
		}
		return updateNodes(ctx, tx, `UPDATE nodes SET cluster = ?, event = ? WHERE name = ?`, ch.Names(), r.To, ch.Event)
	})
	if err != nil {
		return Change{}, fmt.Errorf("move %s to %s: %w", r.Range, r.To, err)
	}
	return ch, nil
}

// Mask makes the DHCP and TFTP servers ignore nodes so another server (the
// Windows head's WDS) can reinstall them. A masked node keeps its cluster.
func (s *Store) Mask(ctx context.Context, actor Actor, expr, reason string) (Change, error) {
	return s.setMask(ctx, actor, expr, reason, true)
}

// Unmask undoes Mask: the nodes boot their cluster's profile again.
func (s *Store) Unmask(ctx context.Context, actor Actor, expr, reason string) (Change, error) {
	return s.setMask(ctx, actor, expr, reason, false)
}

func (s *Store) setMask(ctx context.Context, actor Actor, expr, reason string, mask bool) (Change, error) {
	action, state := "mask", "masked"
	if !mask {
		action, state = "unmask", "not masked"
	}
	ch := Change{Action: action}
	err := s.write(ctx, func(tx *sql.Tx) error {
		ns, err := expandTx(ctx, tx, expr)
		if err != nil {
			return err
		}
		for _, n := range ns {
			if n.Masked == mask {
				ch.Skipped = append(ch.Skipped, n.Name)
			} else {
				ch.Changed = append(ch.Changed, n)
			}
		}
		if len(ch.Changed) == 0 {
			return fmt.Errorf("%s already %s: %w", Compress(ch.Skipped), state, ErrNothingToDo)
		}
		ch.Event, err = s.appendEvent(ctx, tx, actor, Event{Action: action, Nodes: ch.Names(), Source: ch.From(),
			Reason: reason, Result: skippedNote(ch.Skipped, "already "+state)})
		if err != nil {
			return err
		}
		mr := reason
		if !mask {
			mr = ""
		}
		return updateNodes(ctx, tx, `UPDATE nodes SET masked = ?, mask_reason = ?, event = ? WHERE name = ?`, ch.Names(), mask, mr, ch.Event)
	})
	if err != nil {
		return Change{}, fmt.Errorf("%s %s: %w", action, expr, err)
	}
	return ch, nil
}

func updateNodes(ctx context.Context, tx *sql.Tx, stmt string, names []string, args ...any) error {
	st, err := tx.PrepareContext(ctx, stmt)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, n := range names {
		if _, err := st.ExecContext(ctx, append(append([]any{}, args...), n)...); err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	return nil
}

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
	d := Distribution{Clusters: []ClusterStatus{}, Masked: []string{}, MaskedDetail: []MaskedNode{}}
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
