package nodes_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/nodestest"
	"github.com/node-switch/node-switch/nodes/pgtest"
)

// TestMain lets a test run this binary as a second process that commits to
// an inventory: the WAL index is shared between processes, which is the case
// that matters (the CLI commits, the daemon watches).
func TestMain(m *testing.M) {
	if db := os.Getenv("NODES_TEST_COMMIT_TO"); db != "" {
		st, err := nodes.Open(db)
		if err == nil {
			_, err = st.Record(context.Background(), nodestest.Actor, nodes.Event{Action: nodes.ActionSSHCommand, Reason: "from another process"})
			st.Close()
		}
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(pgtest.Main(m))
}

func TestCommitsSeeEveryCommit(t *testing.T) {
	ctx := context.Background()
	st := nodestest.Open(t)
	// A second connection of this process, as the CLI would be.
	other, err := nodes.Open(st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	w, err := st.WatchCommits()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	raw, err := sql.Open("sqlite3", "file:"+st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	steps := []struct {
		name    string
		do      func() error
		changed bool
	}{
		{"nothing", func() error { return nil }, false},
		{"a read", func() error { _, err := other.Nodes(ctx, ""); return err }, false},
		{"a logbook entry from another connection", func() error {
			_, err := other.Record(ctx, nodestest.Actor, nodes.Event{Action: nodes.ActionSSHCommand})
			return err
		}, true},
		{"a sighting of no known node (writes no page)", func() error {
			return other.RecordSeen(ctx, []nodes.Seen{{MAC: "02:00:00:00:00:01"}})
		}, false},
		{"a commit with no logbook entry", func() error {
			_, err := raw.Exec(`INSERT INTO events (time, actor, channel, action, nodes) VALUES (0, 'sqlite3', 'cli', 'note', '')`)
			return err
		}, true},
		{"a rolled-back transaction", func() error {
			tx, err := raw.Begin()
			if err != nil {
				return err
			}
			if _, err := tx.Exec(`DELETE FROM events`); err != nil {
				return err
			}
			return tx.Rollback()
		}, false},
		{"a checkpoint that empties the WAL", func() error {
			_, err := raw.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
			return err
		}, true},
		{"the first commit after the checkpoint", func() error {
			_, err := st.Record(ctx, nodestest.Actor, nodes.Event{Action: nodes.ActionSSHCommand})
			return err
		}, true},
		{"a commit from another process", func() error {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "NODES_TEST_COMMIT_TO="+st.Path())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Logf("%s", out)
			}
			return err
		}, true},
	}
	before := w.Stamp()
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		after := w.Stamp()
		if got := after != before; got != s.changed {
			t.Errorf("%s: stamp changed = %v, want %v", s.name, got, s.changed)
		}
		before = after
	}
	if w.Stale() {
		t.Error("Stale while connections are open")
	}
}

func TestCommitsStaleWhenTheIndexIsReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inventory.db")
	st, err := nodes.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := st.WatchCommits()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// The last connection closing deletes the -shm file; the next opener
	// makes a new one that the old mapping does not see.
	st.Close()
	if !w.Stale() {
		t.Fatal("not Stale after every connection closed")
	}
	st, err = nodes.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w2, err := st.WatchCommits()
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if w2.Stale() {
		t.Error("a fresh watch is Stale")
	}
}

// TestGenerationMovesOnlyForBootAnswers walks through every kind of write,
// through node-switch, by hand over a plain connection and through the
// sqlite3 shell: exactly those that change what a DHCP, TFTP or HTTP answer
// is made of move the generation.
func TestGenerationMovesOnlyForBootAnswers(t *testing.T) {
	ctx := context.Background()
	st := nodestest.Open(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.AddProfile(ctx, nodestest.Actor, nodes.Profile{Name: "linux", Kind: nodes.KindLinux,
		BootFiles: map[string]string{nodes.BootBIOS: "lx/pxelinux.0"}}))
	must(st.AddProfile(ctx, nodestest.Actor, nodes.Profile{Name: "windows", Kind: nodes.KindLocalDisk}))
	must(st.AddCluster(ctx, nodestest.Actor, nodes.Cluster{Name: "linux", Profile: "linux"}))
	must(st.AddCluster(ctx, nodestest.Actor, nodes.Cluster{Name: "windows", Profile: "windows"}))
	for i, name := range []string{"a1", "a2"} {
		_, err := st.AddNode(ctx, nodestest.Actor, nodes.Node{Name: name, MAC: fmt.Sprintf("02:00:00:00:00:%02x", i+1),
			IP: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), Cluster: "linux"}, "")
		must(err)
	}
	must(st.AddNFSRoot(ctx, nodestest.Actor, nodes.NFSRoot{Name: "lab", Server: "10.0.0.250", Export: "/srv/lab",
		Kernel: "lab/vmlinuz", Initrd: "lab/initrd.img"}))

	raw, err := sql.Open("sqlite3", "file:"+st.Path()+"?_busy_timeout=30000")
	must(err)
	defer raw.Close()
	hand := func(q string) func() error {
		return func() error { _, err := raw.Exec(q); return err }
	}
	shell := func(q string) func() error {
		return func() error {
			bin, err := exec.LookPath("sqlite3")
			if err != nil {
				t.Skip("sqlite3 shell not installed (Debian package sqlite3)")
			}
			if out, err := exec.Command(bin, "-cmd", ".timeout 30000", st.Path(), q).CombinedOutput(); err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		}
	}

	steps := []struct {
		name  string
		do    func() error
		moves bool
	}{
		{"a logbook entry", func() error {
			_, err := st.Record(ctx, nodestest.Actor, nodes.Event{Action: nodes.ActionSSHCommand, Nodes: []string{"a1"}})
			return err
		}, false},
		{"a sightings flush", func() error {
			return st.RecordSeen(ctx, []nodes.Seen{{MAC: "02:00:00:00:00:01", Time: time.Unix(1e9, 0), Firmware: "uefi"}})
		}, false},
		{"an NFS-root check result", func() error { return st.RecordNFSRootCheck(ctx, nodestest.Actor, "lab", true, "ok") }, false},
		{"an SSH key", func() error {
			_, err := st.AddSSHKey(ctx, nodestest.Actor, nodes.SSHKey{Fingerprint: "SHA256:x", PublicKey: "ssh-ed25519 AAAA", Role: nodes.RoleRead})
			return err
		}, false},
		{"a logbook entry by hand", hand(`INSERT INTO events (time, actor, channel, action) VALUES (0, 'me', 'cli', 'note')`), false},
		{"last seen and firmware by hand", hand(`UPDATE nodes SET last_seen = 5, firmware = 'bios'`), false},
		{"a rolled-back move by hand", func() error {
			tx, err := raw.Begin()
			if err != nil {
				return err
			}
			if _, err := tx.Exec(`UPDATE nodes SET cluster = 'windows'`); err != nil {
				return err
			}
			return tx.Rollback()
		}, false},
		{"a move", func() error {
			_, err := st.Move(ctx, nodestest.Actor, nodes.MoveRequest{Range: "a1", To: "windows"})
			return err
		}, true},
		{"a mask", func() error {
			_, err := st.SetMask(ctx, nodestest.Actor, nodes.MaskRequest{Range: "a2", Mask: true, Reason: "reinstall"})
			return err
		}, true},
		{"a profile change", func() error {
			_, err := st.UpdateProfile(ctx, nodestest.Actor, "linux", "", func(p *nodes.Profile) error { p.Append = "quiet"; return nil })
			return err
		}, true},
		{"a cluster's profile", func() error { return st.SetClusterProfile(ctx, nodestest.Actor, "windows", "linux", "") }, true},
		{"a subnet", func() error {
			return st.SetSubnet(ctx, nodestest.Actor, nodes.Subnet{Prefix: netip.MustParsePrefix("10.0.0.0/24")})
		}, true},
		{"a node's address by hand", hand(`UPDATE nodes SET ip = '10.0.0.9' WHERE name = 'a1'`), true},
		{"a boot file by hand", hand(`UPDATE boot_files SET file = 'lx/lpxelinux.0'`), true},
		{"a subnet's routers by hand", hand(`UPDATE subnets SET routers = '10.0.0.254'`), true},
		{"an NFS root's export by hand", hand(`UPDATE nfsroots SET export = '/srv/lab2'`), true},
		{"a node removed", func() error { _, err := st.RemoveNodes(ctx, nodestest.Actor, "a2", ""); return err }, true},
		{"a logbook entry from the sqlite3 shell", shell(`INSERT INTO events (time, actor, channel, action) VALUES (0, 'me', 'cli', 'note')`), false},
		{"a sighting from the sqlite3 shell", shell(`UPDATE nodes SET last_seen = 7`), false},
		{"a mask from the sqlite3 shell", shell(`UPDATE nodes SET masked = 1 WHERE name = 'a1'`), true},
		{"a cluster's description from the sqlite3 shell", shell(`UPDATE clusters SET description = 'by hand'`), true},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before, err := st.Generation(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.do(); err != nil {
				t.Fatal(err)
			}
			after, err := st.Generation(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := after != before; got != s.moves {
				t.Errorf("generation %d -> %d: moved = %v, want %v", before, after, got, s.moves)
			}
		})
	}
}
