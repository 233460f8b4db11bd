package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/sshfront"
)

// "ssh hostkey" is a read: over SSH it shows the key the daemon serves with
// and touches no file, whatever flags it is given; on the head node it
// writes a key only with --generate.
func TestSSHHostKeyWritesNothingUnlessAsked(t *testing.T) {
	t.Setenv("NODE_SWITCH_SSH_HOST_KEY", "")
	dir := t.TempDir()
	db := filepath.Join(dir, "inventory.db")
	mustRun(t, db, "profile", "add", "linux", "--kind", "linux", "--kernel", "vmlinuz")
	keyFile := filepath.Join(dir, "ssh_host_ed25519_key")
	keyFiles := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "*host*"))
		return m
	}

	st, err := nodes.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	front := testSSHRunner(t, st)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	daemon, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	overSSH := func(hostKey ssh.PublicKey, args ...string) (string, string, int) {
		id := sshfront.Identity{Fingerprint: "SHA256:test", Comment: "monitor", Role: nodes.RoleRead, Addr: "192.0.2.7:50000", HostKey: hostKey}
		var out, errb bytes.Buffer
		code := front(context.Background(), args, id, &out, &errb)
		return out.String(), errb.String(), code
	}
	daemonFP := ssh.FingerprintSHA256(daemon.PublicKey())

	for _, tc := range []struct {
		name       string
		ssh        bool
		hostKey    ssh.PublicKey
		args       []string
		status     int
		out, err   string // substrings of stdout and stderr
		notOut     string
		keyWritten bool
	}{
		{name: "over SSH: the daemon's key, no file", ssh: true, hostKey: daemon.PublicKey(), args: []string{"ssh", "hostkey"},
			out: daemonFP + " (ssh-ed25519)"},
		{name: "over SSH, JSON without the daemon's path", ssh: true, hostKey: daemon.PublicKey(), args: []string{"ssh", "hostkey", "--json"},
			out: `"fingerprint": "` + daemonFP + `"`, notOut: `"path"`},
		{name: "over SSH --generate writes nothing either", ssh: true, hostKey: daemon.PublicKey(), args: []string{"ssh", "hostkey", "--generate"},
			out: daemonFP},
		{name: "over SSH without the daemon's key: an error, not a guess", ssh: true, args: []string{"ssh", "hostkey"},
			status: 1, err: "does not know the daemon's host key"},
		{name: "locally, no key yet: says how to make one", args: []string{"ssh", "hostkey"},
			status: 1, err: "no SSH host key at " + keyFile},
		{name: "locally --generate makes it", args: []string{"ssh", "hostkey", "--generate", "--json"},
			err: "generated a new host key", out: `"path": "` + keyFile + `"`, keyWritten: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut string
			var status int
			if tc.ssh {
				out, errOut, status = overSSH(tc.hostKey, tc.args...)
			} else {
				out, errOut, status = run(t, db, tc.args...)
			}
			if status != tc.status || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.err) || (tc.notOut != "" && strings.Contains(out, tc.notOut)) {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", status, tc.status, out, errOut)
			}
			if got := keyFiles(); (len(got) > 0) != tc.keyWritten {
				t.Fatalf("key files %v after %s; want one written: %v", got, tc.name, tc.keyWritten)
			}
		})
	}

	// The file made, the local command reads it (and it is not the key
	// over SSH, which comes from the daemon, not from this file).
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key file: %v %v", fi, err)
	}
	local := mustRun(t, db, "ssh", "hostkey")
	if strings.Contains(local, daemonFP) {
		t.Fatalf("local ssh hostkey shows the daemon's test key: %s", local)
	}
	if out, _, _ := overSSH(daemon.PublicKey(), "ssh", "hostkey"); !strings.Contains(out, daemonFP) {
		t.Fatalf("over SSH with a key file present: %s", out)
	}
	if again := mustRun(t, db, "ssh", "hostkey", "--generate"); again != local {
		t.Fatalf("--generate with a key present changed it: %s, was %s", again, local)
	}

	// The front door itself refuses the flags: the key file and its
	// creation are the head node's business.
	policy, err := sshPolicy()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"ssh hostkey --generate", "ssh hostkey --ssh-host-key /etc/shadow"} {
		words, _ := sshfront.Split(line)
		if _, err := policy.Check(words, nodes.RoleOperate); err == nil || !strings.Contains(err.Error(), "not accepted over SSH") {
			t.Errorf("%s: %v", line, err)
		}
	}
}
