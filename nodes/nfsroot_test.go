package nodes

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openNFSTestStore(t *testing.T) *Store {
	t.Helper()
	st, err := Open(filepath.Join(t.TempDir(), "inv.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var nfsTestActor = Actor{Name: "tester", Channel: ChannelCLI}

func TestValidateNFSRoot(t *testing.T) {
	good := NFSRoot{Name: "lab", Server: "10.0.0.1", Export: "/srv/lab", Kernel: "lab/vmlinuz", Initrd: "lab/initrd.img", Options: "vers=3,tcp"}
	tests := []struct {
		name   string
		change func(*NFSRoot)
		want   string // substring of the error, "" = valid
	}{
		{"good", func(*NFSRoot) {}, ""},
		{"no server", func(r *NFSRoot) { r.Server = "" }, "no server"},
		{"server with port", func(r *NFSRoot) { r.Server = "10.0.0.1:2049" }, "bare IPv4"},
		{"relative export", func(r *NFSRoot) { r.Export = "srv/lab" }, "absolute path"},
		{"unclean export", func(r *NFSRoot) { r.Export = "/srv/lab/" }, "write it as /srv/lab"},
		{"comma in export", func(r *NFSRoot) { r.Export = "/srv/a,b" }, "commas"},
		{"no kernel", func(r *NFSRoot) { r.Kernel = "" }, "kernel and an initrd"},
		{"no initrd", func(r *NFSRoot) { r.Initrd = "" }, "kernel and an initrd"},
		{"bad name", func(r *NFSRoot) { r.Name = "-lab" }, "NFS root name"},
		{"spaces in options", func(r *NFSRoot) { r.Options = "vers=3, tcp" }, "comma-separated"},
		{"kernel version with slash", func(r *NFSRoot) { r.KernelVersion = "6.1/x" }, "kernel version"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := good
			tc.change(&r)
			err := ValidateNFSRoot(r)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func TestNFSRootCatalog(t *testing.T) {
	ctx := context.Background()
	st := openNFSTestStore(t)
	clock := time.Date(2026, 11, 21, 22, 0, 0, 0, time.UTC)
	st.SetClock(func() time.Time { return clock })

	lab := NFSRoot{Name: "lab", Server: "10.0.0.1", Export: "/srv/lab", Kernel: "lab/vmlinuz", Initrd: "lab/initrd.img", KernelVersion: "6.1.0-test", Options: "vers=3,tcp"}
	if err := st.AddNFSRoot(ctx, nfsTestActor, lab); err != nil {
		t.Fatal(err)
	}
	if err := st.AddNFSRoot(ctx, nfsTestActor, lab); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second add: want 'already exists', got %v", err)
	}
	got, err := st.NFSRoot(ctx, "lab")
	if err != nil {
		t.Fatal(err)
	}
	if got != lab {
		t.Fatalf("stored %+v, read back %+v", lab, got)
	}
	if _, err := st.NFSRoot(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown root: want ErrNotFound, got %v", err)
	}

	// A cluster on a never-checked root cannot receive nodes without --force.
	mustNFS(t, st.AddProfile(ctx, nfsTestActor, Profile{Name: "day", Kind: KindLocalDisk}))
	mustNFS(t, st.AddProfile(ctx, nfsTestActor, Profile{Name: "night", Kind: KindNFSRoot, NFSRoot: "lab"}))
	mustNFS(t, st.AddCluster(ctx, nfsTestActor, Cluster{Name: "lab-day", Profile: "day"}))
	mustNFS(t, st.AddCluster(ctx, nfsTestActor, Cluster{Name: "lab-night", Profile: "night"}))
	if _, err := st.AddNode(ctx, nfsTestActor, Node{Name: "pc01", MAC: "52:54:00:00:00:01", IP: netip.MustParseAddr("10.0.0.11"), Cluster: "lab-day"}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Move(ctx, nfsTestActor, MoveRequest{Range: "pc01", To: "lab-night"}); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "never checked") {
		t.Fatalf("move to unchecked root: want refusal naming 'never checked', got %v", err)
	}

	mustNFS(t, st.RecordNFSRootCheck(ctx, nfsTestActor, "lab", false, "root /srv/lab has no /sbin/init"))
	got, _ = st.NFSRoot(ctx, "lab")
	if got.CheckOK || !got.CheckedAt.Equal(clock) || got.CheckResult != "root /srv/lab has no /sbin/init" {
		t.Fatalf("after failed check: %+v", got)
	}
	if _, err := st.Move(ctx, nfsTestActor, MoveRequest{Range: "pc01", To: "lab-night"}); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no /sbin/init") {
		t.Fatalf("move to failed root: want refusal with the check result, got %v", err)
	}

	mustNFS(t, st.RecordNFSRootCheck(ctx, nfsTestActor, "lab", true, "usable"))
	if _, err := st.Move(ctx, nfsTestActor, MoveRequest{Range: "pc01", To: "lab-night"}); err != nil {
		t.Fatalf("move to checked root: %v", err)
	}
	if err := st.RecordNFSRootCheck(ctx, nfsTestActor, "nope", true, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("check of unknown root: want ErrNotFound, got %v", err)
	}

	// Removal is refused while a profile points at the root.
	if err := st.RemoveNFSRoot(ctx, nfsTestActor, "lab"); err == nil || !strings.Contains(err.Error(), "profile night uses it") {
		t.Fatalf("remove used root: want refusal naming profile night, got %v", err)
	}
	all, err := st.NFSRoots(ctx)
	if err != nil || len(all) != 1 || all[0].Name != "lab" || !all[0].CheckOK {
		t.Fatalf("list: %+v, %v", all, err)
	}

	mustNFS(t, st.AddNFSRoot(ctx, nfsTestActor, NFSRoot{Name: "spare", Server: "nfs.example", Export: "/srv/spare", Kernel: "k", Initrd: "i"}))
	mustNFS(t, st.RemoveNFSRoot(ctx, nfsTestActor, "spare"))
	if err := st.RemoveNFSRoot(ctx, nfsTestActor, "spare"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: want ErrNotFound, got %v", err)
	}

	// Every change is in the logbook, in order.
	evs, err := st.Log(ctx, LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range evs {
		if strings.HasPrefix(string(e.Action), "nfsroot-") {
			actions = append(actions, string(e.Action)+" "+e.Target+e.Source)
		}
	}
	want := "nfsroot-add lab,nfsroot-check lab,nfsroot-check lab,nfsroot-add spare,nfsroot-rm spare"
	if strings.Join(actions, ",") != want {
		t.Fatalf("logbook:\n got %s\nwant %s", strings.Join(actions, ","), want)
	}
}

func mustNFS(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
