package tftp

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/bootprofiles/bootfs"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/nodestest"
)

// fakeTransfer stands in for pin/tftp's outgoing transfer: what a read
// request handler sees of the client and what it sends back.
type fakeTransfer struct {
	client, local net.IP
	size          int64
	sized         bool
	got           bytes.Buffer
}

func (f *fakeTransfer) ReadFrom(r io.Reader) (int64, error) { return f.got.ReadFrom(r) }
func (f *fakeTransfer) SetSize(n int64)                     { f.size, f.sized = n, true }
func (f *fakeTransfer) RemoteAddr() net.UDPAddr             { return net.UDPAddr{IP: f.client, Port: 2070} }
func (f *fakeTransfer) LocalIP() net.IP                     { return f.local }

// fuzzServers are two servers over one inventory and boot root, one with
// the file cache and one without, and the directory holding the root.
func fuzzServers(tb testing.TB) ([]*Server, string) {
	tb.Helper()
	ctx := context.Background()
	check := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	st := nodestest.Open(tb)
	check(st.AddProfile(ctx, nodestest.Actor, nodes.Profile{Name: "sl63", Kind: nodes.KindLinux, Kernel: "linux/vmlinuz", Initrd: "linux/initrd.gz", HTTP: true}))
	check(st.AddCluster(ctx, nodestest.Actor, nodes.Cluster{Name: "linux", Profile: "sl63"}))
	for _, n := range []nodes.Node{
		{Name: "umu20", MAC: "52:54:00:00:00:20", IP: netip.MustParseAddr("10.0.0.20"), Cluster: "linux"},
		{Name: "umu21", MAC: "52:54:00:00:00:21", IP: netip.MustParseAddr("10.0.0.21"), Cluster: "linux"},
	} {
		_, err := st.AddNode(ctx, nodestest.Actor, n, "test")
		check(err)
	}
	_, err := st.SetMask(ctx, nodestest.Actor, nodes.MaskRequest{Range: "umu21", Mask: true, Reason: "reinstall"})
	check(err)
	top := tb.TempDir()
	root := filepath.Join(top, "boot")
	check(os.MkdirAll(filepath.Join(root, "linux"), 0o755))
	check(os.MkdirAll(filepath.Join(root, "pxelinux.cfg"), 0o755))
	check(os.WriteFile(filepath.Join(root, "pxelinux.0"), []byte("PXELINUX"), 0o644))
	check(os.WriteFile(filepath.Join(root, "ldlinux.c32"), []byte("LDLINUX"), 0o644))
	check(os.WriteFile(filepath.Join(root, "pxelinux.cfg", "menu"), []byte("MENU"), 0o644))
	// Above readBuffer, so an uncached read goes through the buffer.
	check(os.WriteFile(filepath.Join(root, "linux", "vmlinuz"), bytes.Repeat([]byte("K"), readBuffer+1), 0o644))
	check(os.WriteFile(filepath.Join(top, "secret"), []byte("SECRET"), 0o644))
	check(os.Symlink(filepath.Join(top, "secret"), filepath.Join(root, "abs-link")))
	check(os.Symlink("../secret", filepath.Join(root, "rel-link")))
	check(os.Symlink("..", filepath.Join(root, "up")))
	r, err := os.OpenRoot(root)
	check(err)
	tb.Cleanup(func() { r.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	bfs := &bootfs.FS{Root: r, Inv: st, HTTPPort: 8080}
	return []*Server{New(bfs, log, Options{}), New(bfs, log, Options{CacheBudget: -1})}, top
}

// FuzzRead: whatever name a read request carries, from a node, a masked
// node or a stranger, the server sends a file from inside the boot root or
// a rendered config, or refuses with one of its fixed messages, which
// echo neither the name nor the server's paths. Nothing from outside the
// root, nothing to or about the masked node, and the announced size is
// what is sent.
// Seeds: testdata/fuzz/FuzzRead.
func FuzzRead(f *testing.F) {
	servers, top := fuzzServers(f)
	clients := []net.IP{net.IPv4(10, 0, 0, 20), net.IPv4(10, 0, 0, 21), net.IPv4(10, 0, 0, 99)}
	refusals := map[string]bool{
		"access violation: node is masked": true, "file not found": true,
		"file not found: bad name": true, "server error: see node-switch log": true,
	}
	f.Fuzz(func(t *testing.T, name string, from uint8) {
		for _, s := range servers {
			tr := &fakeTransfer{client: clients[int(from)%len(clients)], local: net.IPv4(10, 0, 0, 1)}
			err := s.read(name, tr)
			got := tr.got.String()
			if err != nil {
				if !refusals[err.Error()] {
					t.Fatalf("read(%q): client told %q", name, err)
				}
				if got != "" {
					t.Fatalf("read(%q): refused with %v after sending %q", name, err, got)
				}
				continue
			}
			if strings.Contains(got, "SECRET") || strings.Contains(got, top) {
				t.Fatalf("read(%q) sent %q from outside the boot root", name, got)
			}
			if tr.client.Equal(clients[1]) || strings.Contains(got, "umu21") {
				t.Fatalf("read(%q) from %v sent %q: masked node", name, tr.client, got)
			}
			if !tr.sized || tr.size != int64(len(got)) {
				t.Fatalf("read(%q): announced %d bytes (set: %v), sent %d", name, tr.size, tr.sized, len(got))
			}
		}
	})
}
