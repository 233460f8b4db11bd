package nodes

import (
	"context"
	"fmt"
	"sort"
)

// The boot guard: no change may leave a node pointed at an NFS root that has
// not passed its last check, because such a node hangs at boot with nothing
// on its console the operator at the head node can see. Every path that
// points nodes at a root runs the guard inside its own transaction (move,
// node add, cluster set, profile set, import); a change that points no node
// at the root (a new empty cluster, an unused profile) is preparation and is
// let through, and the guard runs again when nodes arrive.

// WithForce returns a view of the store whose changes pass the boot guard
// even when it refuses: the operator's --force. The view shares the
// database; force=false returns s itself. Move has its own Force field.
func (s *Store) WithForce(force bool) *Store {
	if !force || s.force {
		return s
	}
	v := *s
	v.force = true
	return &v
}

// checkBootable refuses a cluster whose NFS root has not passed its last
// check: a node pointed at a broken root hangs at boot.
func checkBootable(ctx context.Context, q queryer, c Cluster, force bool) error {
	p, err := getProfile(ctx, q, c.Profile)
	if err != nil {
		return fmt.Errorf("cluster %s: profile %s: %w", c.Name, c.Profile, err)
	}
	if p.Kind != KindNFSRoot || force {
		return nil
	}
	var ok bool
	var checkedAt int64
	var result string
	err = q.QueryRowContext(ctx, `SELECT check_ok, checked_at, check_result FROM nfsroots WHERE name = ?`, p.NFSRoot).Scan(&ok, &checkedAt, &result)
	if err != nil {
		return fmt.Errorf("cluster %s: NFS root %s: %w", c.Name, p.NFSRoot, err)
	}
	switch {
	case checkedAt == 0:
		return fmt.Errorf("cluster %s boots NFS root %s, which was never checked: run 'node-switch nfsroot check %s' or pass --force: %w", c.Name, p.NFSRoot, p.NFSRoot, ErrRefused)
	case !ok:
		return fmt.Errorf("cluster %s boots NFS root %s, whose last check failed (%s): fix it and run 'node-switch nfsroot check %s', or pass --force: %w", c.Name, p.NFSRoot, result, p.NFSRoot, ErrRefused)
	}
	return nil
}

// guardClusters runs the guard on each named cluster that has nodes, as
// the clusters stand in the transaction (call it after the change).
func (s *Store) guardClusters(ctx context.Context, q queryer, names []string) error {
	if s.force {
		return nil
	}
	for _, name := range names {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM nodes WHERE cluster = ?`, name).Scan(&n); err != nil {
			return fmt.Errorf("cluster %s: count nodes: %w", name, err)
		}
		if n == 0 {
			continue
		}
		c, err := getCluster(ctx, q, name)
		if err != nil {
			return fmt.Errorf("cluster %s: %w", name, err)
		}
		if err := checkBootable(ctx, q, c, false); err != nil {
			return err
		}
	}
	return nil
}

// guardProfileUsers runs the guard on every cluster booting profile.
func (s *Store) guardProfileUsers(ctx context.Context, q queryer, profile string) error {
	if s.force {
		return nil
	}
	users, err := queryNames(ctx, q, `SELECT name FROM clusters WHERE profile = ?`, profile)
	if err != nil {
		return fmt.Errorf("clusters booting profile %s: %w", profile, err)
	}
	return s.guardClusters(ctx, q, users)
}

// clustersOf lists, once each and sorted, the clusters ns are in.
func clustersOf(ns []Node) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range ns {
		if !seen[n.Cluster] {
			seen[n.Cluster] = true
			out = append(out, n.Cluster)
		}
	}
	sort.Strings(out)
	return out
}
