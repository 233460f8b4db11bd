// Package bootfstest builds the boot file system the TFTP and HTTP fuzz
// targets attack: a real inventory with a node and a masked node, and a
// boot root with a secret beside it and symlinks leading out of it.
package bootfstest

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/node-switch/node-switch/bootprofiles/bootfs"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/nodestest"
)

// Node, Masked and Stranger are the clients the traps are tried from:
// umu20 boots p, umu21 is masked, and the stranger has no reservation.
var (
	Node     = netip.MustParseAddr("10.0.0.20")
	Masked   = netip.MustParseAddr("10.0.0.21")
	Stranger = netip.MustParseAddr("10.0.0.99")
)

// Secret is the content of the file beside the boot root: no answer may
// hold it.
const Secret = "SECRET"

// Traps returns a boot file system serving profile p (cluster linux) from
// root (top/boot, with an empty linux/ directory for the caller's files),
// and top, the directory that holds root and the secret. No answer may
// name top either.
func Traps(tb testing.TB, p nodes.Profile) (fs *bootfs.FS, root, top string) {
	tb.Helper()
	ctx := context.Background()
	check := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	st := nodestest.Open(tb)
	check(st.AddProfile(ctx, nodestest.Actor, p))
	check(st.AddCluster(ctx, nodestest.Actor, nodes.Cluster{Name: "linux", Profile: p.Name}))
	for _, n := range []nodes.Node{
		{Name: "umu20", MAC: "52:54:00:00:00:20", IP: Node, Cluster: "linux"},
		{Name: "umu21", MAC: "52:54:00:00:00:21", IP: Masked, Cluster: "linux"},
	} {
		_, err := st.AddNode(ctx, nodestest.Actor, n, "test")
		check(err)
	}
	_, err := st.SetMask(ctx, nodestest.Actor, nodes.MaskRequest{Range: "umu21", Mask: true, Reason: "reinstall"})
	check(err)
	top = tb.TempDir()
	root = filepath.Join(top, "boot")
	check(os.MkdirAll(filepath.Join(root, "linux"), 0o755))
	check(os.WriteFile(filepath.Join(top, "secret"), []byte(Secret), 0o644))
	check(os.Symlink(filepath.Join(top, "secret"), filepath.Join(root, "abs-link")))
	check(os.Symlink("../secret", filepath.Join(root, "rel-link")))
	check(os.Symlink("..", filepath.Join(root, "up")))
	r, err := os.OpenRoot(root)
	check(err)
	tb.Cleanup(func() { r.Close() })
	return &bootfs.FS{Root: r, Inv: st, HTTPPort: 8080}, root, top
}
