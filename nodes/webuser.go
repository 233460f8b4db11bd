package nodes

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// WebUser is a local account of the web console. Like an SSH key it has a
// role (RoleRead or RoleOperate); the password's hash never leaves the
// store except to the one check that needs it (WebUserHash).
type WebUser struct {
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	AddedAt time.Time `json:"added_at"`
}

// webUserName keeps names to what reads unambiguously in the logbook's
// actor column and in an HTTP Basic header (no colon, no spaces). It is
// compiled on first use: its {0,63} unrolls into a large program, and
// compiling it was most of this package's start-up, paid by every command.
var webUserName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)
})

// CheckWebUserName validates a web user's name.
func CheckWebUserName(name string) error {
	if !webUserName().MatchString(name) {
		return Invalid(fmt.Errorf("web user name %q: want 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", name))
	}
	return nil
}

// WebUserActor is how a web user appears in the logbook.
func WebUserActor(name, from string) Actor {
	return Actor{Name: name, Channel: ChannelWeb, From: from}
}

// AddWebUser creates a web user with an already hashed password (nodes
// knows no KDF: the web package hashes).
func (s *Store) AddWebUser(ctx context.Context, actor Actor, name, role, hash string) (WebUser, error) {
	u := WebUser{Name: name, Role: role}
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := CheckWebUserName(name); err != nil {
			return err
		}
		if _, err := ParseRole(role); err != nil {
			return Invalid(err)
		}
		if !strings.HasPrefix(hash, "$") {
			return fmt.Errorf("password hash is not a PHC string")
		}
		var old string
		switch err := tx.QueryRowContext(ctx, `SELECT role FROM web_users WHERE name = ?`, name).Scan(&old); {
		case err == nil:
			return Invalid(fmt.Errorf("already exists with role %s: remove it first ('node-switch web-user rm %s') to change it", old, name))
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		u.AddedAt = s.now().UTC().Truncate(time.Second)
		if _, err := s.appendEvent(ctx, tx, actor, Event{Action: ActionWebUserAdd, Result: fmt.Sprintf("%s role %s", name, role)}); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO web_users (name, role, hash, added_at) VALUES (?,?,?,?)`, name, role, hash, u.AddedAt.Unix())
		return err
	})
	if err != nil {
		return WebUser{}, fmt.Errorf("add web user %s: %w", name, err)
	}
	return u, nil
}

// WebUsers lists the web users by name.
func (s *Store) WebUsers(ctx context.Context) ([]WebUser, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, role, added_at FROM web_users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list web users: %w", err)
	}
	defer rows.Close()
	out := []WebUser{}
	for rows.Next() {
		var u WebUser
		var added int64
		if err := rows.Scan(&u.Name, &u.Role, &added); err != nil {
			return nil, fmt.Errorf("list web users: %w", err)
		}
		u.AddedAt = time.Unix(added, 0).UTC()
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list web users: %w", err)
	}
	return out, nil
}

// WebUserHash returns a user and its password hash, for the login check.
// It is read at every login and every API request, so removing a user
// locks it out at once (its open sessions are the web server's to end).
func (s *Store) WebUserHash(ctx context.Context, name string) (WebUser, string, error) {
	var u WebUser
	var hash string
	var added int64
	err := s.db.QueryRowContext(ctx, `SELECT name, role, hash, added_at FROM web_users WHERE name = ?`, name).Scan(&u.Name, &u.Role, &hash, &added)
	if errors.Is(err, sql.ErrNoRows) {
		return WebUser{}, "", fmt.Errorf("web user %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return WebUser{}, "", fmt.Errorf("web user %s: %w", name, err)
	}
	u.AddedAt = time.Unix(added, 0).UTC()
	return u, hash, nil
}

// RemoveWebUser deletes a web user and its API tokens.
func (s *Store) RemoveWebUser(ctx context.Context, actor Actor, name string) (WebUser, error) {
	var u WebUser
	err := s.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT name, role FROM web_users WHERE name = ?`, name).Scan(&u.Name, &u.Role)
		if errors.Is(err, sql.ErrNoRows) {
			return Invalid(fmt.Errorf("%w (see node-switch web-user list)", ErrNotFound))
		}
		if err != nil {
			return err
		}
		// The user's API tokens go with it (the foreign key would cascade
		// too; deleting them here counts them for the logbook).
		res, err := tx.ExecContext(ctx, `DELETE FROM web_tokens WHERE web_user = ?`, name)
		if err != nil {
			return err
		}
		result := fmt.Sprintf("%s role %s", u.Name, u.Role)
		if n, _ := res.RowsAffected(); n > 0 {
			result += fmt.Sprintf(", %d API token(s) revoked", n)
		}
		if _, err := s.appendEvent(ctx, tx, actor, Event{Action: ActionWebUserRemove, Result: result}); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM web_users WHERE name = ?`, name)
		return err
	})
	if err != nil {
		return WebUser{}, fmt.Errorf("remove web user %s: %w", name, err)
	}
	return u, nil
}

// EventTimes returns the time of the logbook entry each node's record
// points at (Node.Event), keyed by entry: the web console compares it with
// the node's last sighting to flag nodes that have not booted since.
func (s *Store) EventTimes(ctx context.Context) (map[int64]time.Time, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, time FROM events WHERE id IN (SELECT event FROM nodes)`)
	if err != nil {
		return nil, fmt.Errorf("read event times: %w", err)
	}
	defer rows.Close()
	out := map[int64]time.Time{}
	for rows.Next() {
		var id, t int64
		if err := rows.Scan(&id, &t); err != nil {
			return nil, fmt.Errorf("read event times: %w", err)
		}
		out[id] = time.UnixMicro(t).UTC()
	}
	return out, rows.Err()
}
