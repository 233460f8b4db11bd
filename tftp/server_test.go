package tftp

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/node-switch/node-switch/bootprofiles"
	"github.com/node-switch/node-switch/bootprofiles/bootfs"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/nodestest"
)

// setup runs a server on loopback over a real inventory. Loopback accepts
// any 127/8 source, so clients can pose as different nodes.
func setup(t *testing.T) (addr string, st *nodes.Store, root string) {
	t.Helper()
	return setupWith(t, Options{})
}

func setupWith(t testing.TB, o Options) (addr string, st *nodes.Store, root string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st = nodestest.Open(t)
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(st.AddProfile(ctx, nodestest.Actor, nodes.Profile{Name: "sl63", Kind: nodes.KindLinux, Kernel: "linux/vmlinuz", Initrd: "linux/initrd.gz"}))
	check(st.AddCluster(ctx, nodestest.Actor, nodes.Cluster{Name: "linux", Profile: "sl63"}))
	for _, n := range []nodes.Node{
		{Name: "umu20", MAC: "52:54:00:00:00:20", IP: netip.MustParseAddr("10.0.0.20"), Cluster: "linux"},
		{Name: "umu21", MAC: "52:54:00:00:00:21", IP: netip.MustParseAddr("10.0.0.21"), Cluster: "linux"},
	} {
		_, err := st.AddNode(ctx, nodestest.Actor, n, "test")
		check(err)
	}
	// The test's client stands in for the nodes from loopback addresses.
	nodestest.SetIP(t, st, "umu20", netip.MustParseAddr("127.0.0.2"))
	nodestest.SetIP(t, st, "umu21", netip.MustParseAddr("127.0.0.3"))
	root = filepath.Join(dir, "boot")
	check(os.MkdirAll(filepath.Join(root, "linux"), 0o755))
	// 640001 bytes: many blocks, and a short last block at 512 and 1468.
	big := append(bytes.Repeat([]byte("0123456789abcdef"), 40000), 'x')
	check(os.WriteFile(filepath.Join(root, "linux", "vmlinuz"), big, 0o644))
	r, err := os.OpenRoot(root)
	check(err)
	t.Cleanup(func() { r.Close() })
	conn, err := Listen("127.0.0.1:0")
	check(err)
	srv := New(&bootfs.FS{Root: r, Inv: st}, slog.New(slog.NewTextHandler(io.Discard, nil)), o)
	go srv.Serve(conn)
	t.Cleanup(srv.Shutdown)
	return conn.LocalAddr().String(), st, root
}

func get(t testing.TB, server, from, name string, blksize int) ([]byte, error) {
	t.Helper()
	c, err := tftp.NewClient(server)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetLocalAddr(from); err != nil {
		t.Fatal(err)
	}
	if blksize > 0 {
		c.SetBlockSize(blksize)
	}
	c.RequestTSize(true)
	wt, err := c.Receive(name, "octet")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return nil, err
	}
	if n, ok := wt.(tftp.IncomingTransfer).Size(); ok && n != int64(b.Len()) {
		t.Errorf("%s: tsize %d but received %d bytes", name, n, b.Len())
	}
	return b.Bytes(), nil
}

func TestServe(t *testing.T) {
	addr, st, root := setup(t)
	ctx := context.Background()
	kernel, _ := os.ReadFile(filepath.Join(root, "linux", "vmlinuz"))

	for _, bs := range []int{0, 512, 1468} {
		got, err := get(t, addr, "127.0.0.2", "linux/vmlinuz", bs)
		if err != nil {
			t.Fatalf("blksize %d: %v", bs, err)
		}
		if !bytes.Equal(got, kernel) {
			t.Fatalf("blksize %d: kernel differs (%d bytes, want %d)", bs, len(got), len(kernel))
		}
	}

	// The per-node config is byte-identical to what render prints.
	n, _ := st.Node(ctx, "umu20")
	in, err := bootfs.InputFor(ctx, st, n, bootprofiles.BIOS, "")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := bootprofiles.Render(in)
	got, err := get(t, addr, "127.0.0.2", "um64_linux/pxelinux.cfg/01-52-54-00-00-00-20", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("config differs from render:\n%s\nwant:\n%s", got, want)
	}

	// Names pxelinux tries before it finds one must be "not found".
	for _, name := range []string{"pxelinux.cfg/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "pxelinux.cfg/7F00000", "nope"} {
		if _, err := get(t, addr, "127.0.0.2", name, 0); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("%s: err = %v, want file not found", name, err)
		}
	}

	// Masking takes effect on the next request: no restart.
	if _, err := st.SetMask(ctx, nodestest.Actor, nodes.MaskRequest{Range: "umu21", Mask: true, Reason: "reinstall"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"linux/vmlinuz", "pxelinux.cfg/default", "pxelinux.cfg/01-52-54-00-00-00-21"} {
		if _, err := get(t, addr, "127.0.0.3", name, 0); err == nil || !strings.Contains(err.Error(), "masked") {
			t.Errorf("masked node got %s: err = %v", name, err)
		}
	}
	// Another machine cannot fetch the masked node's config either.
	if _, err := get(t, addr, "127.0.0.2", "pxelinux.cfg/01-52-54-00-00-00-21", 0); err == nil || !strings.Contains(err.Error(), "masked") {
		t.Errorf("masked node's config served to another client: err = %v", err)
	}
	// An unknown machine asking for the default boots its local disk.
	got, err = get(t, addr, "127.0.0.9", "pxelinux.cfg/default", 0)
	if err != nil || !strings.Contains(string(got), "LOCALBOOT 0") {
		t.Errorf("default for unknown machine: %v\n%s", err, got)
	}
}

func TestWriteRefused(t *testing.T) {
	addr, _, root := setup(t)
	c, err := tftp.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	rf, err := c.Send("linux/vmlinuz", "octet")
	if err == nil {
		_, err = rf.ReadFrom(strings.NewReader("overwritten"))
	}
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("write: err = %v, want read-only refusal", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "linux", "vmlinuz")); bytes.HasPrefix(b, []byte("overwritten")) {
		t.Errorf("file was overwritten")
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 1600 * time.Millisecond, 2 * time.Second, 2 * time.Second}
	for i, w := range want {
		if got := backoff(i); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i, got, w)
		}
	}
	if got := backoff(100); got != 2*time.Second {
		t.Errorf("backoff(100) = %v", got)
	}
}

// TestServeChangedFile: boot files are served from memory (FileCache);
// one changed on disk is served as it is now.
func TestServeChangedFile(t *testing.T) {
	addr, _, root := setup(t)
	p := filepath.Join(root, "linux", "vmlinuz")
	for i, content := range [][]byte{
		bytes.Repeat([]byte("first kernel "), 20000),
		bytes.Repeat([]byte("second kernel"), 20000), // the same size
		[]byte("third"),
	} {
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Duration(i) * time.Second)
		if err := os.Chtimes(p, later, later); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			got, err := get(t, addr, "127.0.0.2", "linux/vmlinuz", 1468)
			if err != nil {
				t.Fatalf("kernel %d: %v", i, err)
			}
			if !bytes.Equal(got, content) {
				t.Fatalf("kernel %d: got %q..., want %q...", i, got[:5], content[:5])
			}
		}
	}
}
