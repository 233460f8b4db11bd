// Package nodestest opens throw-away inventories for tests.
package nodestest

import (
	"database/sql"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/node-switch/node-switch/nodes"
)

// Actor is who test changes are logged as.
var Actor = nodes.Actor{Name: "tester", Channel: nodes.ChannelCLI, From: "local"}

// Open creates an empty inventory in the test's temporary directory and
// closes it when the test ends.
func Open(tb testing.TB) *nodes.Store {
	tb.Helper()
	st, err := nodes.Open(filepath.Join(tb.TempDir(), "inventory.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// SetIP gives a node an address by hand, bypassing the inventory's checks,
// as an administrator's sqlite3 edit would: tests whose client stands in
// for a node from a loopback address need a reservation the inventory
// rightly refuses to make.
func SetIP(tb testing.TB, st *nodes.Store, node string, ip netip.Addr) {
	tb.Helper()
	db, err := sql.Open("sqlite3", st.Path())
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(`UPDATE nodes SET ip = ? WHERE name = ?`, ip.String(), node)
	if err != nil {
		tb.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		tb.Fatalf("SetIP: no node %s", node)
	}
}

// Exec runs one statement on the inventory file by hand, bypassing every
// check, as data written by an older release (before a check existed) or
// an administrator's sqlite3 edit would be.
func Exec(tb testing.TB, st *nodes.Store, query string, args ...any) {
	tb.Helper()
	db, err := sql.Open("sqlite3", st.Path())
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query, args...); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
}
