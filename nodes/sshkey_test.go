package nodes

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestSSHKeys(t *testing.T) {
	ctx := context.Background()
	st, err := Open(filepath.Join(t.TempDir(), "inv.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	actor := Actor{Name: "alice", Channel: ChannelCLI, From: "local"}
	k := SSHKey{Fingerprint: "SHA256:abc", PublicKey: "ssh-ed25519 AAAAC3 win-head", Role: RoleOperate, Comment: "win-head"}
	if _, err := st.AddSSHKey(ctx, actor, k); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddSSHKey(ctx, actor, k); err == nil || !strings.Contains(err.Error(), "already registered with role operate") {
		t.Fatalf("duplicate: %v", err)
	}
	for _, bad := range []SSHKey{
		{Fingerprint: "SHA256:x", PublicKey: "k", Role: "admin"},
		{Fingerprint: "MD5:x", PublicKey: "k", Role: RoleRead},
		{Fingerprint: "SHA256:y", PublicKey: "k", Role: RoleRead, Comment: "two\nlines"},
	} {
		if _, err := st.AddSSHKey(ctx, actor, bad); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
	got, err := st.SSHKey(ctx, "SHA256:abc")
	if err != nil || got.Role != RoleOperate || got.Comment != "win-head" || got.AddedAt.IsZero() {
		t.Fatalf("get: %+v %v", got, err)
	}
	ks, err := st.SSHKeys(ctx)
	if err != nil || len(ks) != 1 {
		t.Fatalf("list: %+v %v", ks, err)
	}
	if _, err := st.RemoveSSHKey(ctx, actor, "SHA256:abc"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SSHKey(ctx, "SHA256:abc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after rm: %v", err)
	}
	if _, err := st.RemoveSSHKey(ctx, actor, "SHA256:abc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rm twice: %v", err)
	}
	log, err := st.Log(ctx, LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range log {
		actions = append(actions, string(e.Action)+" "+e.Result+" by "+e.Actor)
	}
	want := "ssh-key-add SHA256:abc role operate by alice|ssh-key-rm SHA256:abc role operate by alice"
	if strings.Join(actions, "|") != want {
		t.Fatalf("logbook %q, want %q", strings.Join(actions, "|"), want)
	}
}
