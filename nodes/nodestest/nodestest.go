// Package nodestest opens throw-away inventories for tests.
package nodestest

import (
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
