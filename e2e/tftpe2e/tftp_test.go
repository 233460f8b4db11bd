// Package tftpe2e runs the real node-switch binary's TFTP and HTTP servers
// in a network namespace and fetches from them with the clients users run:
// tftp-hpa's tftp and curl (tftp:// and http://), from namespaces that pose
// as a node, a masked node and a stranger.
package tftpe2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

const (
	srvIP   = "10.77.0.1"
	macLin  = "52:54:00:77:00:20" // umu20, linux over TFTP
	macHTTP = "52:54:00:77:00:22" // umu22, linux over HTTP
	macMask = "52:54:00:77:00:21" // umu21, masked
)

var actor = nodes.Actor{Name: "e2e", Channel: nodes.ChannelCLI}

type env struct {
	bin, db, root, out string
	st                 *nodes.Store
	node, masked, anon *netlab.NS
	serve              *netlab.Proc
}

func dashMAC(m string) string { return "01-" + strings.ReplaceAll(m, ":", "-") }

// newEnv is a lab with the packages the tests drive, and a boot root as an
// operator makes it with bootroot init.
func newEnv(t *testing.T) (*netlab.Lab, *env) {
	t.Helper()
	lab := netlab.New(t)
	netlab.Require(t, "tftp=tftp-hpa", "curl", "/usr/lib/PXELINUX/pxelinux.0=pxelinux",
		"/usr/lib/syslinux/modules/bios/ldlinux.c32=syslinux-common", "grub-mkimage=grub-common",
		"/usr/lib/grub/x86_64-efi/efinet.mod=grub-efi-amd64-bin")
	e := &env{bin: netlab.Binary(t)}
	dir := t.TempDir()
	e.db, e.root, e.out = filepath.Join(dir, "inv.db"), filepath.Join(dir, "boot"), filepath.Join(dir, "out")
	must(t, os.MkdirAll(e.out, 0o755))
	if out, err := exec.Command(e.bin, "bootroot", "init", e.root).CombinedOutput(); err != nil {
		t.Fatalf("bootroot init: %v\n%s", err, out)
	}
	return lab, e
}

func setup(t *testing.T) *env {
	t.Helper()
	lab, e := newEnv(t)
	// Then the site's kernel and initrd.
	must(t, os.MkdirAll(filepath.Join(e.root, "linux"), 0o755))
	writeRandom(t, filepath.Join(e.root, "linux", "vmlinuz"), 3<<20+123)
	writeRandom(t, filepath.Join(e.root, "linux", "initrd.gz"), 1<<20+7)

	ctx := context.Background()
	st, err := nodes.Open(e.db)
	must(t, err)
	t.Cleanup(func() { st.Close() })
	e.st = st
	must(t, st.AddProfile(ctx, actor, nodes.Profile{Name: "sl63", Kind: nodes.KindLinux, Kernel: "linux/vmlinuz",
		Initrd: "linux/initrd.gz", Append: "console=ttyS0"}))
	must(t, st.AddProfile(ctx, actor, nodes.Profile{Name: "sl63-http", Kind: nodes.KindLinux, Kernel: "linux/vmlinuz",
		// The signed GRUB has no http module: HTTP loading needs the
		// self-built image, whatever the boot root holds.
		Initrd: "linux/initrd.gz", HTTP: true, UEFIChain: nodes.UEFIChainSelfBuilt}))
	must(t, st.AddProfile(ctx, actor, nodes.Profile{Name: "win", Kind: nodes.KindLocalDisk}))
	must(t, st.AddCluster(ctx, actor, nodes.Cluster{Name: "linux", Profile: "sl63"}))
	must(t, st.AddCluster(ctx, actor, nodes.Cluster{Name: "linuxhttp", Profile: "sl63-http"}))
	must(t, st.AddCluster(ctx, actor, nodes.Cluster{Name: "windows", Profile: "win"}))
	for _, n := range []nodes.Node{
		{Name: "umu20", MAC: macLin, IP: netip.MustParseAddr("10.77.0.20"), Cluster: "linux"},
		{Name: "umu21", MAC: macMask, IP: netip.MustParseAddr("10.77.0.21"), Cluster: "linux"},
		{Name: "umu22", MAC: macHTTP, IP: netip.MustParseAddr("10.77.0.22"), Cluster: "linuxhttp"},
	} {
		_, err := st.AddNode(ctx, actor, n, "e2e")
		must(t, err)
	}
	_, err = st.SetMask(ctx, actor, nodes.MaskRequest{Range: "umu21", Mask: true, Reason: "reinstall by WDS"})
	must(t, err)

	srv := lab.Namespace("srv")
	srv.Bridge("br0", srvIP+"/24")
	for i, c := range []struct {
		short, ip string
		dst       **netlab.NS
	}{{"n20", "10.77.0.20/24", &e.node}, {"n21", "10.77.0.21/24", &e.masked}, {"anon", "10.77.0.99/24", &e.anon}} {
		ns := lab.Namespace(c.short)
		port := fmt.Sprintf("p%d", i)
		lab.Veth(srv, port, ns, "eth0")
		srv.Enslave(port, "br0")
		ns.Addr("eth0", c.ip)
		*c.dst = ns
	}

	e.startServe(t, srv)
	return e
}

// startServe runs node-switch serve in srv over e's inventory and boot
// root, and waits until e.node can fetch from it.
func (e *env) startServe(t *testing.T, srv *netlab.NS) {
	t.Helper()
	args := []string{"--db", e.db, "serve", "--boot-root", e.root, "--tftp-listen", ":69", "--http-listen", ":8080", "--log-level", "debug"}
	// Other services of serve are not under test here; turn off those
	// that would listen by default.
	help, _ := exec.Command(e.bin, "serve", "--help").CombinedOutput()
	if bytes.Contains(help, []byte("--ssh-listen")) {
		args = append(args, "--ssh-listen", "")
	}
	e.serve = srv.Start(nil, e.bin, args...)
	ready := netlab.WaitFor(60*time.Second, func() bool {
		if e.serve.Exited() {
			return true
		}
		_, err := e.node.Run("curl", "-sf", "-o", "/dev/null", "http://"+srvIP+":8080/pxelinux.0")
		return err == nil && strings.Contains(e.serve.Output(), "tftp listening")
	})
	if !ready || e.serve.Exited() {
		t.Fatalf("node-switch serve did not come up:\n%s", e.serve.Output())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node-switch serve log:\n%s", e.serve.Output())
		}
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeRandom(t *testing.T, path string, n int) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	must(t, os.WriteFile(path, b, 0o644))
}

// tftpGet fetches name with tftp-hpa's client; it reports failures on
// stdout with a zero exit status, so the output is returned too.
func (e *env) tftpGet(t *testing.T, ns *netlab.NS, name string) ([]byte, string) {
	t.Helper()
	dst := filepath.Join(e.out, fmt.Sprintf("tftp-%d", time.Now().UnixNano()))
	out, _ := ns.Run("tftp", "-m", "binary", srvIP, "-c", "get", name, dst)
	b, err := os.ReadFile(dst)
	if err != nil {
		return nil, out
	}
	if strings.Contains(out, "Error") {
		return nil, out
	}
	return b, out
}

func (e *env) curl(t *testing.T, ns *netlab.NS, args ...string) ([]byte, error) {
	t.Helper()
	dst := filepath.Join(e.out, fmt.Sprintf("curl-%d", time.Now().UnixNano()))
	_, err := ns.Run("curl", append([]string{"-sSf", "-o", dst}, args...)...)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(dst)
}

func (e *env) render(t *testing.T, node string, extra ...string) []byte {
	t.Helper()
	cmd := exec.Command(e.bin, append([]string{"--db", e.db, "render", node, "--server-ip", srvIP, "--boot-root", e.root}, extra...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("render %s: %v\n%s", node, err, stderr.String())
	}
	return stdout.Bytes()
}

func fileOf(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return b
}

func TestBootServers(t *testing.T) {
	e := setup(t)

	t.Run("per-node configs equal render", func(t *testing.T) {
		cases := []struct {
			name, node, fw string
			want           string
		}{
			{"pxelinux.cfg/" + dashMAC(macLin), "umu20", "bios", "KERNEL ::linux/vmlinuz"},
			{"um64_linux/pxelinux.cfg/" + dashMAC(macLin), "umu20", "bios", "KERNEL ::linux/vmlinuz"},
			{"/grub/grub.cfg-" + dashMAC(macLin), "umu20", "uefi", "linux /linux/vmlinuz console=ttyS0"},
			{"pxelinux.cfg/0A4D0014", "umu20", "bios", "LABEL sl63"},
			// umu22's profile loads over HTTP from the address the
			// request reached us at.
			{"pxelinux.cfg/" + dashMAC(macHTTP), "umu22", "bios", "KERNEL http://" + srvIP + ":8080/linux/vmlinuz"},
			{"grub/grub.cfg-" + dashMAC(macHTTP), "umu22", "uefi", "linux (http," + srvIP + ":8080)/linux/vmlinuz"},
		}
		for _, c := range cases {
			want := e.render(t, c.node, "--firmware", c.fw)
			if !strings.Contains(string(want), c.want) {
				t.Errorf("render %s --firmware %s lacks %q:\n%s", c.node, c.fw, c.want, want)
			}
			got, out := e.tftpGet(t, e.node, c.name)
			if !bytes.Equal(got, want) {
				t.Errorf("tftp-hpa %s:\n%s\n%s\nwant (render):\n%s", c.name, out, got, want)
			}
			got, err := e.curl(t, e.node, "tftp://"+srvIP+"/"+strings.TrimPrefix(c.name, "/"))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("curl tftp %s: %v\n%s", c.name, err, got)
			}
			got, err = e.curl(t, e.node, "http://"+srvIP+":8080/"+strings.TrimPrefix(c.name, "/"))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("curl http %s: %v\n%s", c.name, err, got)
			}
		}
	})

	t.Run("files byte-identical", func(t *testing.T) {
		for _, f := range []string{"pxelinux.0", "ldlinux.c32", "grubx64.efi", "linux/vmlinuz", "linux/initrd.gz"} {
			want := fileOf(t, filepath.Join(e.root, f))
			if got, out := e.tftpGet(t, e.node, f); !bytes.Equal(got, want) {
				t.Errorf("tftp-hpa %s: %d bytes, want %d: %s", f, len(got), len(want), out)
			}
			if got, err := e.curl(t, e.node, "--tftp-blksize", "1468", "tftp://"+srvIP+"/"+f); err != nil || !bytes.Equal(got, want) {
				t.Errorf("curl tftp %s: %v (%d bytes, want %d)", f, err, len(got), len(want))
			}
			if got, err := e.curl(t, e.node, "http://"+srvIP+":8080/"+f); err != nil || !bytes.Equal(got, want) {
				t.Errorf("curl http %s: %v (%d bytes, want %d)", f, err, len(got), len(want))
			}
		}
		// The source system's layout: pxelinux in a per-cluster directory
		// asks for its modules there; the top-level copies answer.
		if got, out := e.tftpGet(t, e.node, "um64_linux/ldlinux.c32"); !bytes.Equal(got, fileOf(t, filepath.Join(e.root, "ldlinux.c32"))) {
			t.Errorf("um64_linux/ldlinux.c32: %s", out)
		}
		if pkg := fileOf(t, "/usr/lib/PXELINUX/pxelinux.0"); !bytes.Equal(pkg, fileOf(t, filepath.Join(e.root, "pxelinux.0"))) {
			t.Errorf("bootroot init's pxelinux.0 differs from the package's")
		}
	})

	t.Run("http range and head", func(t *testing.T) {
		want := fileOf(t, filepath.Join(e.root, "linux", "vmlinuz"))
		got, err := e.curl(t, e.node, "-r", "1000-1999", "http://"+srvIP+":8080/linux/vmlinuz")
		if err != nil || !bytes.Equal(got, want[1000:2000]) {
			t.Errorf("range 1000-1999: %v, %d bytes", err, len(got))
		}
		// Resume a partial download the way curl -C does.
		part := filepath.Join(e.out, "partial")
		must(t, os.WriteFile(part, want[:12345], 0o644))
		if _, err := e.node.Run("curl", "-sSf", "-C", "-", "-o", part, "http://"+srvIP+":8080/linux/vmlinuz"); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fileOf(t, part), want) {
			t.Errorf("resumed download differs")
		}
		hdr, err := e.node.Run("curl", "-sSfI", "http://"+srvIP+":8080/linux/vmlinuz")
		if err != nil || !strings.Contains(strings.ToLower(hdr), fmt.Sprintf("content-length: %d", len(want))) {
			t.Errorf("HEAD: %v\n%s", err, hdr)
		}
	})

	t.Run("writes refused", func(t *testing.T) {
		src := filepath.Join(e.out, "evil")
		must(t, os.WriteFile(src, []byte("overwritten"), 0o644))
		before := fileOf(t, filepath.Join(e.root, "pxelinux.0"))
		out, _ := e.node.Run("tftp", "-m", "binary", srvIP, "-c", "put", src, "pxelinux.0")
		if !strings.Contains(out, "read-only") {
			t.Errorf("tftp put: want a read-only error, got %q", out)
		}
		out, _ = e.node.Run("tftp", "-m", "binary", srvIP, "-c", "put", src, "new-file")
		if _, err := os.Stat(filepath.Join(e.root, "new-file")); err == nil {
			t.Errorf("tftp put created a file: %s", out)
		}
		if _, err := e.curl(t, e.node, "-T", src, "http://"+srvIP+":8080/pxelinux.0"); err == nil || !strings.Contains(err.Error(), "405") {
			t.Errorf("http PUT: %v", err)
		}
		if !bytes.Equal(before, fileOf(t, filepath.Join(e.root, "pxelinux.0"))) {
			t.Errorf("pxelinux.0 changed")
		}
	})

	t.Run("masked node gets only errors", func(t *testing.T) {
		for _, f := range []string{"pxelinux.0", "pxelinux.cfg/default", "pxelinux.cfg/" + dashMAC(macMask), "grub/grub.cfg"} {
			if got, out := e.tftpGet(t, e.masked, f); got != nil || !strings.Contains(out, "masked") {
				t.Errorf("masked node got %s over TFTP: %q", f, out)
			}
			if _, err := e.curl(t, e.masked, "http://"+srvIP+":8080/"+f); err == nil || !strings.Contains(err.Error(), "403") {
				t.Errorf("masked node got %s over HTTP: %v", f, err)
			}
		}
		// Its config is not handed to anyone else either.
		if got, out := e.tftpGet(t, e.node, "pxelinux.cfg/"+dashMAC(macMask)); got != nil {
			t.Errorf("masked node's config served to another node: %s", out)
		}
	})

	t.Run("unknown machine boots its disk", func(t *testing.T) {
		got, out := e.tftpGet(t, e.anon, "pxelinux.cfg/default")
		if !strings.Contains(string(got), "LOCALBOOT 0") {
			t.Errorf("default for a stranger: %s\n%s", out, got)
		}
		if got, out := e.tftpGet(t, e.anon, "pxelinux.cfg/01-52-54-00-99-99-99"); got != nil || !strings.Contains(out, "not found") {
			t.Errorf("unknown MAC: %s", out)
		}
		got, _ = e.tftpGet(t, e.anon, "grub/grub.cfg")
		if !strings.Contains(string(got), "\nexit\n") {
			t.Errorf("grub.cfg for a stranger:\n%s", got)
		}
	})

	t.Run("escape attempts", func(t *testing.T) {
		for _, f := range []string{"../inv.db", "/../inv.db", "linux/../../inv.db", `..\inv.db`} {
			if got, out := e.tftpGet(t, e.node, f); got != nil {
				t.Errorf("tftp %s escaped: %s", f, out)
			}
		}
		if _, err := e.curl(t, e.node, "--path-as-is", "http://"+srvIP+":8080/../inv.db"); err == nil {
			t.Errorf("http ../inv.db escaped")
		}
	})

	t.Run("move takes effect on the next read", func(t *testing.T) {
		ctx := context.Background()
		if _, err := e.st.Move(ctx, actor, nodes.MoveRequest{Range: "umu20", To: "windows", Reason: "e2e"}); err != nil {
			t.Fatal(err)
		}
		got, out := e.tftpGet(t, e.node, "pxelinux.cfg/"+dashMAC(macLin))
		if !strings.Contains(string(got), "LOCALBOOT 0") || !strings.Contains(string(got), "cluster windows") ||
			!strings.Contains(string(got), "move by e2e") {
			t.Errorf("after move:\n%s%s", out, got)
		}
		if !bytes.Equal(got, e.render(t, "umu20", "--firmware", "bios")) {
			t.Errorf("after move, TFTP and render disagree")
		}
	})
}

// TestLargeFile sends 64 MiB with the block sizes PXE firmware uses.
func TestLargeFile(t *testing.T) {
	e := setup(t)
	big := filepath.Join(e.root, "big.bin")
	writeRandom(t, big, 64<<20)
	want := sha256.Sum256(fileOf(t, big))
	for _, bs := range []string{"1468", "512"} {
		start := time.Now()
		got, err := e.curl(t, e.node, "--tftp-blksize", bs, "tftp://"+srvIP+"/big.bin")
		if err != nil {
			t.Fatalf("blksize %s: %v", bs, err)
		}
		if sha256.Sum256(got) != want || len(got) != 64<<20 {
			t.Fatalf("blksize %s: 64 MiB file arrived damaged (%d bytes)", bs, len(got))
		}
		// Reported, never asserted: the machine is shared.
		t.Logf("64 MiB over TFTP with blksize %s: %v", bs, time.Since(start).Round(time.Millisecond))
		os.RemoveAll(e.out)
		must(t, os.MkdirAll(e.out, 0o755))
	}
	// The block size was negotiated, not silently left at 512.
	if !strings.Contains(e.serve.Output(), "file=big.bin") || !strings.Contains(e.serve.Output(), "blksize=1468") {
		t.Errorf("serve log shows no big.bin transfer with blksize 1468")
	}
	start := time.Now()
	got, err := e.curl(t, e.node, "http://"+srvIP+":8080/big.bin")
	if err != nil || sha256.Sum256(got) != want {
		t.Fatalf("64 MiB over HTTP: %v", err)
	}
	t.Logf("64 MiB over HTTP: %v", time.Since(start).Round(time.Millisecond))
}
