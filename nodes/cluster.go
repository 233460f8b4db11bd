package nodes

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

func getCluster(ctx context.Context, q queryer, name string) (Cluster, error) {
	var c Cluster
	err := q.QueryRowContext(ctx, `SELECT name, profile, description FROM clusters WHERE name = ?`, name).Scan(&c.Name, &c.Profile, &c.Description)
	if errors.Is(err, sql.ErrNoRows) {
		return Cluster{}, ErrNotFound
	}
	return c, err
}

func clusterNames(ctx context.Context, q queryer) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM clusters`)
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out[n] = true
	}
	return out, rows.Err()
}

// Cluster returns one cluster.
func (s *Store) Cluster(ctx context.Context, name string) (Cluster, error) {
	c, err := getCluster(ctx, s.db, name)
	if err != nil {
		return Cluster{}, fmt.Errorf("cluster %s: %w", name, err)
	}
	return c, nil
}

// Clusters lists every cluster by name.
func (s *Store) Clusters(ctx context.Context) ([]Cluster, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, profile, description FROM clusters ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	defer rows.Close()
	var out []Cluster
	for rows.Next() {
		var c Cluster
		if err := rows.Scan(&c.Name, &c.Profile, &c.Description); err != nil {
			return nil, fmt.Errorf("list clusters: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func validateCluster(ctx context.Context, q queryer, c Cluster) error {
	if err := checkName("cluster", c.Name); err != nil {
		return err
	}
	if err := CheckText(FieldDescription, c.Description); err != nil {
		return err
	}
	if _, err := getCluster(ctx, q, c.Name); err == nil {
		return fmt.Errorf("cluster %s already exists", c.Name)
	}
	if _, err := getNode(ctx, q, "name = ?", c.Name); err == nil {
		return fmt.Errorf("name %s is already a node (ranges could not tell them apart)", c.Name)
	}
	if _, err := getProfile(ctx, q, c.Profile); err != nil {
		return fmt.Errorf("unknown profile %q", c.Profile)
	}
	return nil
}

// AddCluster adds a logical cluster booting profile. A new cluster has no
// nodes, so it passes the boot guard whatever its profile boots.
func (s *Store) AddCluster(ctx context.Context, actor Actor, c Cluster) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := validateCluster(ctx, tx, c); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO clusters (name, profile, description) VALUES (?,?,?)`, c.Name, c.Profile, c.Description); err != nil {
			return err
		}
		_, err := s.appendEvent(ctx, tx, actor, Event{Action: ActionClusterAdd, Target: c.Name, Result: "profile " + c.Profile})
		return err
	})
	if err != nil {
		return fmt.Errorf("add cluster %s: %w", c.Name, err)
	}
	return nil
}

// SetClusterProfile points a cluster at another profile; every node of the
// cluster boots it from its next boot on.
func (s *Store) SetClusterProfile(ctx context.Context, actor Actor, cluster, profile, reason string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		c, err := getCluster(ctx, tx, cluster)
		if err != nil {
			return err
		}
		if _, err := getProfile(ctx, tx, profile); err != nil {
			return fmt.Errorf("unknown profile %q", profile)
		}
		rows, err := tx.QueryContext(ctx, `SELECT name FROM nodes WHERE cluster = ?`, cluster)
		if err != nil {
			return err
		}
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			names = append(names, n)
		}
		rows.Close()
		id, err := s.appendEvent(ctx, tx, actor, Event{Action: ActionClusterProfile, Nodes: names, Target: cluster, Reason: reason,
			Result: fmt.Sprintf("profile %s -> %s", c.Profile, profile)})
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE clusters SET profile = ? WHERE name = ?`, profile, cluster); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE nodes SET event = ? WHERE cluster = ?`, id, cluster); err != nil {
			return err
		}
		return s.guardClusters(ctx, tx, []string{cluster})
	})
	if err != nil {
		return fmt.Errorf("cluster %s: set profile %s: %w", cluster, profile, err)
	}
	return nil
}

// RemoveCluster deletes an empty cluster.
func (s *Store) RemoveCluster(ctx context.Context, actor Actor, name string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := getCluster(ctx, tx, name); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM nodes WHERE cluster = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("it still has %d nodes: move them first", n)
		}
		if once, err := onceTo(ctx, tx, name); err != nil {
			return err
		} else if len(once) > 0 {
			return fmt.Errorf("%s boot it once next: 'node-switch move --cancel-once %s' first", Compress(once), Compress(once))
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM clusters WHERE name = ?`, name); err != nil {
			return err
		}
		_, err := s.appendEvent(ctx, tx, actor, Event{Action: ActionClusterRemove, Source: name})
		return err
	})
	if err != nil {
		return fmt.Errorf("remove cluster %s: %w", name, err)
	}
	return nil
}
