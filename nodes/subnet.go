package nodes

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
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
			var m map[string]string
			if err := json.Unmarshal([]byte(extra), &m); err != nil {
				return nil, fmt.Errorf("subnet %s options: %w", prefix, err)
			}
			if sn.Options, err = optionsFromMap(m); err != nil {
				return nil, fmt.Errorf("subnet %s: stored %w", prefix, err)
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
	if len(sn.Options) > 0 {
		b, err := json.Marshal(optionsToMap(sn.Options))
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

// SetSubnet adds a subnet or replaces all of its options with sn's.
func (s *Store) SetSubnet(ctx context.Context, actor Actor, sn Subnet) error {
	_, _, err := s.UpdateSubnet(ctx, actor, sn.Prefix, func(old *Subnet) error {
		*old = sn
		return nil
	})
	return err
}

// UpdateSubnet applies change to a subnet's options in one transaction,
// starting from an empty subnet when there is none yet, and logs what
// changed (old → new) as the logbook entry's result, which it also returns.
func (s *Store) UpdateSubnet(ctx context.Context, actor Actor, prefix netip.Prefix, change func(*Subnet) error) (Subnet, string, error) {
	prefix = prefix.Masked()
	var sn Subnet
	var result string
	err := s.write(ctx, func(tx *sql.Tx) error {
		all, err := subnets(ctx, tx)
		if err != nil {
			return err
		}
		old := Subnet{Prefix: prefix}
		for _, x := range all {
			if x.Prefix == prefix {
				old = x
			}
		}
		sn = old
		sn.Routers = slices.Clone(old.Routers)
		sn.DNS = slices.Clone(old.DNS)
		sn.Options = slices.Clone(old.Options)
		if err := change(&sn); err != nil {
			return err
		}
		sn.Prefix = prefix
		if err := validateSubnet(ctx, tx, &sn); err != nil {
			return err
		}
		result = subnetDiff(old, sn)
		if err := writeSubnet(ctx, tx, sn); err != nil {
			return err
		}
		_, err = s.appendEvent(ctx, tx, actor, Event{Action: ActionSubnetSet, Target: prefix.String(), Result: result})
		return err
	})
	if err != nil {
		return Subnet{}, "", fmt.Errorf("set subnet %s: %w", prefix, err)
	}
	return sn, result, nil
}

// SetOption sets the site option code to value, or removes it when value
// is empty.
func (sn *Subnet) SetOption(code uint8, value string) error {
	sn.Options = slices.DeleteFunc(sn.Options, func(o DHCPOption) bool { return o.Code == code })
	if value == "" {
		return nil
	}
	o, err := ParseDHCPOption(code, value)
	if err != nil {
		return err
	}
	sn.Options = append(sn.Options, o)
	sortOptions(sn.Options)
	return nil
}

// Option returns the site option code, if the subnet has it.
func (sn Subnet) Option(code uint8) (DHCPOption, bool) {
	for _, o := range sn.Options {
		if o.Code == code {
			return o, true
		}
	}
	return DHCPOption{}, false
}

// validateSubnet checks a subnet about to be written: addresses are IPv4,
// site options parse (again: a caller may have built them by hand) and
// appear once, and no node holds the network or broadcast address the
// prefix makes of its reservation.
func validateSubnet(ctx context.Context, q queryer, sn *Subnet) error {
	if !sn.Prefix.IsValid() || !sn.Prefix.Addr().Is4() {
		return fmt.Errorf("%q is not an IPv4 prefix such as 192.168.1.0/24", sn.Prefix)
	}
	for _, f := range []struct {
		name string
		as   []netip.Addr
	}{{"router", sn.Routers}, {"dns", sn.DNS}} {
		for _, a := range f.as {
			if !a.Is4() {
				return fmt.Errorf("--%s %v is not an IPv4 address", f.name, a)
			}
		}
	}
	// The domain goes into every DHCP reply (option 15) and a dhcpd.conf.
	if err := CheckText(FieldHost, sn.Domain); err != nil {
		return err
	}
	if sn.NextServer.IsValid() && !sn.NextServer.Is4() {
		return fmt.Errorf("--next-server %v is not an IPv4 address", sn.NextServer)
	}
	if sn.LeaseTime < 0 || sn.LeaseTime/time.Second > 0xffffffff {
		return fmt.Errorf("--lease-time %v: want 0 (the server's default) up to 136 years", sn.LeaseTime)
	}
	if len(sn.Options) > MaxSiteOptions {
		return fmt.Errorf("%d site options, more than the %d a reply has room for beside the server's own", len(sn.Options), MaxSiteOptions)
	}
	seen := map[uint8]bool{}
	for i, o := range sn.Options {
		p, err := ParseDHCPOption(o.Code, o.Value)
		if err != nil {
			return err
		}
		if seen[o.Code] {
			return fmt.Errorf("option %d given twice", o.Code)
		}
		seen[o.Code] = true
		sn.Options[i] = p
	}
	sortOptions(sn.Options)
	ns, err := allNodes(ctx, q)
	if err != nil {
		return err
	}
	for _, n := range ns {
		if !sn.Prefix.Contains(n.IP) {
			continue
		}
		if err := CheckLeasable(n.IP, sn.Prefix); err != nil {
			return fmt.Errorf("node %s's reserved address %v: give it another address first (node rm, node add)", n.Name, err)
		}
	}
	return nil
}

// subnetDiff says what changed between two versions of a subnet, field by
// field, as "dns 10.0.0.2 → 10.0.0.2,10.0.0.3; option 42 - → 10.20.0.2".
func subnetDiff(old, sn Subnet) string {
	show := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	addr := func(a netip.Addr) string {
		if a.IsValid() {
			return a.String()
		}
		return ""
	}
	lease := func(d time.Duration) string {
		if d > 0 {
			return d.String()
		}
		return ""
	}
	var out []string
	for _, f := range []struct{ name, a, b string }{
		{"routers", joinAddrs(old.Routers), joinAddrs(sn.Routers)},
		{"dns", joinAddrs(old.DNS), joinAddrs(sn.DNS)},
		{"domain", old.Domain, sn.Domain},
		{"next-server", addr(old.NextServer), addr(sn.NextServer)},
		{"lease-time", lease(old.LeaseTime), lease(sn.LeaseTime)},
	} {
		if f.a != f.b {
			out = append(out, fmt.Sprintf("%s %s → %s", f.name, show(f.a), show(f.b)))
		}
	}
	codes := map[uint8]bool{}
	for _, o := range slices.Concat(old.Options, sn.Options) {
		codes[o.Code] = true
	}
	for _, c := range slices.Sorted(maps.Keys(codes)) {
		a, _ := old.Option(c)
		b, _ := sn.Option(c)
		if a.Value != b.Value {
			out = append(out, fmt.Sprintf("option %d %s → %s", c, show(a.Value), show(b.Value)))
		}
	}
	if len(out) == 0 {
		return "no change"
	}
	return strings.Join(out, "; ")
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
		_, err = s.appendEvent(ctx, tx, actor, Event{Action: ActionSubnetRemove, Source: prefix.String()})
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
		id, err = s.appendEvent(ctx, tx, actor, Event{Action: ActionImport, Nodes: names, Reason: reason,
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
			if err := validateSubnet(ctx, tx, &sn); err != nil {
				return fmt.Errorf("subnet %s: %w", sn.Prefix, err)
			}
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
