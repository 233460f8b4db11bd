package bootfs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/node-switch/node-switch/nodes"
)

// siteFS is the source system's layout: one directory per dhcpd group with
// its own pxelinux.cfg/default (and GRUB's grub.cfg), a per-node file for
// one node, a hex-IP file for another, and a symlink that tries to leave.
func siteFS(t *testing.T) (*FS, *fakeInv) {
	t.Helper()
	top := t.TempDir()
	root := filepath.Join(top, "boot")
	files := map[string]string{
		"um64_linux/pxelinux.cfg/default":              "LINUX DEFAULT\n",
		"um64_linux/pxelinux.cfg/01-52-54-00-00-00-21": "LINUX PER-MAC umu21\n",
		"um64_linux/pxelinux.cfg/0A630016":             "LINUX HEX-IP umu22\n",
		"um64_linux/pxelinux.cfg/0A6300":               "LINUX SHORT HEX 10.99.0.x\n",
		"um64_linux/grub.cfg":                          "LINUX GRUB DEFAULT\n",
		"um64_linux/grub.cfg-01-52-54-00-00-00-21":     "LINUX GRUB PER-MAC umu21\n",
		"um64_win/pxelinux.cfg/default":                "WIN DEFAULT\n",
		"um64_win/pxelinux.cfg/01-52-54-00-00-00-21":   "WIN PER-MAC umu21\n",
		"secret": "SECRET\n",
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		if name == "secret" {
			p = filepath.Join(top, name)
		}
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(body), 0o644))
	}
	must(t, os.MkdirAll(filepath.Join(root, "escape/pxelinux.cfg"), 0o755))
	must(t, os.Symlink("../../../secret", filepath.Join(root, "escape/pxelinux.cfg/default")))
	must(t, os.MkdirAll(filepath.Join(root, "empty"), 0o755))
	r, err := os.OpenRoot(root)
	must(t, err)
	t.Cleanup(func() { r.Close() })
	inv := &fakeInv{
		nodes: []nodes.Node{
			{Name: "umu20", MAC: "52:54:00:00:00:20", IP: netip.MustParseAddr("10.99.0.20"), Cluster: "um64_linux"},
			{Name: "umu21", MAC: "52:54:00:00:00:21", IP: netip.MustParseAddr("10.99.0.21"), Cluster: "um64_linux"},
			{Name: "umu22", MAC: "52:54:00:00:00:22", IP: netip.MustParseAddr("10.99.0.22"), Cluster: "um64_linux"},
			{Name: "umu23", MAC: "52:54:00:00:00:23", IP: netip.MustParseAddr("10.99.1.23"), Cluster: "um64_linux"},
			{Name: "umu18", MAC: "52:54:00:00:00:18", IP: netip.MustParseAddr("10.99.1.18"), Cluster: "um64_win"},
			{Name: "umu19", MAC: "52:54:00:00:00:19", IP: netip.MustParseAddr("10.99.1.19"), Cluster: "um64_linux", Masked: true},
			{Name: "esc", MAC: "52:54:00:00:00:99", IP: netip.MustParseAddr("10.99.1.99"), Cluster: "escape"},
			{Name: "none", MAC: "52:54:00:00:00:98", IP: netip.MustParseAddr("10.99.1.98"), Cluster: "empty"},
		},
		profiles: map[string]nodes.Profile{
			"um64_linux": {Name: "um64_linux", Kind: nodes.KindFiles, FilesDir: "um64_linux"},
			"um64_win":   {Name: "um64_win", Kind: nodes.KindFiles, FilesDir: "um64_win"},
			"escape":     {Name: "escape", Kind: nodes.KindFiles, FilesDir: "escape"},
			"empty":      {Name: "empty", Kind: nodes.KindFiles, FilesDir: "empty"},
		},
	}
	return &FS{Root: r, Inv: inv}, inv
}

func TestOpenSiteFiles(t *testing.T) {
	f, inv := siteFS(t)
	srv := netip.MustParseAddr("10.99.0.1")
	ip := netip.MustParseAddr
	cases := []struct {
		what    string
		name    string
		client  netip.Addr
		want    string
		wantErr error
	}{
		{"no file of its own: the site's default", "um64_linux/pxelinux.cfg/01-52-54-00-00-00-23", ip("10.99.1.23"), "LINUX DEFAULT\n", nil},
		{"its own per-MAC file", "um64_linux/pxelinux.cfg/01-52-54-00-00-00-21", ip("10.99.0.21"), "LINUX PER-MAC umu21\n", nil},
		{"its own hex-IP file, before the shortened one", "um64_linux/pxelinux.cfg/01-52-54-00-00-00-22", ip("10.99.0.22"), "LINUX HEX-IP umu22\n", nil},
		{"a shortened hex-IP file", "um64_linux/pxelinux.cfg/01-52-54-00-00-00-20", ip("10.99.0.20"), "LINUX SHORT HEX 10.99.0.x\n", nil},
		{"asked for default", "um64_linux/pxelinux.cfg/default", ip("10.99.0.21"), "LINUX PER-MAC umu21\n", nil},
		{"GRUB per-MAC", "/um64_linux/grub.cfg-01-52-54-00-00-00-21", ip("10.99.0.21"), "LINUX GRUB PER-MAC umu21\n", nil},
		{"GRUB default", "/grub/grub.cfg-01-52-54-00-00-00-23", ip("10.99.1.23"), "LINUX GRUB DEFAULT\n", nil},
		{"the other group's files", "um64_win/pxelinux.cfg/01-52-54-00-00-00-18", ip("10.99.1.18"), "WIN DEFAULT\n", nil},
		{"masked", "um64_linux/pxelinux.cfg/01-52-54-00-00-00-19", ip("10.99.1.19"), "", ErrMasked},
		{"a symlink out of the root", "escape/pxelinux.cfg/01-52-54-00-00-00-99", ip("10.99.1.99"), "", ErrBadName},
		{"no config in the directory", "empty/pxelinux.cfg/01-52-54-00-00-00-98", ip("10.99.1.98"), "", fs.ErrNotExist},
		{"no GRUB config in the directory", "um64_win/grub.cfg-01-52-54-00-00-00-18", ip("10.99.1.18"), "", fs.ErrNotExist},
	}
	for _, c := range cases {
		t.Run(c.what, func(t *testing.T) {
			got, err := f.Open(context.Background(), c.name, c.client, srv)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				return
			}
			must(t, err)
			defer got.Close()
			b, err := io.ReadAll(got)
			must(t, err)
			if string(b) != c.want {
				t.Fatalf("got %q, want %q (untouched)", b, c.want)
			}
			if !got.Rendered || got.Node == "" {
				t.Errorf("Rendered=%v Node=%q: a per-node answer must not be cached", got.Rendered, got.Node)
			}
		})
	}

	// A move switches which of the site's files a node gets.
	for i := range inv.nodes {
		if inv.nodes[i].Name == "umu21" {
			inv.nodes[i].Cluster = "um64_win"
		}
	}
	got, err := f.Open(context.Background(), "um64_win/pxelinux.cfg/01-52-54-00-00-00-21", ip("10.99.0.21"), srv)
	must(t, err)
	defer got.Close()
	if b, _ := io.ReadAll(got); string(b) != "WIN PER-MAC umu21\n" {
		t.Fatalf("after the move: %q", b)
	}
}
