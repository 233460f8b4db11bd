package netlab

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// GaneshaExport is one directory an NFS server in a lab serves.
type GaneshaExport struct {
	Path      string // absolute directory on this machine; also the export path clients mount
	ReadWrite bool   // default read-only, which is how diskless roots are usually served
}

// Ganesha is a real NFSv3 server (nfs-ganesha with the VFS FSAL, behind
// rpcbind) running inside one namespace with a private /run, so it collides
// neither with the host's port 111/2049 nor with a host rpcbind's socket.
// It listens on every address of its namespace: NFSv3 over TCP only
// (NFS 2049, mountd 20048), AUTH_SYS, no root squash, no grace period.
type Ganesha struct {
	NS   *NS
	Dir  string // config, logs, pid files
	t    testing.TB
	proc *Proc // bash, the parent of rpcbind and ganesha
}

// StartGanesha starts rpcbind and nfs-ganesha in ns serving exports and
// waits until MOUNT v3 and NFS v3 answer over TCP. It skips the test when
// the packages are missing; the lab's cleanup stops both daemons.
func (ns *NS) StartGanesha(exports ...GaneshaExport) *Ganesha {
	t := ns.lab.t
	t.Helper()
	Require(t, "ganesha.nfsd=nfs-ganesha", "/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so=nfs-ganesha-vfs",
		"rpcbind=rpcbind", "rpcinfo=rpcbind", "unshare=util-linux")
	dir := t.TempDir()
	g := &Ganesha{NS: ns, Dir: dir, t: t}
	if err := os.MkdirAll(filepath.Join(dir, "recovery"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "ganesha.conf")
	if err := os.WriteFile(conf, []byte(GaneshaConfig(dir, exports)), 0o644); err != nil {
		t.Fatal(err)
	}
	// One private mount namespace holds a tmpfs /run for both daemons:
	// rpcbind.sock and /run/ganesha stay off the host. ganesha logs CRIT
	// lines about the missing D-Bus there; they are harmless. bash stays
	// the parent of both so it reaps them (nothing is left as a zombie):
	// SIGUSR1 stops ganesha alone, SIGTERM both.
	script := `set -e
mount -n -t tmpfs -o mode=0755 nsrun /run
mkdir -p /run/rpcbind
chown _rpc /run/rpcbind 2>/dev/null || true
rpcbind -f > "$1/rpcbind.out" 2>&1 &
rb=$!
for i in $(seq 200); do rpcinfo -T tcp 127.0.0.1 100000 2 >/dev/null 2>&1 && break; sleep 0.05; done
ganesha.nfsd -F -f "$2" -L "$1/ganesha.log" -p "$1/ganesha.pid" -N NIV_EVENT &
gn=$!
echo $gn > "$1/ganesha.bgpid"
set +e
trap 'kill -TERM $gn 2>/dev/null; wait $gn; echo stopped > "$1/ganesha.stopped"' USR1
trap 'kill -TERM $gn $rb 2>/dev/null; wait; exit 0' TERM
while kill -0 $rb 2>/dev/null; do wait; done`
	g.proc = ns.Start(nil, "unshare", "--mount", "--propagation", "private", "bash", "-c", script, "ganesha", dir, conf)
	ready := WaitFor(60*time.Second, func() bool {
		if g.proc.Exited() {
			return true
		}
		_, err1 := ns.Run("rpcinfo", "-T", "tcp", "127.0.0.1", "100005", "3")
		_, err2 := ns.Run("rpcinfo", "-T", "tcp", "127.0.0.1", "100003", "3")
		return err1 == nil && err2 == nil
	})
	if !ready || g.proc.Exited() {
		t.Fatalf("nfs-ganesha in %s did not come up:\n%s\n%s", ns.Name, g.proc.Output(), g.Log())
	}
	return g
}

// GaneshaConfig renders the server's configuration; dir holds its
// recovery state.
func GaneshaConfig(dir string, exports []GaneshaExport) string {
	var b strings.Builder
	fmt.Fprintf(&b, `NFS_CORE_PARAM {
	Protocols = 3;
	Enable_NLM = false;
	Enable_RQUOTA = false;
	Enable_UDP = false;
	NFS_Port = 2049;
	MNT_Port = 20048;
	Bind_addr = 0.0.0.0;
}
NFSv4 {
	Graceless = true;
	Grace_Period = 0;
	RecoveryBackend = fs;
	RecoveryRoot = %s;
}
NFS_KRB5 { Active_krb5 = false; }
LOG { Default_Log_Level = EVENT; }
`, filepath.Join(dir, "recovery"))
	for i, e := range exports {
		access := "RO"
		if e.ReadWrite {
			access = "RW"
		}
		fmt.Fprintf(&b, `EXPORT {
	Export_Id = %d; Path = %s; Pseudo = %s;
	Protocols = 3; Transports = TCP; Access_Type = %s;
	Squash = No_Root_Squash; SecType = sys;
	FSAL { Name = VFS; }
}
`, i+1, e.Path, e.Path, access)
	}
	return b.String()
}

// Log is the server's log so far (for failure messages).
func (g *Ganesha) Log() string {
	b, _ := os.ReadFile(filepath.Join(g.Dir, "ganesha.log"))
	return string(b)
}

// Stop stops nfs-ganesha (it unregisters from rpcbind on SIGTERM) and
// leaves rpcbind running: the "NFS server is down" case.
func (g *Ganesha) Stop() {
	if g.proc.Exited() {
		return
	}
	g.proc.Cmd.Process.Signal(syscall.SIGUSR1)
	if !WaitFor(30*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(g.Dir, "ganesha.stopped"))
		return err == nil || g.proc.Exited()
	}) {
		g.t.Errorf("nfs-ganesha in %s did not stop", g.NS.Name)
	}
}

// StopRPCBind stops rpcbind too: the "nothing listens on port 111" case.
func (g *Ganesha) StopRPCBind() { g.proc.Stop() }

var hostLinks atomic.Int64

// HostLink connects the test process's own namespace to ns with a veth
// pair ("hostlink" inside ns; one per namespace) on a small random /29 and
// returns the host side's and ns side's addresses, so code under test (an
// NFS check, a Wake-on-LAN sender) can reach servers in ns without touching
// any real network. Spare names the link's four free addresses.
func (l *Lab) HostLink(ns *NS) (hostIP, nsIP string) {
	l.t.Helper()
	// A random /29 in 100.64.0.0/10 (shared address space, never routed
	// here) keeps concurrent test runs apart.
	n, err := rand.Int(rand.Reader, big.NewInt(1<<19))
	if err != nil {
		l.t.Fatal(err)
	}
	base := 100<<24 | 64<<16 | uint32(n.Int64())<<3
	hostIP, nsIP = ipv4(base+1), ipv4(base+2)
	// Interface names are at most 15 bytes: "h" + the lab's 6 hex digits
	// + a counter.
	hostIf := fmt.Sprintf("h%s%d", l.prefix[3:], hostLinks.Add(1))
	mustRun(l.t, "ip", "link", "add", hostIf, "type", "veth", "peer", "name", "hostlink", "netns", ns.Name)
	// Deleting the namespace removes the pair too; this covers a lab whose
	// namespace outlives the test by mistake.
	l.t.Cleanup(func() { exec.Command("ip", "link", "del", hostIf).Run() })
	mustRun(l.t, "ip", "addr", "add", hostIP+"/29", "dev", hostIf)
	mustRun(l.t, "ip", "link", "set", hostIf, "up")
	ns.Addr("hostlink", nsIP+"/29")
	return hostIP, nsIP
}

// Spare returns the i-th (0..3) free address on a HostLink's /29, given
// the link's ns side address.
func Spare(nsIP string, i int) string {
	var a [4]byte
	fmt.Sscanf(nsIP, "%d.%d.%d.%d", &a[0], &a[1], &a[2], &a[3])
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	return ipv4(v + 1 + uint32(i))
}

func ipv4(v uint32) string { return fmt.Sprintf("%d.%d.%d.%d", v>>24, v>>16&255, v>>8&255, v&255) }

// FixtureKernelVersion is the /lib/modules directory the fixture roots have.
const FixtureKernelVersion = "6.1.0-test"

// NFSRootFixtures makes three diskless roots under a temporary directory:
// good is laid out like Debian 12 (/sbin and /lib are symlinks into /usr,
// /sbin/init an absolute symlink to systemd) so a check must follow links
// inside the export; noInit lacks the init binary; noModules lacks
// /lib/modules/FixtureKernelVersion.
func NFSRootFixtures(t testing.TB) (good, noInit, noModules string) {
	t.Helper()
	base := t.TempDir()
	// ganesha serves as root, but a path component it cannot traverse
	// would still fail the export; TempDir is 0700 under a 0700 parent.
	for d := base; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	mk := func(name string, init, modules bool) string {
		root := filepath.Join(base, name)
		for _, d := range []string{"usr/sbin", "usr/lib/systemd", "usr/lib/modules", "etc"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		files := map[string]string{
			"etc/hostname": name + "\n",
			"etc/fstab":    "# diskless: root over NFS\n",
		}
		if init {
			files["usr/lib/systemd/systemd"] = "#!/bin/sh\necho hello from the NFS root\n"
		}
		if modules {
			files["usr/lib/modules/"+FixtureKernelVersion+"/modules.dep"] = ""
		}
		for f, body := range files {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755); err != nil {
				t.Fatal(err)
			}
			mode := os.FileMode(0o644)
			if strings.HasPrefix(body, "#!") {
				mode = 0o755
			}
			if err := os.WriteFile(filepath.Join(root, f), []byte(body), mode); err != nil {
				t.Fatal(err)
			}
		}
		links := map[string]string{"sbin": "usr/sbin", "lib": "usr/lib", "bin": "usr/bin"}
		if init {
			links["usr/sbin/init"] = "/lib/systemd/systemd"
		}
		for link, target := range links {
			if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
				t.Fatal(err)
			}
		}
		return root
	}
	return mk("good", true, true), mk("noinit", false, true), mk("nomodules", true, false)
}
