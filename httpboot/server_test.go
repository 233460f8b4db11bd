package httpboot

import (
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

func setup(t *testing.T) *Handler {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st := nodestest.Open(t)
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
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
	root := filepath.Join(dir, "boot")
	check(os.MkdirAll(filepath.Join(root, "linux"), 0o755))
	check(os.WriteFile(filepath.Join(root, "linux", "vmlinuz"), []byte("0123456789"), 0o644))
	r, err := os.OpenRoot(root)
	check(err)
	t.Cleanup(func() { r.Close() })
	return &Handler{FS: &bootfs.FS{Root: r, Inv: st, HTTPPort: 8080}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func TestHandler(t *testing.T) {
	h := setup(t)
	cases := []struct {
		name, method, path, from, rangeHdr string
		status                             int
		body                               string // substring
		length                             string
		ctype, cache                       string // headers, when set
	}{
		{name: "file", method: "GET", path: "/linux/vmlinuz", from: "10.0.0.20", status: 200, body: "0123456789", length: "10", ctype: "application/octet-stream"},
		{name: "head", method: "HEAD", path: "/linux/vmlinuz", from: "10.0.0.20", status: 200, length: "10"},
		{name: "range", method: "GET", path: "/linux/vmlinuz", from: "10.0.0.20", rangeHdr: "bytes=4-6", status: 206, body: "456", length: "3"},
		{name: "resume", method: "GET", path: "/linux/vmlinuz", from: "10.0.0.20", rangeHdr: "bytes=8-", status: 206, body: "89", length: "2"},
		{name: "config", method: "GET", path: "/pxelinux.cfg/01-52-54-00-00-00-20", from: "10.0.0.20", status: 200, body: "# node-switch: node umu20",
			ctype: "text/plain; charset=utf-8", cache: "no-store"},
		// The profile loads its kernel over HTTP from the address the
		// request arrived at.
		{name: "config names this server", method: "GET", path: "/pxelinux.cfg/01-52-54-00-00-00-20", from: "10.0.0.20", status: 200,
			body: "KERNEL http://10.0.0.1:8080/linux/vmlinuz"},
		{name: "missing", method: "GET", path: "/nope", from: "10.0.0.20", status: 404},
		{name: "escape", method: "GET", path: "/../../etc/passwd", from: "10.0.0.20", status: 404},
		{name: "directory", method: "GET", path: "/linux/", from: "10.0.0.20", status: 404},
		{name: "masked file", method: "GET", path: "/linux/vmlinuz", from: "10.0.0.21", status: 403},
		{name: "masked config by name", method: "GET", path: "/pxelinux.cfg/01-52-54-00-00-00-21", from: "10.0.0.20", status: 403},
		{name: "put", method: "PUT", path: "/linux/vmlinuz", from: "10.0.0.20", status: 405},
		{name: "delete", method: "DELETE", path: "/linux/vmlinuz", from: "10.0.0.20", status: 405},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "http://boot"+c.path, strings.NewReader(""))
			r.RemoteAddr = c.from + ":40000"
			r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 8080}))
			if c.rangeHdr != "" {
				r.Header.Set("Range", c.rangeHdr)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d (%s)", w.Code, c.status, w.Body)
			}
			if c.body != "" && !strings.Contains(w.Body.String(), c.body) {
				t.Errorf("body %q lacks %q", w.Body, c.body)
			}
			for _, h := range []struct{ name, want string }{{"Content-Length", c.length}, {"Content-Type", c.ctype}, {"Cache-Control", c.cache}} {
				if h.want != "" && w.Header().Get(h.name) != h.want {
					t.Errorf("%s %q, want %q", h.name, w.Header().Get(h.name), h.want)
				}
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(h.FS.Root.Name(), "linux", "vmlinuz")); string(b) != "0123456789" {
		t.Errorf("file changed: %q", b)
	}
}
