package nodes

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ParseRole validates an SSH key role given by an operator.
func ParseRole(s string) (string, error) {
	switch s {
	case RoleRead, RoleOperate:
		return s, nil
	}
	return "", fmt.Errorf("unknown SSH key role %q (want read or operate)", s)
}

const sshKeyColumns = `fingerprint, public_key, role, comment, added_at`

func scanSSHKey(sc interface{ Scan(...any) error }) (SSHKey, error) {
	var k SSHKey
	var added int64
	if err := sc.Scan(&k.Fingerprint, &k.PublicKey, &k.Role, &k.Comment, &added); err != nil {
		return SSHKey{}, err
	}
	k.AddedAt = time.Unix(added, 0).UTC()
	return k, nil
}

func getSSHKey(ctx context.Context, q queryer, fingerprint string) (SSHKey, error) {
	k, err := scanSSHKey(q.QueryRowContext(ctx, `SELECT `+sshKeyColumns+` FROM ssh_keys WHERE fingerprint = ?`, fingerprint))
	if errors.Is(err, sql.ErrNoRows) {
		return SSHKey{}, ErrNotFound
	}
	return k, err
}

// SSHKey returns the registered key with this fingerprint (SHA256:...). The
// SSH front door asks on every login, so removing a key locks it out at once.
func (s *Store) SSHKey(ctx context.Context, fingerprint string) (SSHKey, error) {
	k, err := getSSHKey(ctx, s.db, fingerprint)
	if err != nil {
		return SSHKey{}, fmt.Errorf("ssh key %s: %w", fingerprint, err)
	}
	return k, nil
}

// SSHKeys lists the registered keys, oldest first.
func (s *Store) SSHKeys(ctx context.Context) ([]SSHKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+sshKeyColumns+` FROM ssh_keys ORDER BY added_at, fingerprint`)
	if err != nil {
		return nil, fmt.Errorf("list ssh keys: %w", err)
	}
	defer rows.Close()
	out := []SSHKey{}
	for rows.Next() {
		k, err := scanSSHKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list ssh keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list ssh keys: %w", err)
	}
	return out, nil
}

// AddSSHKey registers a public key with a role. The caller computes the
// fingerprint (nodes does not parse keys); the store only guarantees that one
// key has one role.
func (s *Store) AddSSHKey(ctx context.Context, actor Actor, k SSHKey) (SSHKey, error) {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if !strings.HasPrefix(k.Fingerprint, "SHA256:") || strings.TrimSpace(k.PublicKey) == "" {
			return fmt.Errorf("want a SHA256 fingerprint and a public key, got %q", k.Fingerprint)
		}
		if _, err := ParseRole(k.Role); err != nil {
			return err
		}
		if strings.ContainsAny(k.Comment, "\n\r") {
			return fmt.Errorf("comment %q: must be one line", k.Comment)
		}
		if old, err := getSSHKey(ctx, tx, k.Fingerprint); err == nil {
			return fmt.Errorf("already registered with role %s (comment %q): remove it first to change its role", old.Role, old.Comment)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		k.AddedAt = s.now().UTC().Truncate(time.Second)
		if _, err := s.appendEvent(ctx, tx, actor, Event{Action: "ssh-key-add", Reason: k.Comment,
			Result: fmt.Sprintf("%s role %s", k.Fingerprint, k.Role)}); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO ssh_keys (`+sshKeyColumns+`) VALUES (?,?,?,?,?)`,
			k.Fingerprint, strings.TrimSpace(k.PublicKey), k.Role, k.Comment, k.AddedAt.Unix())
		return err
	})
	if err != nil {
		return SSHKey{}, fmt.Errorf("add ssh key %s: %w", k.Fingerprint, err)
	}
	return k, nil
}

// RemoveSSHKey unregisters a key; it returns what was removed.
func (s *Store) RemoveSSHKey(ctx context.Context, actor Actor, fingerprint string) (SSHKey, error) {
	var k SSHKey
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		k, err = getSSHKey(ctx, tx, fingerprint)
		if err != nil {
			return err
		}
		if _, err := s.appendEvent(ctx, tx, actor, Event{Action: "ssh-key-rm", Reason: k.Comment,
			Result: fmt.Sprintf("%s role %s", k.Fingerprint, k.Role)}); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM ssh_keys WHERE fingerprint = ?`, fingerprint)
		return err
	})
	if err != nil {
		return SSHKey{}, fmt.Errorf("remove ssh key %s: %w", fingerprint, err)
	}
	return k, nil
}
