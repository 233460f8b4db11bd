package tftp

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/bootprofiles/bootfs/bootfstest"
	"github.com/node-switch/node-switch/nodes"
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
	bfs, root, top := bootfstest.Traps(tb, nodes.Profile{Name: "sl63", Kind: nodes.KindLinux, Kernel: "linux/vmlinuz", Initrd: "linux/initrd.gz", HTTP: true})
	for name, content := range map[string][]byte{
		"pxelinux.0":        []byte("PXELINUX"),
		"ldlinux.c32":       []byte("LDLINUX"),
		"pxelinux.cfg/menu": []byte("MENU"),
		// Above readBuffer, so an uncached read goes through the buffer.
		"linux/vmlinuz": bytes.Repeat([]byte("K"), readBuffer+1),
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
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
	clients := []net.IP{bootfstest.Node.AsSlice(), bootfstest.Masked.AsSlice(), bootfstest.Stranger.AsSlice()}
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
			if strings.Contains(got, bootfstest.Secret) || strings.Contains(got, top) {
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
