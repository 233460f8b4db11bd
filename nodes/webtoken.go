package nodes

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// WebToken is an API token of a web user (web-user token add): what list
// shows and the logbook names. The token itself is never stored, only its
// SHA-256 (the web package makes and hashes tokens; nodes keeps the hash
// and checks nothing of the secret). A token acts with its user's role at
// the time of each request.
type WebToken struct {
	ID        string    `json:"id"`
	User      string    `json:"user"`
	Comment   string    `json:"comment,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Expired reports whether the token is past its expiry at now.
func (t WebToken) Expired(now time.Time) bool { return !now.Before(t.ExpiresAt) }

// webTokenIDLen is how much of the hash names a token: 48 bits, so two
// tokens of one site sharing an id is a chance of about one in a hundred
// million at a thousand tokens (and refused, not overwritten, if it
// happens).
const webTokenIDLen = 12

// maxTokenComment bounds a token's comment, a label such as "grafana".
const maxTokenComment = 200

// checkTokenComment keeps a comment to one line of printable text: it is
// shown in lists and in the logbook's reason.
func checkTokenComment(c string) error {
	if !utf8.ValidString(c) || utf8.RuneCountInString(c) > maxTokenComment {
		return Invalid(fmt.Errorf("comment: want at most %d characters of UTF-8 text", maxTokenComment))
	}
	for _, r := range c {
		if !unicode.IsPrint(r) {
			return Invalid(fmt.Errorf("comment %q: must be one line of printable characters", c))
		}
	}
	return nil
}

// isTokenHash reports whether h looks like a SHA-256 in hex, so a raw token
// passed by mistake is refused instead of stored.
func isTokenHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// AddWebToken records an API token of web user name by its hash (the
// SHA-256 of the token, in hex), valid until expires. Like every change it
// is one transaction with its logbook entry, which names the token by id.
func (s *Store) AddWebToken(ctx context.Context, actor Actor, name, hash, comment string, expires time.Time) (WebToken, error) {
	t := WebToken{User: name, Comment: comment}
	err := s.write(ctx, func(tx *sql.Tx) error {
		if !isTokenHash(hash) {
			return errors.New("token hash is not a SHA-256 in hex")
		}
		if err := checkTokenComment(comment); err != nil {
			return err
		}
		var role string
		switch err := tx.QueryRowContext(ctx, `SELECT role FROM web_users WHERE name = ?`, name).Scan(&role); {
		case errors.Is(err, sql.ErrNoRows):
			return Invalid(fmt.Errorf("web user %s: %w (see node-switch web-user list)", name, ErrNotFound))
		case err != nil:
			return err
		}
		t.ID = hash[:webTokenIDLen]
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM web_tokens WHERE id = ?`, t.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("token id %s is taken (a one in billions chance): make another token", t.ID)
		}
		now := s.now().UTC().Truncate(time.Second)
		t.CreatedAt, t.ExpiresAt = now, expires.UTC().Truncate(time.Second)
		if !t.ExpiresAt.After(now) {
			return Invalid(fmt.Errorf("expiry %s is not in the future", t.ExpiresAt.Format(time.DateTime)))
		}
		if _, err := s.appendEvent(ctx, tx, actor, Event{Action: ActionWebTokenAdd, Reason: comment,
			Result: fmt.Sprintf("%s role %s token %s expires %s", name, role, t.ID, t.ExpiresAt.Format(time.DateTime))}); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO web_tokens (id, web_user, hash, comment, created_at, expires_at) VALUES (?,?,?,?,?,?)`,
			t.ID, name, hash, comment, t.CreatedAt.Unix(), t.ExpiresAt.Unix())
		return err
	})
	if err != nil {
		return WebToken{}, fmt.Errorf("add API token for web user %s: %w", name, err)
	}
	return t, nil
}

const webTokenColumns = `t.id, t.web_user, t.comment, t.created_at, t.expires_at`

func scanWebToken(sc interface{ Scan(...any) error }, extra ...any) (WebToken, error) {
	var t WebToken
	var created, expires int64
	if err := sc.Scan(append([]any{&t.ID, &t.User, &t.Comment, &created, &expires}, extra...)...); err != nil {
		return WebToken{}, err
	}
	t.CreatedAt, t.ExpiresAt = time.Unix(created, 0).UTC(), time.Unix(expires, 0).UTC()
	return t, nil
}

// WebTokens lists the API tokens of web user name (expired ones too, until
// removed), oldest first.
func (s *Store) WebTokens(ctx context.Context, name string) ([]WebToken, error) {
	var exists int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM web_users WHERE name = ?`, name).Scan(&exists); err != nil {
		return nil, fmt.Errorf("list API tokens of %s: %w", name, err)
	}
	if exists == 0 {
		return nil, Invalid(fmt.Errorf("web user %s: %w (see node-switch web-user list)", name, ErrNotFound))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+webTokenColumns+` FROM web_tokens t WHERE t.web_user = ? ORDER BY t.created_at, t.id`, name)
	if err != nil {
		return nil, fmt.Errorf("list API tokens of %s: %w", name, err)
	}
	defer rows.Close()
	out := []WebToken{}
	for rows.Next() {
		t, err := scanWebToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list API tokens of %s: %w", name, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list API tokens of %s: %w", name, err)
	}
	return out, nil
}

// WebTokenUser finds the token of hash and its user, for an API request.
// It is read at every request, so a removed token or user is refused at
// once and the role is the user's current one. Expiry is the caller's to
// check (WebToken.Expired), with its clock. ErrNotFound: no such token.
func (s *Store) WebTokenUser(ctx context.Context, hash string) (WebUser, WebToken, error) {
	var u WebUser
	var added int64
	row := s.db.QueryRowContext(ctx, `SELECT `+webTokenColumns+`, u.role, u.added_at FROM web_tokens t JOIN web_users u ON u.name = t.web_user WHERE t.hash = ?`, hash)
	t, err := scanWebToken(row, &u.Role, &added)
	if errors.Is(err, sql.ErrNoRows) {
		return WebUser{}, WebToken{}, fmt.Errorf("API token: %w", ErrNotFound)
	}
	if err != nil {
		return WebUser{}, WebToken{}, fmt.Errorf("API token: %w", err)
	}
	u.Name, u.AddedAt = t.User, time.Unix(added, 0).UTC()
	return u, t, nil
}

// RemoveWebToken revokes token id of web user name.
func (s *Store) RemoveWebToken(ctx context.Context, actor Actor, name, id string) (WebToken, error) {
	var t WebToken
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = scanWebToken(tx.QueryRowContext(ctx, `SELECT `+webTokenColumns+` FROM web_tokens t WHERE t.web_user = ? AND t.id = ?`, name, strings.ToLower(id)))
		if errors.Is(err, sql.ErrNoRows) {
			return Invalid(fmt.Errorf("token %s: %w (see node-switch web-user token list %s)", id, ErrNotFound, name))
		}
		if err != nil {
			return err
		}
		if _, err := s.appendEvent(ctx, tx, actor, Event{Action: ActionWebTokenRemove, Reason: t.Comment,
			Result: fmt.Sprintf("%s token %s", name, t.ID)}); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM web_tokens WHERE id = ?`, t.ID)
		return err
	})
	if err != nil {
		return WebToken{}, fmt.Errorf("remove API token of web user %s: %w", name, err)
	}
	return t, nil
}
