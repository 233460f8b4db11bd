package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/node-switch/node-switch/nodes"
)

// nodeNames lists the inventory's nodes as one compressed range.
func nodeNames(t *testing.T, db string) string {
	t.Helper()
	var ns []nodes.Node
	if err := json.Unmarshal([]byte(mustRun(t, db, "node", "list", "--json")), &ns); err != nil {
		t.Fatal(err)
	}
	return nodes.Compress(namesOfNodes(ns))
}

// node rm of more than one node needs --yes; --dry-run lists; one node
// needs nothing. A refusal exits 2, says how many and which, and removes
// nothing.
func TestNodeRemoveConfirms(t *testing.T) {
	const all = "umu[18-23]"
	tests := []struct {
		args     []string
		status   int
		out, err string // substrings
		left     string // the nodes left afterwards
	}{
		{[]string{"windows"}, 2, "", "names 2 nodes: umu[18-19]; pass --yes", all},
		{[]string{"all"}, 2, "", "names 6 nodes: umu[18-23]; pass --yes", all},
		{[]string{"umu18", "umu20"}, 2, "", "names 2 nodes: umu[18,20]", all},
		{[]string{"linux", "--dry-run"}, 0, "would remove umu[20-23] (4 nodes; dry run: nothing changed)", "", all},
		{[]string{"all", "--dry-run", "--yes"}, 0, "would remove umu[18-23] (6 nodes;", "", all},
		{[]string{"umu18"}, 0, "removed umu18 (logbook #2)", "", "umu[19-23]"},
		{[]string{"windows", "--yes"}, 0, "removed umu[18-19] (logbook #2)", "", "umu[20-23]"},
		{[]string{"all,-umu20", "--yes", "--reason", "decommissioned"}, 0, "removed umu[18-19,21-23] (logbook #2)", "", "umu20"},
		{[]string{"umu99"}, 2, "", "unknown node umu99", all},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			db := sourceDB(t)
			out, errs, st := run(t, db, append([]string{"node", "rm"}, tc.args...)...)
			if st != tc.status || !strings.Contains(out, tc.out) || !strings.Contains(errs, tc.err) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q", st, out, errs, tc.status, tc.out, tc.err)
			}
			if got := nodeNames(t, db); got != tc.left {
				t.Errorf("nodes left: %s, want %s", got, tc.left)
			}
		})
	}
}

// JSON keys do not come and go with the data: what is not known yet is
// null, lists are [], never null.
func TestJSONKeysAlwaysPresent(t *testing.T) {
	db := sourceDB(t)
	empty := filepath.Join(t.TempDir(), "empty.db")
	mustRun(t, empty, "profile", "add", "p", "--kind", "localdisk")
	mustRun(t, db, "nfsroot", "add", "lab", "--server", "10.0.0.1", "--export", "/srv/lab", "--kernel", "lab/vmlinuz", "--initrd", "lab/initrd.img")
	st, err := nodes.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	seen := time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)
	if err := st.RecordSeen(t.Context(), []nodes.Seen{{MAC: "00:18:f3:4e:5d:59", Time: seen, Firmware: "uefi"}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	tests := []struct {
		db   string
		args []string
		want string // regexp on the compacted JSON
	}{
		{db, []string{"node", "list", "umu19", "--json"}, `^\[\{"name":"umu19",.*"event":1,"last_seen":null,"firmware":null\}\]$`},
		{db, []string{"node", "list", "umu18", "--json"}, `^\[\{"name":"umu18",.*"last_seen":"2026-11-30T22:00:00Z","firmware":"uefi"\}\]$`},
		{db, []string{"nfsroot", "list", "--json"}, `^\[\{"name":"lab",.*"checked_at":null,"check_ok":false,"check_result":null\}\]$`},
		{empty, []string{"node", "list", "--json"}, `^\[\]$`},
		{empty, []string{"nfsroot", "list", "--json"}, `^\[\]$`},
		{empty, []string{"ssh-key", "list", "--json"}, `^\[\]$`},
		{empty, []string{"cluster", "list", "--json"}, `^\[\]$`},
		{empty, []string{"status", "--json"}, `^\{"clusters":\[\],"masked":\[\],"masked_detail":\[\]\}$`},
		{empty, []string{"profile", "list", "--json"}, `^\[\{"name":"p","kind":"localdisk"\}\]$`},
		{empty, []string{"profile", "show", "p", "--json"}, `^\{"name":"p","kind":"localdisk"\}$`},
		{empty, []string{"log", "--json"}, `^\[\{"id":1,.*"action":"profile-add","nodes":\[\],`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got := compactJSON(t, mustRun(t, tc.db, tc.args...))
			if !regexp.MustCompile(tc.want).MatchString(got) {
				t.Errorf("got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// export dhcpd FILE writes FILE, as -o FILE does; both given must agree.
func TestExportDhcpdFile(t *testing.T) {
	db := sourceDB(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.conf"), filepath.Join(dir, "b.conf")
	tests := []struct {
		args   []string
		status int
		file   string // the file written, "" for stdout
		err    string
	}{
		{[]string{a}, 0, a, ""},
		{[]string{"-o", b}, 0, b, ""},
		{[]string{a, "-o", a}, 0, a, ""},
		{[]string{"--output=" + a, a}, 0, a, ""},
		{nil, 0, "", ""},
		{[]string{a, "-o", b}, 2, "", "disagree"},
		{[]string{a, b}, 2, "", "at most one FILE"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			os.Remove(a)
			os.Remove(b)
			out, errs, st := run(t, db, append([]string{"export", "dhcpd"}, tc.args...)...)
			if st != tc.status || !strings.Contains(errs, tc.err) {
				t.Fatalf("exit %d (%s), want %d with %q", st, errs, tc.status, tc.err)
			}
			for _, f := range []string{a, b} {
				data, err := os.ReadFile(f)
				switch {
				case f == tc.file && (err != nil || !strings.Contains(string(data), "host umu18")):
					t.Errorf("%s: %v, %d bytes without host umu18", f, err, len(data))
				case f != tc.file && err == nil:
					t.Errorf("%s written", f)
				}
			}
			if wantStdout := tc.status == 0 && tc.file == ""; wantStdout != strings.Contains(out, "host umu18") {
				t.Errorf("stdout %q: want the configuration there: %v", out, wantStdout)
			}
		})
	}
}

// nfsroot add refuses options its check can never pass, saying why.
func TestNFSRootAddRefusesOtherVersions(t *testing.T) {
	tests := []struct {
		options string
		status  int
		err     string
	}{
		{"vers=3,tcp", 0, ""},
		{"nfsvers=3,proto=tcp,nolock", 0, ""},
		{"v3,tcp", 0, ""},
		{"vers=4", 2, "NFS version 4; the kernel's nfsroot= that node-switch renders and its check speak NFSv3 only"},
		{"nfsvers=4.2,tcp", 2, "NFS version 4.2"},
		{"v4.1", 2, "NFS version 4.1"},
		{"vers=2,tcp", 2, "NFS version 2"},
		{"vers=3,udp", 2, "UDP"},
	}
	for _, tc := range tests {
		t.Run(tc.options, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "inventory.db")
			_, errs, st := run(t, db, "nfsroot", "add", "lab", "--server", "10.0.0.1", "--export", "/srv/lab",
				"--kernel", "lab/vmlinuz", "--initrd", "lab/initrd.img", "--options", tc.options)
			if st != tc.status || !strings.Contains(errs, tc.err) {
				t.Fatalf("exit %d (%s), want %d with %q", st, errs, tc.status, tc.err)
			}
			if tc.status != 0 {
				if _, err := os.Stat(db); err == nil {
					if got := compactJSON(t, mustRun(t, db, "nfsroot", "list", "--json")); got != "[]" {
						t.Errorf("refused, yet the catalog holds %s", got)
					}
				}
			}
		})
	}
}

func newPublicKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePublicKey(t *testing.T, dir, name string, k ssh.PublicKey) (path, fingerprint string) {
	t.Helper()
	path = filepath.Join(dir, name+".pub")
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " " + name + "\n"
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, ssh.FingerprintSHA256(k)
}

func newPublicKeyFile(t *testing.T, dir, name string) (path, fingerprint string) {
	t.Helper()
	return writePublicKey(t, dir, name, newPublicKey(t))
}

// ssh-key rm takes the fingerprint with or without SHA256:, or a start of
// it only one key has; a miss names the keys there are.
func TestSSHKeyRemoveByFingerprint(t *testing.T) {
	dir := t.TempDir()
	keyA, fpA := newPublicKeyFile(t, dir, "alice")
	b64A := strings.TrimPrefix(fpA, "SHA256:")
	// Bob's fingerprint starts as Alice's does, for a start both share, but
	// not for 7 characters, so a start of 7 is Alice's alone.
	var keyB, fpB string
	shared := 0
	for shared == 0 || shared >= 7 {
		k := newPublicKey(t)
		b64B := strings.TrimPrefix(ssh.FingerprintSHA256(k), "SHA256:")
		for shared = 0; b64A[shared] == b64B[shared]; shared++ {
		}
		if shared > 0 && shared < 7 {
			keyB, fpB = writePublicKey(t, dir, "bob", k)
		}
	}
	tests := []struct {
		arg     string
		status  int
		removed string // fingerprint removed
		err     string // substrings, separated by |
	}{
		{fpA, 0, fpA, ""},
		{b64A, 0, fpA, ""},
		{b64A[:10], 0, fpA, ""},
		{"SHA256:" + b64A[:8], 0, fpA, ""},
		{b64A[:7], 2, "", "give at least 8 characters"},
		{b64A[:shared], 2, "", "starts 2 registered fingerprints|" + fpA[:19] + "... (alice)|" + fpB[:19] + "... (bob)|give more of it"},
		{"SHA256:" + b64A[:shared], 2, "", "starts 2 registered fingerprints"},
		{"SHA256:nosuchkeyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 2, "", "not found; registered: |" + fpA[:19] + "... (alice)|" + fpB[:19] + "... (bob)|(see node-switch ssh-key list)"},
		{"", 2, "", "see node-switch ssh-key list"},
	}
	for _, tc := range tests {
		t.Run(tc.arg, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "inventory.db")
			mustRun(t, db, "ssh-key", "add", keyA, "--role", "operate")
			mustRun(t, db, "ssh-key", "add", keyB, "--role", "read")
			out, errs, st := run(t, db, "ssh-key", "rm", tc.arg)
			if st != tc.status {
				t.Fatalf("exit %d (%s), want %d", st, errs, tc.status)
			}
			for _, want := range strings.Split(tc.err, "|") {
				if !strings.Contains(errs, want) {
					t.Errorf("stderr %q, want %q in it", errs, want)
				}
			}
			list := mustRun(t, db, "ssh-key", "list")
			if tc.removed != "" {
				if want := "removed " + tc.removed + " role operate (alice) (logbook #3)\n"; out != want {
					t.Errorf("stdout %q, want %q", out, want)
				}
			}
			for _, fp := range []string{fpA, fpB} {
				if strings.Contains(list, fp) == (fp == tc.removed) {
					t.Errorf("after rm %s, list:\n%s", tc.arg, list)
				}
			}
		})
	}
}

// Every command that changes the inventory says what it did and the
// number of its logbook entry, which is that entry.
func TestChangeCommandsNameTheirLogbookEntry(t *testing.T) {
	db := filepath.Join(t.TempDir(), "inventory.db")
	dir := t.TempDir()
	key, fp := newPublicKeyFile(t, dir, "carol")
	tests := []struct {
		args []string
		want string // stdout, with #N for the entry's number
	}{
		{[]string{"profile", "add", "day", "--kind", "localdisk"}, "added profile day (localdisk) (logbook #N)"},
		{[]string{"profile", "add", "night", "--kind", "localdisk"}, "added profile night (localdisk) (logbook #N)"},
		{[]string{"profile", "set", "night", "--description", "spare"}, "updated profile night (logbook #N)"},
		{[]string{"cluster", "add", "lab", "--profile", "day"}, "added cluster lab booting profile day (logbook #N)"},
		{[]string{"cluster", "set", "lab", "--profile", "night"}, "cluster lab now boots profile night (logbook #N)"},
		{[]string{"node", "add", "pc01", "--mac", "52:54:00:00:00:01", "--ip", "10.0.0.11", "--cluster", "lab"}, "added pc01 (52:54:00:00:00:01, 10.0.0.11) to lab (logbook #N)"},
		{[]string{"subnet", "set", "10.0.0.0/24", "--router", "10.0.0.1"}, "subnet 10.0.0.0/24 set: routers - → 10.0.0.1 (logbook #N)"},
		{[]string{"nfsroot", "add", "lab", "--server", "10.0.0.1", "--export", "/srv/lab", "--kernel", "lab/vmlinuz", "--initrd", "lab/initrd.img"},
			"added NFS root lab (10.0.0.1:/srv/lab) (logbook #N); run 'node-switch nfsroot check lab' before moving nodes onto it"},
		{[]string{"ssh-key", "add", key, "--role", "read"}, "added ssh-ed25519 " + fp + " role read (carol) (logbook #N)"},
		{[]string{"ssh-key", "rm", fp}, "removed " + fp + " role read (carol) (logbook #N)"},
		{[]string{"nfsroot", "rm", "lab"}, "removed NFS root lab (logbook #N)"},
		{[]string{"subnet", "rm", "10.0.0.0/24"}, "removed subnet 10.0.0.0/24 (logbook #N)"},
		{[]string{"node", "rm", "pc01"}, "removed pc01 (logbook #N)"},
		{[]string{"cluster", "rm", "lab"}, "removed cluster lab (logbook #N)"},
		{[]string{"profile", "rm", "day"}, "removed profile day (logbook #N)"},
	}
	for _, tc := range tests {
		out := mustRun(t, db, tc.args...)
		var evs []nodes.Event
		if err := json.Unmarshal([]byte(mustRun(t, db, "log", "--json", "--limit", "1")), &evs); err != nil || len(evs) != 1 {
			t.Fatalf("log: %v %v", evs, err)
		}
		if want := strings.ReplaceAll(tc.want, "#N", "#"+strconv.FormatInt(evs[0].ID, 10)) + "\n"; out != want {
			t.Errorf("%s:\n got %q\nwant %q", strings.Join(tc.args, " "), out, want)
		}
	}
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("%v in %q", err, s)
	}
	return b.String()
}
