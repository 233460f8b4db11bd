package nfse2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/bootprofiles/nfsroot"
	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

func entry(server, export string) nodes.NFSRoot {
	return nodes.NFSRoot{Name: "lab", Server: server, Export: export, Kernel: "lab/vmlinuz", Initrd: "lab/initrd.img",
		KernelVersion: netlab.FixtureKernelVersion, Options: "vers=3,tcp"}
}

// TestCheckGanesha runs the check against a real nfs-ganesha: a good root,
// broken roots, a missing export, then the same server stopped.
func TestCheckGanesha(t *testing.T) {
	lab := netlab.New(t)
	ns := lab.Namespace("nfs")
	_, server := lab.HostLink(ns)
	good, noInit, noModules := netlab.NFSRootFixtures(t)
	g := ns.StartGanesha(netlab.GaneshaExport{Path: good}, netlab.GaneshaExport{Path: noInit}, netlab.GaneshaExport{Path: noModules})
	ctx := context.Background()
	opt := nfsroot.Options{Timeout: 10 * time.Second}

	t.Run("good root", func(t *testing.T) {
		summary, err := nfsroot.Check(ctx, entry(server, good), opt)
		if err != nil {
			t.Fatalf("check failed: %v\nganesha log:\n%s", err, g.Log())
		}
		for _, want := range []string{"/sbin/init -> /usr/lib/systemd/systemd", "/lib/modules/" + netlab.FixtureKernelVersion, "/etc readable (2 entries)"} {
			if !strings.Contains(summary, want) {
				t.Errorf("summary %q lacks %q", summary, want)
			}
		}
	})
	fails := []struct {
		name, export, want string
	}{
		{"missing export", "/srv/not-exported", "export /srv/not-exported not exported by " + server + " (MNT3ERR_ACCES)"},
		{"no /sbin/init", noInit, "root " + noInit + " has no /sbin/init"},
		{"no modules", noModules, "root " + noModules + " has no /lib/modules/" + netlab.FixtureKernelVersion},
	}
	for _, tc := range fails {
		t.Run(tc.name, func(t *testing.T) {
			_, err := nfsroot.Check(ctx, entry(server, tc.export), opt)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("want error starting %q, got %v", tc.want, err)
			}
		})
	}

	t.Run("server stopped", func(t *testing.T) {
		g.Stop()
		_, err := nfsroot.Check(ctx, entry(server, good), opt)
		want := "mountd (MOUNT v3 over TCP) is not registered with the portmapper on " + server
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("want error starting %q, got %v", want, err)
		}
	})
	t.Run("portmapper stopped", func(t *testing.T) {
		g.StopRPCBind()
		_, err := nfsroot.Check(ctx, entry(server, good), opt)
		want := "no portmapper on " + server + ":111"
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("want error starting %q, got %v", want, err)
		}
	})
}

// TestCheckMisbehavingServer points the check at servers that accept TCP
// connections and never answer (each step must give up at its deadline and
// name the daemon that hung) or answer garbage that makes go-nfs-client
// panic (the panic must come back as an error).
func TestCheckMisbehavingServer(t *testing.T) {
	lab := netlab.New(t)
	ctx := context.Background()
	opt := nfsroot.Options{Timeout: 2 * time.Second}
	for _, tc := range []struct {
		mode  string
		ports []int
		peer  string
	}{
		{"hang", []int{111, 20048, 2049}, "the portmapper"},
		{"hang-mountd", []int{111, 20048, 2049}, "mountd"},
		{"hang-nfsd", []int{111, 20048, 2049}, "nfsd"},
		// Not a hang: a reply that makes the library panic must come back
		// as an error naming the daemon.
		{"garbage-mountd", []int{111, 20048, 2049}, ""},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			ns := lab.Namespace(tc.mode)
			_, server := lab.HostLink(ns)
			p := ns.Start([]string{"NFSE2E_HELPER=" + tc.mode}, os.Args[0])
			if !netlab.WaitFor(30*time.Second, func() bool { return helperReady(p.Output(), tc.ports...) || p.Exited() }) || p.Exited() {
				t.Fatalf("helper did not start: %s", p.Output())
			}
			_, err := nfsroot.Check(ctx, entry(server, "/srv/lab"), opt)
			want := "timed out after 2s talking to " + tc.peer + " on " + server
			if tc.peer == "" {
				want = "malformed reply from mountd on " + server + " ("
			}
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("want %q, got %v", want, err)
			}
		})
	}
}
