package httpboot

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/bootprofiles/bootfs"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/nodestest"
)

// fuzzHandler serves a boot root holding a kernel, with a secret beside
// it and symlinks out of it, over an inventory with a node and a masked
// node; it returns the directory holding the root.
func fuzzHandler(tb testing.TB) (*Handler, string) {
	tb.Helper()
	ctx := context.Background()
	check := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	st := nodestest.Open(tb)
	check(st.AddProfile(ctx, nodestest.Actor, nodes.Profile{Name: "sl63", Kind: nodes.KindLinux, Kernel: "linux/vmlinuz", HTTP: true}))
	check(st.AddCluster(ctx, nodestest.Actor, nodes.Cluster{Name: "linux", Profile: "sl63"}))
	for _, n := range []nodes.Node{
		{Name: "umu20", MAC: "52:54:00:00:00:20", IP: netip.MustParseAddr("10.0.0.20"), Cluster: "linux"},
		{Name: "umu21", MAC: "52:54:00:00:00:21", IP: netip.MustParseAddr("10.0.0.21"), Cluster: "linux"},
	} {
		_, err := st.AddNode(ctx, nodestest.Actor, n, "")
		check(err)
	}
	_, err := st.SetMask(ctx, nodestest.Actor, nodes.MaskRequest{Range: "umu21", Mask: true, Reason: "reinstall"})
	check(err)
	top := tb.TempDir()
	root := filepath.Join(top, "boot")
	check(os.MkdirAll(filepath.Join(root, "linux"), 0o755))
	check(os.WriteFile(filepath.Join(root, "linux", "vmlinuz"), []byte("0123456789"), 0o644))
	check(os.WriteFile(filepath.Join(top, "secret"), []byte("SECRET"), 0o644))
	check(os.Symlink(filepath.Join(top, "secret"), filepath.Join(root, "abs-link")))
	check(os.Symlink("../secret", filepath.Join(root, "rel-link")))
	check(os.Symlink("..", filepath.Join(root, "up")))
	r, err := os.OpenRoot(root)
	check(err)
	tb.Cleanup(func() { r.Close() })
	return &Handler{FS: &bootfs.FS{Root: r, Inv: st, HTTPPort: 8080}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, top
}

// FuzzServeHTTP: whatever request line and Range header arrive, from a
// node, a masked node or a stranger, the endpoint answers from inside the
// boot root or with an error that names no server path; it never panics,
// serves only GET and HEAD, and nothing to or about the masked node.
// Seeds: testdata/fuzz/FuzzServeHTTP.
func FuzzServeHTTP(f *testing.F) {
	h, top := fuzzHandler(f)
	clients := []string{"10.0.0.20", "10.0.0.21", "10.0.0.99"}
	local := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 8080}
	f.Fuzz(func(t *testing.T, method, target, rangeHdr string, from uint8) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: boot\r\n"
		if rangeHdr != "" {
			raw += "Range: " + rangeHdr + "\r\n"
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw + "\r\n")))
		if err != nil {
			return
		}
		client := clients[int(from)%len(clients)]
		req.RemoteAddr = client + ":40000"
		req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, net.Addr(local)))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		body := w.Body.String()
		if strings.Contains(body, "SECRET") || strings.Contains(body, top) {
			t.Fatalf("%s %q: %d %q: outside the boot root", req.Method, target, w.Code, body)
		}
		if w.Code >= 200 && w.Code < 300 {
			if req.Method != http.MethodGet && req.Method != http.MethodHead {
				t.Fatalf("%s %q answered %d", req.Method, target, w.Code)
			}
			if client == "10.0.0.21" || strings.Contains(body, "umu21") {
				t.Fatalf("%s %q from %s: %d %q: masked node", req.Method, target, client, w.Code, body)
			}
		}
	})
}
