package nodes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func tokenHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// TestWebTokens adds, finds, lists and revokes API tokens, refuses bad
// input without changing anything, and keeps the hash (let alone the
// token) out of the logbook.
func TestWebTokens(t *testing.T) {
	st := openTestStore(t)
	ctx := context.Background()
	clock := time.Unix(1_800_000_000, 0)
	st.SetClock(func() time.Time { return clock })
	_, err := st.AddWebUser(ctx, testActor, "alice", RoleOperate, "$argon2id$x")
	must(t, err)
	_, err = st.AddWebUser(ctx, testActor, "bob", RoleRead, "$argon2id$x")
	must(t, err)
	later := clock.Add(90 * 24 * time.Hour)
	good := tokenHash("nst_first")

	for _, tc := range []struct {
		name          string
		user, hash    string
		comment       string
		expires       time.Time
		want          string
		invalid       bool
		wantAddedUser string
	}{
		{"unknown user", "mallory", good, "", later, "not found", true, ""},
		{"raw token for a hash", "alice", "nst_first", "", later, "not a SHA-256", false, ""},
		{"upper-case hash", "alice", strings.ToUpper(good), "", later, "not a SHA-256", false, ""},
		{"expiry now", "alice", good, "", clock, "not in the future", true, ""},
		{"two-line comment", "alice", good, "a\nb", later, "one line", true, ""},
		{"long comment", "alice", good, strings.Repeat("x", maxTokenComment+1), later, "at most", true, ""},
		{"ok", "alice", good, "grafana", later, "", false, "alice"},
		{"same token again", "bob", good, "", later, "taken", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := st.Log(ctx, LogFilter{})
			tok, err := st.AddWebToken(ctx, testActor, tc.user, tc.hash, tc.comment, tc.expires)
			after, _ := st.Log(ctx, LogFilter{})
			if tc.want == "" {
				must(t, err)
				if tok.ID != good[:webTokenIDLen] || tok.User != tc.wantAddedUser || !tok.ExpiresAt.Equal(later) || len(after) != len(before)+1 {
					t.Fatalf("added %+v, logbook %d -> %d", tok, len(before), len(after))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrInvalid) != tc.invalid {
				t.Fatalf("err %v, want %q (invalid input %v)", err, tc.want, tc.invalid)
			}
			if len(after) != len(before) {
				t.Fatalf("a refused add wrote the logbook")
			}
		})
	}

	u, tok, err := st.WebTokenUser(ctx, good)
	must(t, err)
	if u.Name != "alice" || u.Role != RoleOperate || tok.Comment != "grafana" || tok.Expired(clock) || !tok.Expired(later) {
		t.Fatalf("lookup: %+v %+v", u, tok)
	}
	if _, _, err := st.WebTokenUser(ctx, tokenHash("nst_other")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	second, err := st.AddWebToken(ctx, testActor, "alice", tokenHash("nst_second"), "", later)
	must(t, err)
	ts, err := st.WebTokens(ctx, "alice")
	must(t, err)
	if len(ts) != 2 || ts[0].ID != tok.ID || ts[1].ID != second.ID {
		t.Fatalf("list: %+v", ts)
	}
	if _, err := st.WebTokens(ctx, "mallory"); !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("list of an unknown user: %v", err)
	}

	if _, err := st.RemoveWebToken(ctx, testActor, "bob", tok.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob removed alice's token: %v", err)
	}
	if _, err := st.RemoveWebToken(ctx, testActor, "alice", strings.ToUpper(tok.ID)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.WebTokenUser(ctx, good); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked token still found: %v", err)
	}

	// Removing the user revokes the rest.
	_, err = st.RemoveWebUser(ctx, testActor, "alice")
	must(t, err)
	if _, _, err := st.WebTokenUser(ctx, tokenHash("nst_second")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token of a removed user still found: %v", err)
	}
	evs, err := st.Log(ctx, LogFilter{})
	must(t, err)
	b, _ := json.Marshal(evs)
	for _, secret := range []string{good, tokenHash("nst_second")} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("a token hash in the logbook: %s", b)
		}
	}
	var got []string
	for _, e := range evs {
		if strings.HasPrefix(string(e.Action), "web-") {
			got = append(got, string(e.Action)+" "+e.Result)
		}
	}
	want := []string{
		"web-user-add alice role operate",
		"web-user-add bob role read",
		"web-token-add alice role operate token " + good[:12] + " expires " + later.UTC().Format(time.DateTime),
		"web-token-add alice role operate token " + second.ID + " expires " + later.UTC().Format(time.DateTime),
		"web-token-rm alice token " + good[:12],
		"web-user-rm alice role operate, 1 API token(s) revoked",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("logbook:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
