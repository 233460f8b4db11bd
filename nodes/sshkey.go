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
	return listSSHKeys(ctx, s.db)
}

func listSSHKeys(ctx context.Context, q queryer) ([]SSHKey, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+sshKeyColumns+` FROM ssh_keys ORDER BY added_at, fingerprint`)
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
		if err := CheckText(FieldComment, k.Comment); err != nil {
			return err
		}
		if old, err := getSSHKey(ctx, tx, k.Fingerprint); err == nil {
			return fmt.Errorf("already registered with role %s (comment %q): remove it first to change its role", old.Role, old.Comment)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		k.AddedAt = s.now().UTC().Truncate(time.Second)
		if _, err := s.appendEvent(ctx, tx, actor, Event{Action: ActionSSHKeyAdd, Reason: k.Comment,
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

// minFingerprintPrefix is the shortest start of a fingerprint that
// RemoveSSHKey takes for the whole: a shorter one is more likely a slip than
// a choice, and removing a key locks its holder out.
const minFingerprintPrefix = 8

// findSSHKey finds the key an operator named by its fingerprint as "ssh-key
// list" shows it (SHA256:...), without the SHA256: prefix (as some tools
// print it), or by a start of either that only one key has.
func findSSHKey(ctx context.Context, q queryer, given string) (SSHKey, error) {
	want := strings.TrimPrefix(strings.TrimSpace(given), "SHA256:")
	if want == "" {
		return SSHKey{}, Invalid(fmt.Errorf("no fingerprint given: see node-switch ssh-key list"))
	}
	ks, err := listSSHKeys(ctx, q)
	if err != nil {
		return SSHKey{}, err
	}
	var starts []SSHKey
	for _, k := range ks {
		b64 := strings.TrimPrefix(k.Fingerprint, "SHA256:")
		if b64 == want {
			return k, nil
		}
		if strings.HasPrefix(b64, want) {
			starts = append(starts, k)
		}
	}
	switch {
	case len(starts) == 1 && len(want) >= minFingerprintPrefix:
		return starts[0], nil
	case len(starts) == 1:
		return SSHKey{}, Invalid(fmt.Errorf("%q is too short to name a key: give at least %d characters of its fingerprint, or all of it as node-switch ssh-key list shows it", given, minFingerprintPrefix))
	case len(starts) > 1:
		return SSHKey{}, Invalid(fmt.Errorf("%q starts %d registered fingerprints (%s): give more of it", given, len(starts), fingerprintList(starts)))
	case len(ks) == 0:
		return SSHKey{}, Invalid(fmt.Errorf("%w: no SSH keys are registered", ErrNotFound))
	}
	return SSHKey{}, Invalid(fmt.Errorf("%w; registered: %s (see node-switch ssh-key list)", ErrNotFound, fingerprintList(ks)))
}

// fingerprintList names keys by the start of their fingerprints, enough to
// tell which one was meant.
func fingerprintList(ks []SSHKey) string {
	const show = 10
	var out []string
	for i, k := range ks {
		if i == show {
			out = append(out, fmt.Sprintf("and %d more", len(ks)-show))
			break
		}
		fp := k.Fingerprint
		if len(fp) > len("SHA256:")+12 {
			fp = fp[:len("SHA256:")+12] + "..."
		}
		if k.Comment != "" {
			fp += " (" + k.Comment + ")"
		}
		out = append(out, fp)
	}
	return strings.Join(out, ", ")
}

// RemoveSSHKey unregisters a key, named as findSSHKey accepts; it returns
// what was removed.
func (s *Store) RemoveSSHKey(ctx context.Context, actor Actor, fingerprint string) (SSHKey, error) {
	var k SSHKey
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		k, err = findSSHKey(ctx, tx, fingerprint)
		if err != nil {
			return err
		}
		if _, err := s.appendEvent(ctx, tx, actor, Event{Action: ActionSSHKeyRemove, Reason: k.Comment,
			Result: fmt.Sprintf("%s role %s", k.Fingerprint, k.Role)}); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM ssh_keys WHERE fingerprint = ?`, k.Fingerprint)
		return err
	})
	if err != nil {
		return SSHKey{}, fmt.Errorf("remove ssh key %s: %w", fingerprint, err)
	}
	return k, nil
}
