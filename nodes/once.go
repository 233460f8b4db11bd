package nodes

// Boot once (move --once): a node's next boot goes to another cluster (an
// installer, a rescue system, a firmware update) and every boot after it to
// its own cluster again, without anyone having to move it back. Nodes keep
// their Cluster; the pending once is Node.OnceCluster.
//
// The once is used up when the node itself fetches the boot config of the
// once cluster from the TFTP or HTTP server (UseOnce, called by bootfs), not
// when DHCP answers: a PXE ROM retries DHCP, pxelinux and the booted OS ask
// again, and any of those answers may come before the boot that counts. So
// DHCP keeps answering with the once cluster's boot file while it is
// pending, and the config fetch, which happens once per boot, ends it.
// A profile that sends some firmware no boot file at all (a localdisk
// profile served to UEFI as "no boot file") leads to no config fetch, so it
// can never use a once up; ops refuses --once into such a cluster.
//
// A masked node stays masked: DHCP and TFTP ignore it, so its once stays
// pending until it is unmasked and boots.

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
)

// BootCluster is the cluster n's next boot goes to: its pending boot-once
// cluster, else its own.
func (n Node) BootCluster() string {
	if n.OnceCluster != "" {
		return n.OnceCluster
	}
	return n.Cluster
}

// OnceRequest asks for the nodes of a range to boot cluster To once.
type OnceRequest struct {
	Range  string
	To     string
	Reason string
	DryRun bool
	// Force skips the NFS-root health check of the once cluster.
	Force bool
	// Plan, as for MoveRequest: commit exactly what the pre-hooks saw.
	Plan *Change
}

// SetOnce makes the next boot of every node of a range go to cluster To,
// in one transaction with its logbook entry (action move-once). Nodes of
// cluster To, and nodes whose pending once already goes there, are
// skipped; a pending once to another cluster is replaced (the logbook
// entry says so).
func (s *Store) SetOnce(ctx context.Context, actor Actor, r OnceRequest) (Change, error) {
	ch, err := s.change(ctx, actor, changeSpec{
		change: Change{Action: ActionMoveOnce, To: r.To, DryRun: r.DryRun}, rng: r.Range, plan: r.Plan,
		target:  func(ctx context.Context, tx *sql.Tx) error { return checkTarget(ctx, tx, r.To, r.Force) },
		done:    func(n Node) bool { return n.Cluster == r.To || n.OnceCluster == r.To },
		nothing: func(skipped string) string { return skipped + " already in cluster " + r.To + " or booting it once" },
		event: func(ch Change) Event {
			notes := []string{"next boot only, then back to " + ch.From()}
			var replaced []string
			for _, n := range ch.Changed {
				if n.OnceCluster != "" {
					replaced = append(replaced, fmt.Sprintf("%s (was once to %s)", n.Name, n.OnceCluster))
				}
			}
			if len(replaced) > 0 {
				notes = append(notes, "replaces "+strings.Join(replaced, ", "))
			}
			if sk := skippedNote(ch.Skipped, "already in "+r.To+" or booting it once"); sk != "" {
				notes = append(notes, sk)
			}
			return Event{Source: ch.From(), Target: r.To, Reason: r.Reason, Result: strings.Join(notes, "; ")}
		},
		update: func(ch Change) (string, []any) {
			return `UPDATE nodes SET once_cluster = ?, once_event = ? WHERE name = ?`, []any{r.To, ch.Event}
		},
	})
	if err != nil {
		return Change{}, fmt.Errorf("move %s to %s once: %w", r.Range, r.To, err)
	}
	return ch, nil
}

// CancelOnceRequest asks for the pending boot-once of a range's nodes to be
// dropped.
type CancelOnceRequest struct {
	Range  string
	Reason string
	DryRun bool
	Plan   *Change
}

// CancelOnce drops the pending boot-once of every node of a range, in one
// transaction with its logbook entry (action cancel-once); the nodes' next
// boot goes to their own cluster. Nodes with nothing pending are skipped.
// Changed holds the nodes as they were, with the once they had.
func (s *Store) CancelOnce(ctx context.Context, actor Actor, r CancelOnceRequest) (Change, error) {
	ch, err := s.change(ctx, actor, changeSpec{
		change: Change{Action: ActionCancelOnce, DryRun: r.DryRun}, rng: r.Range, plan: r.Plan,
		done:    func(n Node) bool { return n.OnceCluster == "" },
		nothing: func(skipped string) string { return skipped + ": no boot once pending" },
		event: func(ch Change) Event {
			return Event{Source: OnceClusters(ch.Changed), Target: ch.From(), Reason: r.Reason,
				Result: skippedNote(ch.Skipped, "no boot once pending")}
		},
		// event moves too: what the node boots next was last decided here.
		update: func(ch Change) (string, []any) {
			return `UPDATE nodes SET once_cluster = NULL, once_event = 0, event = ? WHERE name = ?`, []any{ch.Event}
		},
	})
	if err != nil {
		return Change{}, fmt.Errorf("cancel boot once of %s: %w", r.Range, err)
	}
	return ch, nil
}

// OnceClusters is the compressed list of the pending once clusters of ns.
func OnceClusters(ns []Node) string {
	seen := map[string]bool{}
	var out []string
	for _, n := range ns {
		if n.OnceCluster != "" && !seen[n.OnceCluster] {
			seen[n.OnceCluster] = true
			out = append(out, n.OnceCluster)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// OnceUse is how a node used up its boot-once, for the logbook.
type OnceUse struct {
	Channel string // ChannelTFTP, ChannelHTTP
	Client  string // the address the fetch came from
	File    string // the name fetched
}

// UseOnce ends n's pending boot-once, the one n (as read by the caller)
// shows, in one transaction with a boot-once-used logbook entry. It reports
// false, changing nothing, when that once is no longer pending: another
// fetch used it first (of two concurrent fetches exactly one does), or it
// was cancelled or replaced meanwhile.
func (s *Store) UseOnce(ctx context.Context, n Node, u OnceUse) (bool, error) {
	if n.OnceCluster == "" {
		return false, nil
	}
	used := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		// The condition makes the check and the change one statement
		// inside BEGIN IMMEDIATE: a second fetch finds nothing to clear.
		res, err := tx.ExecContext(ctx, `UPDATE nodes SET once_cluster = NULL, once_event = 0 WHERE name = ? AND once_cluster = ? AND once_event = ?`,
			n.Name, n.OnceCluster, n.OnceEvent)
		if err != nil {
			return err
		}
		if k, err := res.RowsAffected(); err != nil || k == 0 {
			return err
		}
		var home string
		if err := tx.QueryRowContext(ctx, `SELECT cluster FROM nodes WHERE name = ?`, n.Name).Scan(&home); err != nil {
			return err
		}
		id, err := s.appendEvent(ctx, tx, Actor{Name: "node-switch", Channel: u.Channel, From: u.Client}, Event{
			Action: ActionBootOnceUsed, Nodes: []string{n.Name}, Source: home, Target: n.OnceCluster,
			Reason: fmt.Sprintf("boot once of logbook #%d", n.OnceEvent),
			Result: fmt.Sprintf("fetched %s: this boot goes to %s, the next to %s", u.File, n.OnceCluster, home)})
		if err != nil {
			return err
		}
		used = true
		_, err = tx.ExecContext(ctx, `UPDATE nodes SET event = ? WHERE name = ?`, id, n.Name)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("node %s: use boot once to %s: %w", n.Name, n.OnceCluster, err)
	}
	return used, nil
}

// onceTo lists the nodes whose pending boot-once goes to cluster.
func onceTo(ctx context.Context, q queryer, cluster string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM nodes WHERE once_cluster = ?`, cluster)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// OnceNode is a pending boot-once, as status shows it.
type OnceNode struct {
	Name    string `json:"name"`
	Cluster string `json:"cluster"` // where the next boot goes
	Home    string `json:"home"`    // where the boots after it go
	Event   int64  `json:"event"`
	Masked  bool   `json:"masked,omitempty"` // waits for unmask
}
