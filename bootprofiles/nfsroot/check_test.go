package nfsroot

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/nodes"
)

// fakeTree is an export held in a map: path -> file. Symlink targets are in
// link, directory entry counts in entries.
type fakeTree struct {
	files map[string]attr
	link  map[string]string // by path; FH of a symlink is its path
}

func (f fakeTree) lookup(p string) (attr, error) {
	a, ok := f.files[p]
	if !ok {
		return attr{}, os.ErrNotExist
	}
	a.FH = []byte(p)
	return a, nil
}

func (f fakeTree) readlink(fh []byte) (string, error) { return f.link[string(fh)], nil }

func (f fakeTree) readdir(p string) (int, error) {
	n := 0
	for q := range f.files {
		if strings.HasPrefix(q, p+"/") && !strings.Contains(q[len(p)+1:], "/") {
			n++
		}
	}
	return n, nil
}

var (
	dir  = attr{Type: typeDir, Mode: 0o755}
	exe  = attr{Type: typeReg, Mode: 0o755}
	file = attr{Type: typeReg, Mode: 0o644}
	lnk  = attr{Type: typeLnk, Mode: 0o777}
)

// mergedUsr is a Debian 12 style root: /sbin and /lib are symlinks into
// /usr, and /sbin/init is an absolute symlink to systemd.
func mergedUsr() fakeTree {
	return fakeTree{
		files: map[string]attr{
			"/usr": dir, "/usr/sbin": dir, "/usr/lib": dir, "/usr/lib/systemd": dir,
			"/usr/lib/systemd/systemd": exe, "/usr/sbin/init": lnk,
			"/usr/lib/modules": dir, "/usr/lib/modules/6.1.0-18-amd64": dir,
			"/sbin": lnk, "/lib": lnk, "/etc": dir, "/etc/hostname": file, "/etc/fstab": file,
		},
		link: map[string]string{"/sbin": "usr/sbin", "/lib": "usr/lib", "/usr/sbin/init": "/lib/systemd/systemd"},
	}
}

func TestResolve(t *testing.T) {
	escape := fakeTree{
		files: map[string]attr{"/sbin": dir, "/sbin/init": lnk, "/bin": dir, "/bin/busybox": exe},
		// Climbing above the export stops at its root, as on the node.
		link: map[string]string{"/sbin/init": "../../../../bin/busybox"},
	}
	loop := fakeTree{
		files: map[string]attr{"/a": lnk, "/b": lnk},
		link:  map[string]string{"/a": "b", "/b": "/a"},
	}
	broken := fakeTree{
		files: map[string]attr{"/sbin": dir, "/sbin/init": lnk},
		link:  map[string]string{"/sbin/init": "/lib/systemd/systemd"},
	}
	notDir := fakeTree{files: map[string]attr{"/sbin": file}}
	tests := []struct {
		name    string
		tree    fakeTree
		path    string
		want    string
		wantErr string
	}{
		{"merged usr init", mergedUsr(), "/sbin/init", "/usr/lib/systemd/systemd", ""},
		{"merged usr modules", mergedUsr(), "/lib/modules/6.1.0-18-amd64", "/usr/lib/modules/6.1.0-18-amd64", ""},
		{"dot dot after a symlink climbs from its target", mergedUsr(), "/sbin/../lib", "/usr/lib", ""},
		{"escape clamped to export", escape, "/sbin/init", "/bin/busybox", ""},
		{"loop", loop, "/a", "", "too many levels of symbolic links"},
		{"broken symlink", broken, "/sbin/init", "", "/lib does not exist (via /sbin/init -> /lib/systemd/systemd)"},
		{"missing", mergedUsr(), "/etc/shadow", "", "/etc/shadow does not exist"},
		{"through a file", notDir, "/sbin/init", "", "/sbin is not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, _, err := resolve(tc.tree, tc.path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want error containing %q, got %q, %v", tc.wantErr, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("resolve(%s) = %s, want %s", tc.path, got, tc.want)
			}
		})
	}
}

func TestInspect(t *testing.T) {
	entry := nodes.NFSRoot{Name: "lab", Server: "10.0.0.1", Export: "/srv/lab", Kernel: "lab/vmlinuz-6.1.0-18-amd64", Initrd: "lab/initrd.img"}
	with := func(change func(f fakeTree)) fakeTree {
		f := mergedUsr()
		change(f)
		return f
	}
	tests := []struct {
		name    string
		tree    fakeTree
		entry   func(*nodes.NFSRoot)
		want    string // substring of summary or error
		wantErr bool
	}{
		{"good", mergedUsr(), nil, "/sbin/init -> /usr/lib/systemd/systemd, /lib/modules/6.1.0-18-amd64, /etc readable (2 entries)", false},
		{"no init", with(func(f fakeTree) { delete(f.files, "/usr/sbin/init") }), nil, "root /srv/lab has no /sbin/init", true},
		{"init target missing", with(func(f fakeTree) { delete(f.files, "/usr/lib/systemd/systemd") }), nil,
			"root /srv/lab has no /sbin/init: /usr/lib/systemd/systemd does not exist (via /sbin -> usr/sbin, /usr/sbin/init -> /lib/systemd/systemd, /lib -> usr/lib)", true},
		{"init not executable", with(func(f fakeTree) { f.files["/usr/lib/systemd/systemd"] = file }), nil, "is not executable (mode 0644)", true},
		{"init is a directory", with(func(f fakeTree) { f.files["/usr/lib/systemd/systemd"] = dir }), nil, "is not a regular file", true},
		{"modules missing", mergedUsr(), func(r *nodes.NFSRoot) { r.KernelVersion = "6.1.0-99-amd64" }, "root /srv/lab has no /lib/modules/6.1.0-99-amd64", true},
		{"no version, some modules", mergedUsr(), func(r *nodes.NFSRoot) { r.Kernel = "lab/linux" }, "/lib/modules (kernel version not given)", false},
		{"no version, no modules", with(func(f fakeTree) { delete(f.files, "/usr/lib/modules/6.1.0-18-amd64") }), func(r *nodes.NFSRoot) { r.Kernel = "lab/linux" }, "/lib/modules: is empty", true},
		{"no etc", with(func(f fakeTree) { delete(f.files, "/etc") }), nil, "root /srv/lab has no /etc", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := entry
			if tc.entry != nil {
				tc.entry(&e)
			}
			got, err := inspect(tc.tree, e)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("want error containing %q, got summary %q, error %v", tc.want, got, err)
				}
				return
			}
			if err != nil || !strings.Contains(got, tc.want) {
				t.Fatalf("want summary containing %q, got %q, %v", tc.want, got, err)
			}
		})
	}
}

func TestKernelVersion(t *testing.T) {
	tests := []struct {
		r    nodes.NFSRoot
		want string
	}{
		{nodes.NFSRoot{KernelVersion: "6.1.0-test", Kernel: "vmlinuz-6.1.0-18-amd64"}, "6.1.0-test"},
		{nodes.NFSRoot{Kernel: "lab/vmlinuz-6.1.0-18-amd64"}, "6.1.0-18-amd64"},
		{nodes.NFSRoot{Kernel: "lab/bzImage"}, ""},
		{nodes.NFSRoot{Kernel: "vmlinuz-"}, ""},
	}
	for _, tc := range tests {
		if got := KernelVersion(tc.r); got != tc.want {
			t.Errorf("KernelVersion(%+v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}

func TestCheckOptions(t *testing.T) {
	tests := []struct {
		opts, wantErr string
	}{
		{"", ""},
		{"vers=3,tcp", ""},
		{"nfsvers=3,proto=tcp,nolock", ""},
		{"vers=4", "NFS version 4"},
		{"vers=3,udp", "UDP"},
		{"proto=udp", "UDP"},
	}
	for _, tc := range tests {
		err := checkOptions(tc.opts)
		if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("checkOptions(%q) = %v, want error containing %q", tc.opts, err, tc.wantErr)
		}
	}
}

func reply(words ...uint32) []byte {
	b := make([]byte, 4*len(words))
	for i, w := range words {
		binary.BigEndian.PutUint32(b[4*i:], w)
	}
	return b
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		want    []byte
		wantErr string
	}{
		{"getport ok", reply(7, 1, 0, 0, 0, 0, 20048), reply(20048), ""},
		{"verifier skipped", append(reply(7, 1, 0, 1, 3), append([]byte{1, 2, 3, 0}, reply(0, 2049)...)...), reply(2049), ""},
		{"other xid", reply(8, 1, 0, 0, 0, 0), nil, "another call"},
		{"a call, not a reply", reply(7, 0, 0, 0, 0, 0), nil, "not a reply"},
		{"denied", reply(7, 1, 1, 0), nil, "denied"},
		{"prog unavailable", reply(7, 1, 0, 0, 0, 1), nil, "PROG_UNAVAIL"},
		{"truncated", reply(7, 1), nil, "truncated"},
		{"verifier longer than reply", reply(7, 1, 0, 0, 0xfffffff0), nil, "truncated RPC verifier"},
		{"empty", nil, nil, "truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseReply(7, tc.b)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want error containing %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil || string(got) != string(tc.want) {
				t.Fatalf("got %x, %v; want %x", got, err, tc.want)
			}
		})
	}
}

func TestEncodeCall(t *testing.T) {
	b := encodeCall(7, pmapProg, pmapVers, pmapGetport, []uint32{mountProg, mountVers, ipprotoTCP, 0})
	if got := binary.BigEndian.Uint32(b); got != 0x80000000|uint32(len(b)-4) {
		t.Fatalf("record mark %#x for %d bytes", got, len(b)-4)
	}
	want := reply(7, 0, 2, pmapProg, pmapVers, pmapGetport, 0, 0, 0, 0, mountProg, mountVers, ipprotoTCP, 0)
	if string(b[4:]) != string(want) {
		t.Fatalf("call body %x, want %x", b[4:], want)
	}
}

func TestAwait(t *testing.T) {
	ctx := context.Background()
	t.Run("panic becomes an error", func(t *testing.T) {
		_, err := await(ctx, time.Minute, "mountd", "10.0.0.1", nil, nil, func() (int, error) { panic("index out of range") })
		if err == nil || !strings.Contains(err.Error(), "malformed reply from mountd on 10.0.0.1") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("deadline aborts and hands over the late result", func(t *testing.T) {
		release := make(chan struct{})
		aborted := make(chan struct{})
		late := make(chan int, 1)
		_, err := await(ctx, time.Millisecond, "mountd", "10.0.0.1",
			func() { close(aborted); close(release) },
			func(v int) { late <- v },
			func() (int, error) { <-release; return 42, nil })
		var te *TimeoutError
		if !errors.As(err, &te) || err.Error() != "timed out after 1ms talking to mountd on 10.0.0.1" {
			t.Fatalf("got %v", err)
		}
		<-aborted
		if v := <-late; v != 42 {
			t.Fatalf("late result %d", v)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		block := make(chan struct{})
		defer close(block)
		_, err := await(cctx, time.Minute, "nfsd", "h", nil, nil, func() (int, error) { <-block; return 0, nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	})
}

// FuzzParseReply feeds arbitrary bytes to the reply parser, which reads
// what a possibly hostile server sent: it must return an error, never panic
// or hand back more than it was given.
func FuzzParseReply(f *testing.F) {
	f.Add(uint32(7), reply(7, 1, 0, 0, 0, 0, 20048))
	f.Add(uint32(7), reply(7, 1, 0, 1, 3))
	f.Add(uint32(7), reply(7, 1, 0, 0, 0xfffffffc))
	f.Fuzz(func(t *testing.T, xid uint32, b []byte) {
		res, err := parseReply(xid, b)
		if err == nil && len(res) > len(b) {
			t.Fatalf("result of %d bytes from a %d-byte reply", len(res), len(b))
		}
	})
}
