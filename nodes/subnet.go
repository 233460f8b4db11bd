package nodes

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

func splitAddrs(s string) ([]netip.Addr, error) {
	if s == "" {
		return nil, nil
	}
	var out []netip.Addr
	for _, f := range strings.Split(s, ",") {
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Subnets lists the configured subnets, most specific first so the first
// that contains an address is the one that applies.
func (s *Store) Subnets(ctx context.Context) ([]Subnet, error) {
	return subnets(ctx, s.db)
}

func subnets(ctx context.Context, q queryer) ([]Subnet, error) {
	rows, err := q.QueryContext(ctx, `SELECT prefix, routers, dns, domain, next_server, lease_secs, extra FROM subnets`)
	if err != nil {
		return nil, fmt.Errorf("list subnets: %w", err)
	}
	defer rows.Close()
	var out []Subnet
	for rows.Next() {
		var sn Subnet
		var prefix, routers, dns, next, extra string
		var lease int64
		if err := rows.Scan(&prefix, &routers, &dns, &sn.Domain, &next, &lease, &extra); err != nil {
			return nil, fmt.Errorf("list subnets: %w", err)
		}
		if sn.Prefix, err = netip.ParsePrefix(prefix); err != nil {
			return nil, fmt.Errorf("subnet %q: %w", prefix, err)
		}
		if sn.Routers, err = splitAddrs(routers); err != nil {
			return nil, fmt.Errorf("subnet %s routers: %w", prefix, err)
		}
		if sn.DNS, err = splitAddrs(dns); err != nil {
			return nil, fmt.Errorf("subnet %s dns: %w", prefix, err)
		}
		if next != "" {
			if sn.NextServer, err = netip.ParseAddr(next); err != nil {
				return nil, fmt.Errorf("subnet %s next-server: %w", prefix, err)
			}
		}
		sn.LeaseTime = time.Duration(lease) * time.Second
		if extra != "" && extra != "{}" {
			if err := json.Unmarshal([]byte(extra), &sn.Extra); err != nil {
				return nil, fmt.Errorf("subnet %s extra options: %w", prefix, err)
			}
		}
		out = append(out, sn)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sortSubnets(out)
	return out, nil
}

func sortSubnets(sns []Subnet) {
	for i := 1; i < len(sns); i++ {
		for j := i; j > 0 && sns[j].Prefix.Bits() > sns[j-1].Prefix.Bits(); j-- {
			sns[j], sns[j-1] = sns[j-1], sns[j]
		}
	}
}

// SubnetFor returns the most specific subnet containing ip.
func SubnetFor(sns []Subnet, ip netip.Addr) (Subnet, bool) {
	for _, sn := range sns {
		if sn.Prefix.Contains(ip) {
			return sn, true
		}
	}
	return Subnet{}, false
}

func writeSubnet(ctx context.Context, tx *sql.Tx, sn Subnet) error {
	extra := "{}"
	if len(sn.Extra) > 0 {
		b, err := json.Marshal(sn.Extra)
		if err != nil {
			return err
		}
		extra = string(b)
	}
	next := ""
	if sn.NextServer.IsValid() {
		next = sn.NextServer.String()
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO subnets (prefix, routers, dns, domain, next_server, lease_secs, extra) VALUES (?,?,?,?,?,?,?)
		ON CONFLICT(prefix) DO UPDATE SET routers=excluded.routers, dns=excluded.dns, domain=excluded.domain,
		next_server=excluded.next_server, lease_secs=excluded.lease_secs, extra=excluded.extra`,
		sn.Prefix.Masked().String(), joinAddrs(sn.Routers), joinAddrs(sn.DNS), sn.Domain, next, int64(sn.LeaseTime/time.Second), extra)
	return err
}

// SetSubnet adds or replaces a subnet's options.
func (s *Store) SetSubnet(ctx context.Context, actor Actor, sn Subnet) error {
	if !sn.Prefix.IsValid() || !sn.Prefix.Addr().Is4() {
		return fmt.Errorf("set subnet: %q is not an IPv4 prefix such as 192.168.1.0/24", sn.Prefix)
	}
	sn.Prefix = sn.Prefix.Masked()
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := writeSubnet(ctx, tx, sn); err != nil {
			return err
		}
		_, err := s.appendEvent(ctx, tx, actor, Event{Action: "subnet-set", Target: sn.Prefix.String()})
		return err
	})
	if err != nil {
		return fmt.Errorf("set subnet %s: %w", sn.Prefix, err)
	}
	return nil
}

// RemoveSubnet deletes a subnet's options.
func (s *Store) RemoveSubnet(ctx context.Context, actor Actor, prefix netip.Prefix) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM subnets WHERE prefix = ?`, prefix.Masked().String())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = s.appendEvent(ctx, tx, actor, Event{Action: "subnet-rm", Source: prefix.String()})
		return err
	})
	if err != nil {
		return fmt.Errorf("remove subnet %s: %w", prefix, err)
	}
	return nil
}

// Inventory is a whole set of records to import at once.
type Inventory struct {
	// NFSRoots are catalog entries the profiles need; they start unchecked,
	// as with 'nfsroot add'.
	NFSRoots []NFSRoot
	Subnets  []Subnet
	Profiles []Profile
	Clusters []Cluster
	Nodes    []Node
}

// Import adds everything in inv in one transaction, checking each record as
// the single-record commands would; one bad record imports nothing.
func (s *Store) Import(ctx context.Context, actor Actor, inv Inventory, reason string) (int64, error) {
	var id int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		names := make([]string, len(inv.Nodes))
		for i, n := range inv.Nodes {
			names[i] = n.Name
		}
		id, err = s.appendEvent(ctx, tx, actor, Event{Action: "import", Nodes: names, Reason: reason,
			Result: fmt.Sprintf("%d subnets, %d profiles, %d clusters, %d nodes", len(inv.Subnets), len(inv.Profiles), len(inv.Clusters), len(inv.Nodes))})
		if err != nil {
			return err
		}
		for _, r := range inv.NFSRoots {
			if err := ValidateNFSRoot(r); err != nil {
				return fmt.Errorf("NFS root %s: %w", r.Name, err)
			}
			if _, err := getNFSRoot(ctx, tx, r.Name); err == nil {
				return fmt.Errorf("NFS root %s already exists", r.Name)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO nfsroots (name, server, export, kernel, initrd, kernel_version, options) VALUES (?,?,?,?,?,?,?)`,
				r.Name, r.Server, r.Export, r.Kernel, r.Initrd, r.KernelVersion, r.Options); err != nil {
				return fmt.Errorf("NFS root %s: %w", r.Name, err)
			}
		}
		for _, sn := range inv.Subnets {
			if err := writeSubnet(ctx, tx, sn); err != nil {
				return fmt.Errorf("subnet %s: %w", sn.Prefix, err)
			}
		}
		for _, p := range inv.Profiles {
			if _, err := getProfile(ctx, tx, p.Name); err == nil {
				return fmt.Errorf("profile %s already exists", p.Name)
			}
			if err := validateProfile(ctx, tx, p); err != nil {
				return fmt.Errorf("profile %s: %w", p.Name, err)
			}
			if err := writeProfile(ctx, tx, p); err != nil {
				return fmt.Errorf("profile %s: %w", p.Name, err)
			}
		}
		for _, c := range inv.Clusters {
			if err := validateCluster(ctx, tx, c); err != nil {
				return fmt.Errorf("cluster %s: %w", c.Name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO clusters (name, profile, description) VALUES (?,?,?)`, c.Name, c.Profile, c.Description); err != nil {
				return fmt.Errorf("cluster %s: %w", c.Name, err)
			}
		}
		for _, n := range inv.Nodes {
			if err := validateNode(ctx, tx, &n); err != nil {
				return fmt.Errorf("node %s: %w", n.Name, err)
			}
			if err := insertNode(ctx, tx, n, id); err != nil {
				return fmt.Errorf("node %s: %w", n.Name, err)
			}
		}
		return s.guardClusters(ctx, tx, clustersOf(inv.Nodes))
	})
	if err != nil {
		return 0, fmt.Errorf("import: %w", err)
	}
	return id, nil
}
