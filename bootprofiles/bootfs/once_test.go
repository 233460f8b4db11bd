package bootfs

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/nodestest"
)

var (
	onceNodeIP = netip.MustParseAddr("10.99.0.50")
	otherIP    = netip.MustParseAddr("10.99.0.51")
	bootServer = netip.MustParseAddr("10.99.0.1")
)

// onceFS serves a real inventory: umu20 (10.99.0.50) and umu21 in cluster
// linux, umu20 with a once to cluster installer pending.
func onceFS(t *testing.T) (*FS, *nodes.Store) {
	t.Helper()
	ctx := context.Background()
	st := nodestest.Open(t)
	must(t, st.AddProfile(ctx, nodestest.Actor, nodes.Profile{Name: "linux", Kind: nodes.KindLinux, Kernel: "linux/vmlinuz", Initrd: "linux/initrd"}))
	must(t, st.AddProfile(ctx, nodestest.Actor, nodes.Profile{Name: "installer", Kind: nodes.KindLinux, Kernel: "inst/vmlinuz", Initrd: "inst/initrd"}))
	must(t, st.AddCluster(ctx, nodestest.Actor, nodes.Cluster{Name: "linux", Profile: "linux"}))
	must(t, st.AddCluster(ctx, nodestest.Actor, nodes.Cluster{Name: "installer", Profile: "installer"}))
	for name, ip := range map[string]netip.Addr{"umu20": onceNodeIP, "umu21": otherIP} {
		_, err := st.AddNode(ctx, nodestest.Actor, nodes.Node{Name: name, MAC: "52:54:00:12:34:" + strings.TrimPrefix(name, "umu"), IP: ip, Cluster: "linux"}, "")
		must(t, err)
	}
	_, err := st.SetOnce(ctx, nodestest.Actor, nodes.OnceRequest{Range: "umu20", To: "installer", Reason: "reinstall"})
	must(t, err)
	root := t.TempDir()
	must(t, os.WriteFile(filepath.Join(root, "pxelinux.0"), []byte("PXELINUX"), 0o644))
	r, err := os.OpenRoot(root)
	must(t, err)
	t.Cleanup(func() { r.Close() })
	return &FS{Root: r, Inv: st, Channel: nodes.ChannelTFTP}, st
}

func read(t *testing.T, f *FS, name string, client netip.Addr) (string, error) {
	t.Helper()
	c, err := f.Open(context.Background(), name, client, bootServer)
	if err != nil {
		return "", err
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	must(t, err)
	return string(b), nil
}

func onceUses(t *testing.T, st *nodes.Store) []nodes.Event {
	t.Helper()
	evs, err := st.Log(context.Background(), nodes.LogFilter{Action: nodes.ActionBootOnceUsed})
	must(t, err)
	return evs
}

// The node's own config fetch for the boot is the once; the fetch after it
// is home again. Fetches that are not the node's own boot leave it pending.
func TestOnceUsedAtConfigFetch(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		client netip.Addr
		used   bool
	}{
		{"pxelinux by MAC", "pxelinux.cfg/01-52-54-00-12-34-20", onceNodeIP, true},
		{"pxelinux by IP", "pxelinux.cfg/0A630032", onceNodeIP, true},
		{"pxelinux default", "pxelinux.cfg/default", onceNodeIP, true},
		{"GRUB by MAC", "/grub/grub.cfg-01-52-54-00-12-34-20", onceNodeIP, true},
		{"GRUB default", "grub/grub.cfg", onceNodeIP, true},
		{"another node reads it", "pxelinux.cfg/01-52-54-00-12-34-20", otherIP, false},
		{"someone off the inventory reads it", "pxelinux.cfg/0A630032", netip.MustParseAddr("10.99.0.99"), false},
		{"the boot loader, not a config", "pxelinux.0", onceNodeIP, false},
		{"a UUID name pxelinux tries first", "pxelinux.cfg/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", onceNodeIP, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, st := onceFS(t)
			got, err := read(t, f, tc.file, tc.client)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			if strings.Contains(tc.file, "cfg") && err == nil {
				for _, want := range []string{"cluster installer", "inst/vmlinuz", "boot once: this boot only, later boots go to cluster linux", "move-once by tester"} {
					if !strings.Contains(got, want) {
						t.Errorf("first fetch lacks %q:\n%s", want, got)
					}
				}
			}
			n, err := st.Node(context.Background(), "umu20")
			must(t, err)
			evs := onceUses(t, st)
			if !tc.used {
				if n.OnceCluster != "installer" || len(evs) != 0 {
					t.Fatalf("once after the fetch: %q, %d entries; want still pending", n.OnceCluster, len(evs))
				}
				return
			}
			if n.OnceCluster != "" || len(evs) != 1 {
				t.Fatalf("once after the fetch: %q, %d entries; want used up with one entry", n.OnceCluster, len(evs))
			}
			if e := evs[0]; e.Channel != nodes.ChannelTFTP || e.Origin != onceNodeIP.String() || !strings.Contains(e.Result, tc.file) {
				t.Errorf("logbook entry %+v", e)
			}
			again, err := read(t, f, tc.file, tc.client)
			must(t, err)
			if !strings.Contains(again, "linux/vmlinuz") || strings.Contains(again, "boot once: this boot only") || !strings.Contains(again, "boot-once-used by node-switch via tftp") {
				t.Errorf("the next boot's config:\n%s\nwant linux, naming the boot-once-used entry", again)
			}
		})
	}
}

// Fetches racing for one pending once (a retransmitted request, two
// loaders) all get the once's config; exactly one ends it.
func TestOnceConcurrentFetches(t *testing.T) {
	f, st := onceFS(t)
	const fetches = 8
	var wg sync.WaitGroup
	for range fetches {
		wg.Go(func() {
			c, err := f.Open(context.Background(), "pxelinux.cfg/01-52-54-00-12-34-20", onceNodeIP, bootServer)
			if err != nil {
				t.Error(err)
				return
			}
			c.Close()
		})
	}
	wg.Wait()
	if evs := onceUses(t, st); len(evs) != 1 {
		t.Errorf("%d concurrent fetches made %d boot-once-used entries, want 1", fetches, len(evs))
	}
	if n, _ := st.Node(context.Background(), "umu20"); n.OnceCluster != "" {
		t.Errorf("once still pending after the fetches: %+v", n)
	}
}

// Masking wins: a masked node gets nothing, and its once waits for the
// unmask and the boot after it.
func TestOnceWaitsWhileMasked(t *testing.T) {
	ctx := context.Background()
	f, st := onceFS(t)
	_, err := st.SetMask(ctx, nodestest.Actor, nodes.MaskRequest{Range: "umu20", Mask: true, Reason: "wds"})
	must(t, err)
	if _, err := read(t, f, "pxelinux.cfg/01-52-54-00-12-34-20", onceNodeIP); !errors.Is(err, ErrMasked) {
		t.Fatalf("masked node's fetch = %v, want ErrMasked", err)
	}
	if n, _ := st.Node(ctx, "umu20"); n.OnceCluster != "installer" || len(onceUses(t, st)) != 0 {
		t.Fatalf("once after a masked fetch: %+v, want pending", n)
	}
	_, err = st.SetMask(ctx, nodestest.Actor, nodes.MaskRequest{Range: "umu20", Mask: false})
	must(t, err)
	got, err := read(t, f, "pxelinux.cfg/01-52-54-00-12-34-20", onceNodeIP)
	must(t, err)
	if !strings.Contains(got, "inst/vmlinuz") || len(onceUses(t, st)) != 1 {
		t.Errorf("after unmask the boot is not the once:\n%s", got)
	}
}

// An inventory that cannot record the once's end gets no once config:
// serving it would boot the node there forever.
func TestOnceNeedsAnInventoryThatRecordsIt(t *testing.T) {
	f, st := onceFS(t)
	f.Inv = struct{ Inventory }{st}
	if _, err := read(t, f, "pxelinux.cfg/default", onceNodeIP); err == nil || !strings.Contains(err.Error(), "cannot record") {
		t.Fatalf("err = %v, want a refusal", err)
	}
	if n, _ := st.Node(context.Background(), "umu20"); n.OnceCluster != "installer" {
		t.Errorf("once = %q, want still pending", n.OnceCluster)
	}
}
