package nodes

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/node-switch/node-switch/nodes/pgtest"
)

// testBackendEnv set to "postgres" runs every test that opens its store
// with openTestStore (newTestStore: most of this package's store tests) on
// PostgreSQL: go test ./nodes/ with NODES_TEST_BACKEND=postgres.
const testBackendEnv = "NODES_TEST_BACKEND"

// backend opens an empty store of one kind.
type backend struct {
	name string
	open func(t testing.TB) string // the location to pass to Open
}

var backends = []backend{
	{"sqlite", func(t testing.TB) string { return filepath.Join(t.TempDir(), "inventory.db") }},
	{"postgres", func(t testing.TB) string { return pgtest.Shared(t).NewDB(t) }},
}

func openAt(t testing.TB, loc string) *Store {
	t.Helper()
	st, err := Open(loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openTestStore(t testing.TB) *Store {
	t.Helper()
	b := backends[0]
	if os.Getenv(testBackendEnv) == "postgres" {
		b = backends[1]
	}
	return openAt(t, b.open(t))
}

func TestMigrationsInStep(t *testing.T) {
	if len(migrations) != len(pgMigrations) {
		t.Fatalf("%d SQLite migrations, %d PostgreSQL ones: add the twin of each in schema_pg.go", len(migrations), len(pgMigrations))
	}
}

// TestPgSQL checks the translation of the store's dialect.
func TestPgSQL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`SELECT a FROM t WHERE b = ? AND c = ?`, `SELECT a FROM t WHERE b = $1 AND c = $2`},
		{`SELECT '?' , "a?" FROM t WHERE b = ?`, `SELECT '?' , "a?" FROM t WHERE b = $1`},
		{"-- why? 'because\nSELECT ?", "-- why? 'because\nSELECT $1"},
		{`INSERT OR IGNORE INTO e (a, b) VALUES (?, ?)`, `INSERT INTO e (a, b) VALUES ($1, $2) ON CONFLICT DO NOTHING`},
		{`SELECT x FROM t LIMIT -1 OFFSET ?`, `SELECT x FROM t LIMIT ALL OFFSET $1`},
	} {
		if got := pgSQL(tc.in); got != tc.want {
			t.Errorf("pgSQL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// schemaOf lists each table's columns, from the backend's catalogue.
func schemaOf(t *testing.T, st *Store) map[string][]string {
	t.Helper()
	q := `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid`
	if st.pg {
		q = `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'node_switch_schema' ORDER BY table_name, ordinal_position`
	}
	rows, err := st.db.Query(q)
	must(t, err)
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var tb, col string
		must(t, rows.Scan(&tb, &col))
		out[tb] = append(out[tb], col)
	}
	must(t, rows.Err())
	return out
}

// dump reads every table of the inventory in key order, as text.
func dump(t *testing.T, st *Store) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for tb, cols := range schemaOf(t, st) {
		quoted := make([]string, len(cols))
		for i, c := range cols {
			quoted[i] = `"` + c + `"`
		}
		rows, err := st.db.Query(`SELECT ` + strings.Join(quoted, ", ") + ` FROM ` + tb + ` ORDER BY ` + strings.Join(quoted, ", "))
		must(t, err)
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			must(t, rows.Scan(ptrs...))
			var b strings.Builder
			for i, v := range vals {
				if i > 0 {
					b.WriteString("|")
				}
				if v.Valid {
					b.WriteString(v.String)
				} else {
					b.WriteString("NULL")
				}
			}
			out[tb] = append(out[tb], b.String())
		}
		must(t, rows.Err())
		rows.Close()
	}
	return out
}

// script is a run of operations touching every table; TestBackendsAgree
// runs it on each backend. An error is part of the result (a refusal must
// be the same refusal), compared by its text.
func script(t *testing.T, st *Store) []string {
	ctx := context.Background()
	var out []string
	note := func(what string, err error) {
		if err != nil {
			out = append(out, what+": "+err.Error())
		} else {
			out = append(out, what+": ok")
		}
	}
	must(t, st.SetSubnet(ctx, testActor, Subnet{Prefix: netip.MustParsePrefix("10.1.0.0/16"), Routers: []netip.Addr{netip.MustParseAddr("10.1.0.1")}}))
	note("nfsroot", st.AddNFSRoot(ctx, testActor, NFSRoot{Name: "rocky", Server: "10.1.0.2", Export: "/srv/rocky"}))
	note("profile", st.AddProfile(ctx, testActor, Profile{Name: "linux", Kind: KindLinux, Kernel: "vmlinuz", Initrd: "initrd.img", BootFiles: map[string]string{"bios": "pxelinux.0"}}))
	note("profile windows", st.AddProfile(ctx, testActor, Profile{Name: "windows", Kind: KindLocalDisk}))
	note("profile dup", st.AddProfile(ctx, testActor, Profile{Name: "linux", Kind: KindLinux}))
	note("cluster linux", st.AddCluster(ctx, testActor, Cluster{Name: "linux", Profile: "linux"}))
	note("cluster windows", st.AddCluster(ctx, testActor, Cluster{Name: "windows", Profile: "windows"}))
	note("cluster bad", st.AddCluster(ctx, testActor, Cluster{Name: "x", Profile: "nope"}))
	inv := Inventory{}
	for i := 1; i <= 20; i++ {
		inv.Nodes = append(inv.Nodes, Node{Name: fmt.Sprintf("umu%02d", i), MAC: fmt.Sprintf("02:00:00:00:00:%02x", i),
			IP: netip.AddrFrom4([4]byte{10, 1, 0, byte(10 + i)}), Cluster: "windows"})
	}
	_, err := st.Import(ctx, testActor, inv, "import")
	note("import", err)
	_, err = st.AddNode(ctx, testActor, Node{Name: "umu01", MAC: "02:00:00:00:01:01", IP: netip.MustParseAddr("10.1.1.1"), Cluster: "linux"}, "dup")
	note("add dup", err)
	_, err = st.AddNodeWithBMC(ctx, testActor, Node{Name: "umu99", MAC: "02:00:00:00:01:99", IP: netip.MustParseAddr("10.1.1.99"), Cluster: "linux"},
		&BMC{Host: "10.2.0.99", User: "admin", PasswordFile: "/etc/node-switch/bmc.pw"}, "with bmc")
	note("add bmc", err)
	c, err := st.Move(ctx, testActor, MoveRequest{Range: "umu[01-10]", To: "linux", Reason: "to linux"})
	note(fmt.Sprintf("move %v", c.Names()), err)
	_, err = st.Move(ctx, testActor, MoveRequest{Range: "umu[01-30]", To: "linux"})
	note("move missing", err)
	_, err = st.SetMask(ctx, testActor, MaskRequest{Range: "umu[05-06]", Mask: true, Reason: "broken"})
	note("mask", err)
	_, err = st.SetOnce(ctx, testActor, OnceRequest{Range: "umu11", To: "linux", Reason: "once"})
	note("once", err)
	_, err = st.RecordUnknown(ctx, []Unknown{
		{MAC: "02:00:00:00:09:01", FirstSeen: time.Unix(100, 0), LastSeen: time.Unix(200, 0), TimesSeen: 2, Firmware: "bios"},
		{MAC: "02:00:00:00:09:01", FirstSeen: time.Unix(50, 0), LastSeen: time.Unix(150, 0), TimesSeen: 1},
		{MAC: "02:00:00:00:09:02", FirstSeen: time.Unix(300, 0), LastSeen: time.Unix(300, 0)},
		{MAC: "02:00:00:00:09:03", FirstSeen: time.Unix(10, 0), LastSeen: time.Unix(10, 0)},
		{MAC: "02:00:00:00:00:01", FirstSeen: time.Unix(10, 0), LastSeen: time.Unix(10, 0)},
	}, 2)
	note("unknown", err)
	_, err = st.AddWebUser(ctx, testActor, "alice", "operate", "$argon2id$x")
	note("web user", err)
	_, err = st.AddWebToken(ctx, testActor, "alice", strings.Repeat("ab", 32), "grafana", time.Unix(1800000000, 0))
	note("web token", err)
	_, err = st.AddWebToken(ctx, testActor, "alice", strings.Repeat("cd", 32), "", time.Unix(1800000000, 0))
	note("web token 2", err)
	_, err = st.RemoveWebToken(ctx, testActor, "alice", "cdcdcdcdcdcd")
	note("web token rm", err)
	note("nfsroot check", st.RecordNFSRootCheck(ctx, testActor, "rocky", true, "fine"))
	note("remove cluster in use", st.RemoveCluster(ctx, testActor, "linux"))
	_, err = st.RemoveNodes(ctx, testActor, "umu20", "gone")
	note("remove node", err)
	evs, err := st.Log(ctx, LogFilter{Nodes: []string{"umu05"}})
	note(fmt.Sprintf("log umu05: %d entries", len(evs)), err)
	ns, err := st.Nodes(ctx, "linux")
	names := make([]string, len(ns))
	for i, n := range ns {
		names[i] = n.Name
	}
	note("nodes linux "+strings.Join(names, ","), err)
	d, err := st.Status(ctx)
	note(fmt.Sprintf("status %+v", d), err)
	g, err := st.Generation(ctx)
	note(fmt.Sprintf("generation %d", g), err)
	return out
}

// TestBackendsAgree runs the same operations on SQLite and PostgreSQL and
// compares what each reports and every table's rows afterwards.
func TestBackendsAgree(t *testing.T) {
	type result struct {
		ops    []string
		tables map[string][]string
		schema map[string][]string
	}
	var results []result
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := openAt(t, b.open(t))
			clock := time.Unix(1700000000, 0)
			st.SetClock(func() time.Time { clock = clock.Add(time.Second); return clock })
			ops := script(t, st)
			results = append(results, result{ops, dump(t, st), schemaOf(t, st)})
		})
	}
	if len(results) != len(backends) {
		t.Skip("a backend was skipped; nothing to compare")
	}
	a, b := results[0], results[1]
	if !reflect.DeepEqual(a.schema, b.schema) {
		t.Errorf("schemas differ:\nsqlite   %v\npostgres %v", a.schema, b.schema)
	}
	for i := range max(len(a.ops), len(b.ops)) {
		var x, y string
		if i < len(a.ops) {
			x = a.ops[i]
		}
		if i < len(b.ops) {
			y = b.ops[i]
		}
		if x != y {
			t.Errorf("step %d:\nsqlite   %s\npostgres %s", i, x, y)
		}
	}
	for tb, rows := range a.tables {
		if !reflect.DeepEqual(rows, b.tables[tb]) {
			t.Errorf("table %s differs:\nsqlite   %q\npostgres %q", tb, rows, b.tables[tb])
		}
	}
	if len(a.tables["events"]) < 10 {
		t.Errorf("only %d logbook entries: the script did not run", len(a.tables["events"]))
	}
}

// TestConcurrentWriters: 50 writers, each with a store of its own (as 50
// CLI processes would have), each move a node and write the logbook at
// once; every entry and every move is there afterwards.
func TestConcurrentWriters(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			loc := b.open(t)
			st := openAt(t, loc)
			ctx := context.Background()
			must(t, st.AddProfile(ctx, testActor, Profile{Name: "linux", Kind: KindLinux, Kernel: "k", Initrd: "i"}))
			must(t, st.AddProfile(ctx, testActor, Profile{Name: "windows", Kind: KindLocalDisk}))
			must(t, st.AddCluster(ctx, testActor, Cluster{Name: "linux", Profile: "linux"}))
			must(t, st.AddCluster(ctx, testActor, Cluster{Name: "windows", Profile: "windows"}))
			addNodes(t, st, "n", "windows", 50)
			before, err := st.Log(ctx, LogFilter{})
			must(t, err)
			const writers = 50
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for i := 1; i <= writers; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					w, err := Open(loc)
					if err != nil {
						errs <- err
						return
					}
					defer w.Close()
					if _, err := w.Move(ctx, testActor, MoveRequest{Range: fmt.Sprintf("n%d", i), To: "linux", Reason: fmt.Sprintf("writer %d", i)}); err != nil {
						errs <- fmt.Errorf("writer %d: %w", i, err)
						return
					}
					if _, err := w.Record(ctx, testActor, Event{Action: ActionSSHCommand, Reason: fmt.Sprintf("writer %d", i)}); err != nil {
						errs <- fmt.Errorf("writer %d: %w", i, err)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			after, err := st.Log(ctx, LogFilter{})
			must(t, err)
			seen := map[string]int{}
			for _, e := range after[len(before):] {
				seen[string(e.Action)+" "+e.Reason]++
			}
			for i := 1; i <= writers; i++ {
				for _, a := range []Action{ActionMove, ActionSSHCommand} {
					if n := seen[fmt.Sprintf("%s writer %d", a, i)]; n != 1 {
						t.Errorf("writer %d: %d %s entries, want 1", i, n, a)
					}
				}
			}
			ns, err := st.Nodes(ctx, "all")
			must(t, err)
			for _, n := range ns {
				if n.Cluster != "linux" {
					t.Errorf("%s in %s, want linux: a move was lost", n.Name, n.Cluster)
				}
			}
		})
	}
}
