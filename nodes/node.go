package nodes

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

const nodeColumns = `name, mac, ip, cluster, masked, mask_reason, event, last_seen, firmware, coalesce(once_cluster, ''), once_event`

func scanNode(sc interface{ Scan(...any) error }) (Node, error) {
	return newNodeRow().scan(sc)
}

// nodeRow is where rows of nodeColumns are scanned, reused from row to
// row: Scan's arguments escape, so scanning each row into a Node of its
// own, through a fresh argument list, cost two heap allocations per row.
type nodeRow struct {
	n        Node
	ip       string
	lastSeen int64
	dest     []any
}

func newNodeRow() *nodeRow {
	r := &nodeRow{}
	n := &r.n
	r.dest = []any{&n.Name, &n.MAC, &r.ip, &n.Cluster, &n.Masked, &n.MaskReason, &n.Event, &r.lastSeen, &n.Firmware, &n.OnceCluster, &n.OnceEvent}
	return r
}

func (r *nodeRow) scan(sc interface{ Scan(...any) error }) (Node, error) {
	r.n, r.ip, r.lastSeen = Node{}, "", 0
	if err := sc.Scan(r.dest...); err != nil {
		return Node{}, err
	}
	n := r.n
	a, err := netip.ParseAddr(r.ip)
	if err != nil {
		return Node{}, fmt.Errorf("node %s: stored address %q: %w", n.Name, r.ip, err)
	}
	n.IP = a
	if r.lastSeen != 0 {
		n.LastSeen = time.Unix(r.lastSeen, 0).UTC()
	}
	return n, nil
}

func getNode(ctx context.Context, q queryer, where string, arg any) (Node, error) {
	n, err := scanNode(q.QueryRowContext(ctx, `SELECT `+nodeColumns+` FROM nodes WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return Node{}, ErrNotFound
	}
	return n, err
}

// Node returns one node by name.
func (s *Store) Node(ctx context.Context, name string) (Node, error) {
	n, err := getNode(ctx, s.db, "name = ?", name)
	if err != nil {
		return Node{}, fmt.Errorf("node %s: %w", name, err)
	}
	return n, nil
}

// LookupMAC returns the node holding a reservation for mac (any spelling);
// ErrNotFound when none does, which the DHCP server answers with silence.
func (s *Store) LookupMAC(ctx context.Context, mac string) (Node, error) {
	m, err := ParseMAC(mac)
	if err != nil {
		return Node{}, err
	}
	n, err := getNode(ctx, s.db, "mac = ?", m)
	if err != nil {
		return Node{}, fmt.Errorf("mac %s: %w", m, err)
	}
	return n, nil
}

// LookupIP returns the node reserved the address ip.
func (s *Store) LookupIP(ctx context.Context, ip netip.Addr) (Node, error) {
	n, err := getNode(ctx, s.db, "ip = ?", ip.String())
	if err != nil {
		return Node{}, fmt.Errorf("ip %s: %w", ip, err)
	}
	return n, nil
}

// Nodes returns the nodes a range expression names (all nodes for ""),
// in natural order.
func (s *Store) Nodes(ctx context.Context, expr string) ([]Node, error) {
	if strings.TrimSpace(expr) == "" {
		return allNodes(ctx, s.db)
	}
	return expand(ctx, s.db, expr)
}

// allNodes returns every node, in natural order.
func allNodes(ctx context.Context, q queryer) ([]Node, error) {
	out, err := nodesWhere(ctx, q, nil, "")
	if err != nil {
		return nil, err
	}
	SortNodes(out)
	return out, nil
}

// nodesNamed returns the nodes of those names that exist, in no particular
// order, looked up by name in batches (one statement each).
func nodesNamed(ctx context.Context, q queryer, names []string) ([]Node, error) {
	out := make([]Node, 0, len(names))
	args := make([]any, 0, min(len(names), batchSize))
	for batch := range slices.Chunk(names, batchSize) {
		args = args[:0]
		for _, n := range batch {
			args = append(args, n)
		}
		var err error
		if out, err = nodesWhere(ctx, q, out, "name IN ("+placeholders(len(batch))+")", args...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// nodesWhere appends to out the nodes a condition selects (every node for
// ""), in no particular order.
func nodesWhere(ctx context.Context, q queryer, out []Node, where string, args ...any) ([]Node, error) {
	query := `SELECT ` + nodeColumns + ` FROM nodes`
	if where != "" {
		query += ` WHERE ` + where
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	defer rows.Close()
	row := newNodeRow()
	for rows.Next() {
		n, err := row.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return out, nil
}

// placeholders is n comma-separated question marks, for an IN list.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// validateNode checks a new node's fields and that nothing else already holds
// its name, MAC or address; every error names the node and the value.
func validateNode(ctx context.Context, q queryer, n *Node) error {
	if err := checkName("node", n.Name); err != nil {
		return err
	}
	if err := CheckText(FieldMaskReason, n.MaskReason); err != nil {
		return err
	}
	mac, err := ParseMAC(n.MAC)
	if err != nil {
		return err
	}
	n.MAC = mac
	hw, _ := net.ParseMAC(mac) // ParseMAC accepted it
	if err := CheckNodeMAC(hw); err != nil {
		return fmt.Errorf("%w: give the node's PXE NIC address", err)
	}
	if !n.IP.IsValid() || !n.IP.Is4() {
		return fmt.Errorf("missing or malformed IPv4 address")
	}
	sns, err := subnets(ctx, q)
	if err != nil {
		return err
	}
	sn, _ := SubnetFor(sns, n.IP)
	if err := CheckLeasable(n.IP, sn.Prefix); err != nil {
		return fmt.Errorf("%w: DHCP never hands it out, give the node a host address", err)
	}
	if other, err := getNode(ctx, q, "name = ?", n.Name); err == nil {
		return fmt.Errorf("node %s already exists (mac %s, ip %s)", other.Name, other.MAC, other.IP)
	}
	if other, err := getNode(ctx, q, "mac = ?", n.MAC); err == nil {
		return fmt.Errorf("duplicate MAC %s: already reserved for %s", n.MAC, other.Name)
	}
	if other, err := getNode(ctx, q, "ip = ?", n.IP.String()); err == nil {
		return fmt.Errorf("duplicate IP %s: already reserved for %s", n.IP, other.Name)
	}
	if _, err := getCluster(ctx, q, n.Cluster); err != nil {
		return fmt.Errorf("unknown cluster %q", n.Cluster)
	}
	var clash int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM clusters WHERE name = ?`, n.Name).Scan(&clash); err != nil {
		return err
	}
	if clash > 0 {
		return fmt.Errorf("name %s is already a cluster (ranges could not tell them apart)", n.Name)
	}
	return nil
}

func insertNode(ctx context.Context, tx *sql.Tx, n Node, event int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO nodes (name, mac, ip, cluster, masked, mask_reason, event) VALUES (?,?,?,?,?,?,?)`,
		n.Name, n.MAC, n.IP.String(), n.Cluster, n.Masked, n.MaskReason, event)
	if err != nil {
		return err
	}
	return forgetUnknown(ctx, tx, n.MAC)
}

// AddNode adds one reservation.
func (s *Store) AddNode(ctx context.Context, actor Actor, n Node, reason string) (Node, error) {
	return s.AddNodeWithBMC(ctx, actor, n, nil, reason)
}

// AddNodeWithBMC adds one reservation and, when b is not nil, its BMC, in
// one transaction.
func (s *Store) AddNodeWithBMC(ctx context.Context, actor Actor, n Node, b *BMC, reason string) (Node, error) {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := validateNode(ctx, tx, &n); err != nil {
			return err
		}
		id, err := s.appendEvent(ctx, tx, actor, Event{Action: ActionNodeAdd, Nodes: []string{n.Name}, Target: n.Cluster, Reason: reason,
			Result: fmt.Sprintf("mac %s ip %s", n.MAC, n.IP)})
		if err != nil {
			return err
		}
		n.Event = id
		if err := insertNode(ctx, tx, n, id); err != nil {
			return err
		}
		if b != nil {
			b.Node = n.Name
			if err := setBMC(ctx, tx, b); err != nil {
				return err
			}
		}
		return s.guardClusters(ctx, tx, []string{n.Cluster})
	})
	if err != nil {
		return Node{}, fmt.Errorf("add node %s: %w", n.Name, err)
	}
	return n, nil
}

// RemoveNodes deletes the reservations a range names.
func (s *Store) RemoveNodes(ctx context.Context, actor Actor, expr, reason string) ([]Node, error) {
	var gone []Node
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		gone, err = expand(ctx, tx, expr)
		if err != nil {
			return err
		}
		names := namesOf(gone)
		if _, err := s.appendEvent(ctx, tx, actor, Event{Action: ActionNodeRemove, Nodes: names, Reason: reason}); err != nil {
			return err
		}
		for _, n := range names {
			if _, err := tx.ExecContext(ctx, `DELETE FROM nodes WHERE name = ?`, n); err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("remove %s: %w", expr, err)
	}
	return gone, nil
}

// Seen is one node's sighting by the DHCP server.
type Seen struct {
	MAC      string
	Time     time.Time
	Firmware string
}

// RecordSeen stores a batch of sightings in one transaction; the DHCP server
// collects them in memory and flushes periodically so a boot storm does not
// turn into a write per packet. It is not logged: it changes nothing a node
// boots. An empty Firmware keeps the one stored.
func (s *Store) RecordSeen(ctx context.Context, seen []Seen) error {
	if len(seen) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `UPDATE nodes SET last_seen = ?, firmware = coalesce(nullif(?, ''), firmware) WHERE mac = ?`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, x := range seen {
			if _, err := st.ExecContext(ctx, x.Time.Unix(), x.Firmware, x.MAC); err != nil {
				return fmt.Errorf("record seen %s: %w", x.MAC, err)
			}
		}
		return nil
	})
}

func namesOf(ns []Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
}

// checkName keeps names usable in ranges, file names and dhcpd.conf.
func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("empty %s name", what)
	}
	if name == "all" {
		return fmt.Errorf("%s name %q is reserved for ranges", what, name)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || (i > 0 && (r == '-' || r == '.'))
		if !ok {
			return fmt.Errorf("%s name %q: only letters, digits, '_', and '-' or '.' after the first character", what, name)
		}
	}
	return nil
}
