package bootfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/bootprofiles"
	"github.com/node-switch/node-switch/nodes"
)

func TestParse(t *testing.T) {
	ip := netip.MustParseAddr("10.99.0.50")
	cases := []struct {
		in   string
		want Name
		err  bool
	}{
		{in: "pxelinux.0", want: Name{Kind: File, Path: "pxelinux.0"}},
		{in: "/linux/vmlinuz", want: Name{Kind: File, Path: "linux/vmlinuz"}},
		{in: `\linux\vmlinuz`, want: Name{Kind: File, Path: "linux/vmlinuz"}},
		{in: "a//b/./c", want: Name{Kind: File, Path: "a/b/c"}},
		{in: "pxelinux.cfg/01-52-54-00-12-34-56", want: Name{Kind: ByMAC, MAC: "52:54:00:12:34:56", Firmware: bootprofiles.BIOS}},
		{in: "um64_linux/pxelinux.cfg/01-52-54-00-12-34-56", want: Name{Kind: ByMAC, MAC: "52:54:00:12:34:56", Firmware: bootprofiles.BIOS}},
		{in: "pxelinux.cfg/01-52-54-00-AB-CD-EF", want: Name{Kind: ByMAC, MAC: "52:54:00:ab:cd:ef", Firmware: bootprofiles.BIOS}},
		{in: "pxelinux.cfg/0A630032", want: Name{Kind: ByIP, IP: ip, Firmware: bootprofiles.BIOS}},
		{in: "pxelinux.cfg/0A63003", want: Name{Kind: NotFound, Firmware: bootprofiles.BIOS}},
		{in: "pxelinux.cfg/0", want: Name{Kind: NotFound, Firmware: bootprofiles.BIOS}},
		{in: "pxelinux.cfg/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", want: Name{Kind: ByUUID, Firmware: bootprofiles.BIOS}},
		{in: "pxelinux.cfg/default", want: Name{Kind: Default, Firmware: bootprofiles.BIOS}},
		{in: "pxelinux.cfg/menu.txt", want: Name{Kind: File, Path: "pxelinux.cfg/menu.txt"}},
		{in: "/grub/grub.cfg-01-52-54-00-12-34-56", want: Name{Kind: ByMAC, MAC: "52:54:00:12:34:56", Firmware: bootprofiles.UEFI}},
		{in: "/grub/grub.cfg-01:52:54:00:12:34:56", want: Name{Kind: ByMAC, MAC: "52:54:00:12:34:56", Firmware: bootprofiles.UEFI}},
		{in: "/grub/grub.cfg-0A630032", want: Name{Kind: ByIP, IP: ip, Firmware: bootprofiles.UEFI}},
		{in: "/grub/grub.cfg-0A6", want: Name{Kind: NotFound, Firmware: bootprofiles.UEFI}},
		{in: "/grub/grub.cfg", want: Name{Kind: Default, Firmware: bootprofiles.UEFI}},
		{in: "grub.cfg", want: Name{Kind: Default, Firmware: bootprofiles.UEFI}},
		{in: "grub/grub.cfg-site-extra", want: Name{Kind: File, Path: "grub/grub.cfg-site-extra"}},
		{in: "/ipxe.cfg-01-52-54-00-12-34-56", want: Name{Kind: ByMAC, MAC: "52:54:00:12:34:56", Firmware: bootprofiles.IPXE}},
		{in: "ipxe.cfg-0A630032", want: Name{Kind: ByIP, IP: ip, Firmware: bootprofiles.IPXE}},
		{in: "ipxe.cfg", want: Name{Kind: Default, Firmware: bootprofiles.IPXE}},
		{in: "../etc/passwd", err: true},
		{in: "a/../../etc/passwd", err: true},
		{in: `..\..\etc\passwd`, err: true},
		{in: "", err: true},
		{in: "/", err: true},
		{in: "a\x00b", err: true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := Parse(c.in)
			if c.err {
				if err == nil {
					t.Fatalf("Parse(%q) = %+v, want an error", c.in, got)
				}
				if !errors.Is(err, ErrBadName) {
					t.Errorf("error %v does not wrap ErrBadName", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("Parse(%q) = %+v, want %+v", c.in, got, c.want)
			}
		})
	}
}

// fakeInv is an inventory in a map.
type fakeInv struct {
	nodes    []nodes.Node
	profiles map[string]nodes.Profile // by cluster
	roots    map[string]nodes.NFSRoot
}

func (f *fakeInv) LookupIP(_ context.Context, ip netip.Addr) (nodes.Node, error) {
	for _, n := range f.nodes {
		if n.IP == ip {
			return n, nil
		}
	}
	return nodes.Node{}, fmt.Errorf("ip %s: %w", ip, nodes.ErrNotFound)
}

func (f *fakeInv) LookupMAC(_ context.Context, mac string) (nodes.Node, error) {
	for _, n := range f.nodes {
		if n.MAC == mac {
			return n, nil
		}
	}
	return nodes.Node{}, fmt.Errorf("mac %s: %w", mac, nodes.ErrNotFound)
}

func (f *fakeInv) BootOf(_ context.Context, n nodes.Node) (nodes.Cluster, nodes.Profile, error) {
	p, ok := f.profiles[n.Cluster]
	if !ok {
		return nodes.Cluster{}, nodes.Profile{}, fmt.Errorf("cluster %s: %w", n.Cluster, nodes.ErrNotFound)
	}
	return nodes.Cluster{Name: n.Cluster, Profile: p.Name}, p, nil
}

func (f *fakeInv) Event(_ context.Context, id int64) (nodes.Event, error) {
	return nodes.Event{ID: id, Actor: "tester", Channel: "cli", Action: nodes.ActionMove}, nil
}

func (f *fakeInv) NFSRoot(_ context.Context, name string) (nodes.NFSRoot, error) {
	r, ok := f.roots[name]
	if !ok {
		return nodes.NFSRoot{}, fmt.Errorf("nfsroot %s: %w", name, nodes.ErrNotFound)
	}
	return r, nil
}

func testFS(t testing.TB) (*FS, string) {
	t.Helper()
	top := t.TempDir()
	root := filepath.Join(top, "boot")
	must(t, os.MkdirAll(filepath.Join(root, "linux"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "pxelinux.0"), []byte("PXELINUX"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "linux", "vmlinuz"), []byte("KERNEL"), 0o644))
	must(t, os.WriteFile(filepath.Join(top, "secret"), []byte("SECRET"), 0o644))
	// Symlinks leading out of the root must not be followed out.
	must(t, os.Symlink(filepath.Join(top, "secret"), filepath.Join(root, "abs-link")))
	must(t, os.Symlink("../secret", filepath.Join(root, "rel-link")))
	must(t, os.Symlink("linux/vmlinuz", filepath.Join(root, "inside-link")))
	r, err := os.OpenRoot(root)
	must(t, err)
	t.Cleanup(func() { r.Close() })
	inv := &fakeInv{
		nodes: []nodes.Node{
			{Name: "umu20", MAC: "52:54:00:12:34:56", IP: netip.MustParseAddr("10.99.0.50"), Cluster: "linux", Event: 3},
			{Name: "umu18", MAC: "52:54:00:12:34:18", IP: netip.MustParseAddr("10.99.0.18"), Cluster: "win"},
			{Name: "umu19", MAC: "52:54:00:12:34:19", IP: netip.MustParseAddr("10.99.0.19"), Cluster: "win", Masked: true},
		},
		profiles: map[string]nodes.Profile{
			"linux": {Name: "sl63", Kind: nodes.KindLinux, Kernel: "linux/vmlinuz", Initrd: "linux/initrd.gz", HTTP: true},
			"win":   {Name: "win", Kind: nodes.KindLocalDisk},
		},
	}
	return &FS{Root: r, Inv: inv, HTTPPort: 8080}, top
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpen(t *testing.T) {
	f, _ := testFS(t)
	srv := netip.MustParseAddr("10.99.0.1")
	linuxNode := netip.MustParseAddr("10.99.0.50")
	winNode := netip.MustParseAddr("10.99.0.18")
	masked := netip.MustParseAddr("10.99.0.19")
	stranger := netip.MustParseAddr("10.99.0.99")
	cases := []struct {
		name    string
		client  netip.Addr
		want    []string // substrings of the answer
		node    string
		wantErr error
	}{
		{name: "pxelinux.0", client: linuxNode, want: []string{"PXELINUX"}},
		{name: "/linux/vmlinuz", client: stranger, want: []string{"KERNEL"}},
		{name: "inside-link", client: stranger, want: []string{"KERNEL"}},
		{name: "abs-link", client: stranger, wantErr: ErrBadName},
		{name: "rel-link", client: stranger, wantErr: ErrBadName},
		{name: "linux", client: stranger, wantErr: fs.ErrNotExist},
		{name: "missing", client: stranger, wantErr: fs.ErrNotExist},
		{name: "../secret", client: stranger, wantErr: ErrBadName},
		// pxelinux in a subdirectory finds its modules at the top.
		{name: "um64_win/pxelinux.0", client: stranger, want: []string{"PXELINUX"}},
		{name: "um64_win/vmlinuz", client: stranger, wantErr: fs.ErrNotExist},
		{name: "pxelinux.cfg/01-52-54-00-12-34-56", client: linuxNode, node: "umu20",
			want: []string{"# node-switch: node umu20", "KERNEL http://10.99.0.1:8080/linux/vmlinuz", "event 3"}},
		{name: "um64_linux/pxelinux.cfg/01-52-54-00-12-34-56", client: linuxNode, node: "umu20", want: []string{"KERNEL http://"}},
		{name: "/grub/grub.cfg-01-52-54-00-12-34-56", client: linuxNode, node: "umu20", want: []string{"linux (http,10.99.0.1:8080)/linux/vmlinuz"}},
		{name: "pxelinux.cfg/0A630012", client: winNode, node: "umu18", want: []string{"LOCALBOOT 0"}},
		{name: "pxelinux.cfg/01-52-54-00-99-99-99", client: stranger, wantErr: fs.ErrNotExist},
		{name: "pxelinux.cfg/0A63001", client: winNode, wantErr: fs.ErrNotExist},
		{name: "pxelinux.cfg/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", client: winNode, wantErr: fs.ErrNotExist},
		{name: "pxelinux.cfg/default", client: winNode, node: "umu18", want: []string{"node umu18", "LOCALBOOT 0"}},
		{name: "pxelinux.cfg/default", client: stranger, want: []string{"10.99.0.99 is not in the inventory", "LOCALBOOT 0"}},
		{name: "grub/grub.cfg", client: stranger, want: []string{"exit"}},
		{name: "ipxe.cfg-01-52-54-00-12-34-56", client: linuxNode, node: "umu20", want: []string{"#!ipxe\n# node-switch: node umu20", "kernel http://10.99.0.1:8080/linux/vmlinuz"}},
		{name: "ipxe.cfg", client: stranger, want: []string{"#!ipxe\n", "exit"}},
		{name: "ipxe.cfg-01-52-54-00-12-34-19", client: stranger, wantErr: ErrMasked},
		{name: "grub/grub.cfg", client: linuxNode, node: "umu20", want: []string{"linux (http,"}},
		// A masked node gets nothing at all, not even plain files.
		{name: "pxelinux.0", client: masked, wantErr: ErrMasked},
		{name: "pxelinux.cfg/default", client: masked, wantErr: ErrMasked},
		// Nor does anyone asking for a masked node's config by name.
		{name: "pxelinux.cfg/01-52-54-00-12-34-19", client: stranger, wantErr: ErrMasked},
	}
	for _, c := range cases {
		t.Run(c.name+" from "+c.client.String(), func(t *testing.T) {
			got, err := f.Open(context.Background(), c.name, c.client, srv)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			b, err := io.ReadAll(got)
			must(t, err)
			if int64(len(b)) != got.Size {
				t.Errorf("Size = %d, read %d bytes", got.Size, len(b))
			}
			for _, w := range c.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("missing %q in:\n%s", w, b)
				}
			}
			if got.Node != c.node {
				t.Errorf("Node = %q, want %q", got.Node, c.node)
			}
		})
	}
}

func TestOpenWithoutHTTP(t *testing.T) {
	f, _ := testFS(t)
	f.HTTPPort = 0
	got, err := f.Open(context.Background(), "pxelinux.cfg/01-52-54-00-12-34-56", netip.MustParseAddr("10.99.0.50"), netip.MustParseAddr("10.99.0.1"))
	must(t, err)
	b, _ := io.ReadAll(got)
	if !strings.Contains(string(b), "KERNEL ::linux/vmlinuz") {
		t.Errorf("with HTTP disabled the kernel must come over TFTP:\n%s", b)
	}
}

func TestPortOf(t *testing.T) {
	cases := []struct {
		in   string
		want int
		err  bool
	}{
		{"", 0, false}, {":8080", 8080, false}, {"10.0.0.1:80", 80, false}, {"[::1]:81", 81, false},
		{"8080", 0, true}, {":x", 0, true}, {":0", 0, true},
	}
	for _, c := range cases {
		got, err := PortOf(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("PortOf(%q) = %d, %v; want %d, err %v", c.in, got, err, c.want, c.err)
		}
	}
}

// FuzzOpen: no name, whatever it is, yields the content of a file outside
// the boot root, and every name Parse accepts as a file is local. Asked by
// a node, a masked node or a stranger, nothing goes to or is about the
// masked node (umu19). Seeds: here and testdata/fuzz/FuzzOpen.
func FuzzOpen(f *testing.F) {
	for _, s := range []string{"pxelinux.0", "../secret", "/../secret", `..\secret`, "abs-link", "rel-link",
		"linux/../../secret", "pxelinux.cfg/01-52-54-00-12-34-56", "grub.cfg-0A630032", "//secret", "./rel-link/",
		"linux/./../rel-link", "\x00", "pxelinux.cfg/../../secret"} {
		f.Add(s)
	}
	bfs, _ := testFS(f)
	f.Fuzz(func(t *testing.T, name string) {
		if n, err := Parse(name); err == nil && n.Kind == File {
			if !filepath.IsLocal(n.Path) || strings.Contains("/"+n.Path+"/", "/../") {
				t.Fatalf("Parse(%q) gave non-local path %q", name, n.Path)
			}
		}
		for _, client := range []string{"10.99.0.99", "10.99.0.50", "10.99.0.19"} {
			c, err := bfs.Open(context.Background(), name, netip.MustParseAddr(client), netip.MustParseAddr("10.99.0.1"))
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(c)
			c.Close()
			if strings.Contains(string(b), "SECRET") {
				t.Fatalf("%q escaped the boot root", name)
			}
			if client == "10.99.0.19" || strings.Contains(string(b), "umu19") {
				t.Fatalf("%q from %s: served %q: masked node", name, client, b)
			}
		}
	})
}
