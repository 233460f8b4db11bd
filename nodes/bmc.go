package nodes

import (
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// BMC is how a node's baseboard management controller is reached. The
// password is not here: PasswordFile names a file that holds it, which must
// be readable by its owner only (CheckPasswordFile), so the inventory, its
// backups and everything that prints a BMC (list, --json, the logbook)
// never carry a secret.
type BMC struct {
	Node         string `json:"node"`
	Host         string `json:"host"`
	Port         int    `json:"port"`
	User         string `json:"user"`
	PasswordFile string `json:"-"`
}

// DefaultBMCPort is IPMI's RMCP port.
const DefaultBMCPort = 623

// Addr is host:port.
func (b BMC) Addr() string { return net.JoinHostPort(b.Host, strconv.Itoa(b.Port)) }

// ParseBMCAddr reads HOST or HOST:PORT (an IPv6 address in brackets when
// it has a port).
func ParseBMCAddr(s string) (host string, port int, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", 0, fmt.Errorf("empty BMC address: give HOST or HOST:PORT")
	}
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		// No port (or a bare IPv6 address).
		return strings.Trim(s, "[]"), DefaultBMCPort, nil
	}
	port, err = strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("BMC address %q: port %q is not 1-65535", s, ps)
	}
	if host == "" {
		return "", 0, fmt.Errorf("BMC address %q: no host", s)
	}
	return host, port, nil
}

// IPMI v2.0's limits (user name 16 bytes, RMCP+ password 20 bytes).
const (
	maxBMCUser     = 16
	maxBMCPassword = 20
)

// CheckPasswordFile checks that path is an absolute path to a regular file
// that only its owner may read or write and that holds a usable password.
func CheckPasswordFile(path string) error {
	_, err := ReadPasswordFile(path)
	return err
}

// ReadPasswordFile returns the password in path (its first line), after the
// checks of CheckPasswordFile. Errors name the file, never its content.
func ReadPasswordFile(path string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("BMC password file %q: give an absolute path", path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("BMC password file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("BMC password file %s: not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("BMC password file %s: mode %04o lets others read it: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("BMC password file: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	switch {
	case pw == "":
		return "", fmt.Errorf("BMC password file %s: empty first line", path)
	case len(pw) > maxBMCPassword:
		return "", fmt.Errorf("BMC password file %s: password is %d bytes, IPMI v2.0 allows %d", path, len(pw), maxBMCPassword)
	}
	return pw, nil
}

// checkBMC validates b's fields (not its node).
func checkBMC(b *BMC) error {
	if b.Host == "" {
		return fmt.Errorf("BMC of %s: no address (--bmc HOST[:PORT])", b.Node)
	}
	if err := checkTexts("BMC of "+b.Node, textField{FieldHost, b.Host}, textField{FieldUser, b.User}, textField{FieldPath, b.PasswordFile}); err != nil {
		return err
	}
	if b.Port == 0 {
		b.Port = DefaultBMCPort
	}
	if b.Port < 1 || b.Port > 65535 {
		return fmt.Errorf("BMC of %s: port %d is not 1-65535", b.Node, b.Port)
	}
	if b.User == "" || len(b.User) > maxBMCUser {
		return fmt.Errorf("BMC of %s: user name %q: want 1-%d bytes (--bmc-user)", b.Node, b.User, maxBMCUser)
	}
	if b.PasswordFile == "" {
		return fmt.Errorf("BMC of %s: no password file (--bmc-password-file)", b.Node)
	}
	if err := CheckPasswordFile(b.PasswordFile); err != nil {
		return fmt.Errorf("BMC of %s: %w", b.Node, err)
	}
	return nil
}

func setBMC(ctx context.Context, tx *sql.Tx, b *BMC) error {
	if err := checkBMC(b); err != nil {
		return Invalid(err)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO bmcs (node, host, port, "user", password_file) VALUES (?,?,?,?,?)
		ON CONFLICT (node) DO UPDATE SET host = excluded.host, port = excluded.port, "user" = excluded."user",
		password_file = excluded.password_file`, b.Node, b.Host, b.Port, b.User, b.PasswordFile)
	if err != nil {
		return fmt.Errorf("BMC of %s: %w", b.Node, err)
	}
	return nil
}

// SetBMCs sets (adds or replaces) the BMCs of existing nodes in one
// transaction with one logbook entry, which names the nodes and addresses
// but no password file.
func (s *Store) SetBMCs(ctx context.Context, actor Actor, bs []BMC, reason string) error {
	if len(bs) == 0 {
		return Invalid(errors.New("set BMC: no nodes given"))
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var names, addrs []string
		seen := map[string]bool{}
		for _, b := range bs {
			if _, err := getNode(ctx, tx, "name = ?", b.Node); err != nil {
				return Invalid(fmt.Errorf("node %s: %w (add it first with 'node-switch node add')", b.Node, err))
			}
			if seen[b.Node] {
				return Invalid(fmt.Errorf("node %s given twice", b.Node))
			}
			seen[b.Node] = true
			if err := setBMC(ctx, tx, &b); err != nil {
				return err
			}
			names = append(names, b.Node)
			addrs = append(addrs, fmt.Sprintf("%s %s@%s", b.Node, b.User, b.Addr()))
		}
		result := "BMC " + strings.Join(addrs, ", ")
		if len(addrs) > 5 {
			result = fmt.Sprintf("BMCs of %d nodes set", len(addrs))
		}
		_, err := s.appendEvent(ctx, tx, actor, Event{Action: ActionNodeBMC, Nodes: names, Reason: reason, Result: result})
		return err
	})
	if err != nil {
		return fmt.Errorf("set BMC: %w", err)
	}
	return nil
}

// RemoveBMC forgets a node's BMC.
func (s *Store) RemoveBMC(ctx context.Context, actor Actor, node, reason string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM bmcs WHERE node = ?`, node)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return Invalid(fmt.Errorf("node %s has no BMC", node))
		}
		_, err = s.appendEvent(ctx, tx, actor, Event{Action: ActionNodeBMC, Nodes: []string{node}, Reason: reason, Result: "BMC removed"})
		return err
	})
	if err != nil {
		return fmt.Errorf("remove BMC of %s: %w", node, err)
	}
	return nil
}

// BMCs returns the BMCs of the named nodes that have one, by node name.
func (s *Store) BMCs(ctx context.Context, names []string) (map[string]BMC, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT node, host, port, "user", password_file FROM bmcs`)
	if err != nil {
		return nil, fmt.Errorf("read BMCs: %w", err)
	}
	defer rows.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]BMC{}
	for rows.Next() {
		var b BMC
		if err := rows.Scan(&b.Node, &b.Host, &b.Port, &b.User, &b.PasswordFile); err != nil {
			return nil, fmt.Errorf("read BMCs: %w", err)
		}
		if want[b.Node] {
			out[b.Node] = b
		}
	}
	return out, rows.Err()
}

// ReadBMCCSV reads a BMC list: one line per node, "node,host[:port],user,
// password_file". Blank lines and lines starting with # are skipped, and a
// first line "node,bmc,user,password_file" is taken as a header.
func ReadBMCCSV(r io.Reader) ([]BMC, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = 4
	cr.TrimLeadingSpace = true
	var out []BMC
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, Invalid(fmt.Errorf("BMC list: %w (want node,host[:port],user,password_file)", err))
		}
		if len(out) == 0 && strings.EqualFold(rec[0], "node") {
			continue
		}
		line, _ := cr.FieldPos(0)
		host, port, err := ParseBMCAddr(rec[1])
		if err != nil {
			return nil, Invalid(fmt.Errorf("BMC list line %d: %w", line, err))
		}
		out = append(out, BMC{Node: strings.TrimSpace(rec[0]), Host: host, Port: port, User: strings.TrimSpace(rec[2]), PasswordFile: strings.TrimSpace(rec[3])})
	}
	if len(out) == 0 {
		return nil, Invalid(errors.New("BMC list: no lines (want node,host[:port],user,password_file)"))
	}
	return out, nil
}
