package httpboot

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/bootprofiles/bootfs/bootfstest"
	"github.com/node-switch/node-switch/nodes"
)

// fuzzHandler serves a boot root holding a kernel, with a secret beside
// it and symlinks out of it, over an inventory with a node and a masked
// node; it returns the directory holding the root.
func fuzzHandler(tb testing.TB) (*Handler, string) {
	tb.Helper()
	fs, root, top := bootfstest.Traps(tb, nodes.Profile{Name: "sl63", Kind: nodes.KindLinux, Kernel: "linux/vmlinuz", HTTP: true})
	if err := os.WriteFile(filepath.Join(root, "linux", "vmlinuz"), []byte("0123456789"), 0o644); err != nil {
		tb.Fatal(err)
	}
	return &Handler{FS: fs, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, top
}

// FuzzServeHTTP: whatever request line and Range header arrive, from a
// node, a masked node or a stranger, the endpoint answers from inside the
// boot root or with an error that names no server path; it never panics,
// serves only GET and HEAD, and nothing to or about the masked node.
// Seeds: testdata/fuzz/FuzzServeHTTP.
func FuzzServeHTTP(f *testing.F) {
	h, top := fuzzHandler(f)
	clients := []string{bootfstest.Node.String(), bootfstest.Masked.String(), bootfstest.Stranger.String()}
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
		if strings.Contains(body, bootfstest.Secret) || strings.Contains(body, top) {
			t.Fatalf("%s %q: %d %q: outside the boot root", req.Method, target, w.Code, body)
		}
		if w.Code >= 200 && w.Code < 300 {
			if req.Method != http.MethodGet && req.Method != http.MethodHead {
				t.Fatalf("%s %q answered %d", req.Method, target, w.Code)
			}
			if client == bootfstest.Masked.String() || strings.Contains(body, "umu21") {
				t.Fatalf("%s %q from %s: %d %q: masked node", req.Method, target, client, w.Code, body)
			}
		}
	})
}
