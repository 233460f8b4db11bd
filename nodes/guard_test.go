package nodes

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// newGuardStore is the lab of issue 18: cluster lab-day (localdisk, two
// nodes), lab-night (nfsroot on root "lab", whose check failed; one node
// moved there with --force), an empty cluster "spare" and an unused profile
// "prep". Root "lab5" was never checked; root "good" passed.
func newGuardStore(t *testing.T) *Store {
	t.Helper()
	st := newTestStore(t)
	ctx := context.Background()
	for _, r := range []string{"lab", "lab5", "good"} {
		must(t, st.AddNFSRoot(ctx, testActor, NFSRoot{Name: r, Server: "10.0.0.1", Export: "/srv/" + r, Kernel: "k", Initrd: "i"}))
	}
	must(t, st.RecordNFSRootCheck(ctx, testActor, "lab", false, "root /srv/lab has no /sbin/init"))
	must(t, st.RecordNFSRootCheck(ctx, testActor, "good", true, "usable"))
	must(t, st.AddProfile(ctx, testActor, Profile{Name: "day", Kind: KindLocalDisk}))
	must(t, st.AddProfile(ctx, testActor, Profile{Name: "night", Kind: KindNFSRoot, NFSRoot: "lab"}))
	must(t, st.AddProfile(ctx, testActor, Profile{Name: "prep", Kind: KindLocalDisk}))
	must(t, st.AddCluster(ctx, testActor, Cluster{Name: "lab-day", Profile: "day"}))
	must(t, st.AddCluster(ctx, testActor, Cluster{Name: "lab-night", Profile: "night"}))
	must(t, st.AddCluster(ctx, testActor, Cluster{Name: "spare", Profile: "day"}))
	addNodes(t, st, "pc", "lab-day", 3)
	if _, err := st.Move(ctx, testActor, MoveRequest{Range: "pc3", To: "lab-night", Force: true}); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestBootGuard(t *testing.T) {
	ctx := context.Background()
	newNode := Node{Name: "pc9", MAC: "02:00:00:00:00:99", IP: netip.MustParseAddr("10.9.0.9")}
	setKind := func(k ProfileKind, root string) func(*Profile) error {
		return func(p *Profile) error { p.Kind, p.NFSRoot = k, root; return nil }
	}
	tests := []struct {
		name string
		do   func(st *Store) error
		// want is a fragment of the refusal; "" means the change is allowed.
		want string
	}{
		{"cluster set onto failed root", func(st *Store) error {
			return st.SetClusterProfile(ctx, testActor, "lab-day", "night", "")
		}, "boots NFS root lab, whose last check failed (root /srv/lab has no /sbin/init): fix it and run 'node-switch nfsroot check lab', or pass --force"},
		{"cluster set of an empty cluster", func(st *Store) error {
			return st.SetClusterProfile(ctx, testActor, "spare", "night", "")
		}, ""},
		{"cluster add on failed root", func(st *Store) error {
			return st.AddCluster(ctx, testActor, Cluster{Name: "lab-new", Profile: "night"})
		}, ""},
		{"profile set kind nfsroot on failed root", func(st *Store) error {
			_, err := st.UpdateProfile(ctx, testActor, "day", "", setKind(KindNFSRoot, "lab"))
			return err
		}, "cluster lab-day boots NFS root lab, whose last check failed"},
		{"profile set to never-checked root", func(st *Store) error {
			_, err := st.UpdateProfile(ctx, testActor, "night", "", setKind(KindNFSRoot, "lab5"))
			return err
		}, "cluster lab-night boots NFS root lab5, which was never checked: run 'node-switch nfsroot check lab5' or pass --force"},
		{"profile set to a checked root", func(st *Store) error {
			_, err := st.UpdateProfile(ctx, testActor, "night", "", setKind(KindNFSRoot, "good"))
			return err
		}, ""},
		{"profile set of an unused profile", func(st *Store) error {
			_, err := st.UpdateProfile(ctx, testActor, "prep", "", setKind(KindNFSRoot, "lab5"))
			return err
		}, ""},
		{"profile set description only", func(st *Store) error {
			_, err := st.UpdateProfile(ctx, testActor, "night", "", func(p *Profile) error { p.Description = "x"; return nil })
			return err
		}, ""},
		{"node add into failed root", func(st *Store) error {
			n := newNode
			n.Cluster = "lab-night"
			_, err := st.AddNode(ctx, testActor, n, "")
			return err
		}, "cluster lab-night boots NFS root lab, whose last check failed"},
		{"node add elsewhere", func(st *Store) error {
			n := newNode
			n.Cluster = "lab-day"
			_, err := st.AddNode(ctx, testActor, n, "")
			return err
		}, ""},
		{"import into failed root", func(st *Store) error {
			n := newNode
			n.Cluster = "lab-night"
			_, err := st.Import(ctx, testActor, Inventory{Nodes: []Node{n}}, "")
			return err
		}, "cluster lab-night boots NFS root lab, whose last check failed"},
		{"import of a new cluster on a never-checked root", func(st *Store) error {
			n := newNode
			n.Cluster = "c5"
			_, err := st.Import(ctx, testActor, Inventory{
				Profiles: []Profile{{Name: "p5", Kind: KindNFSRoot, NFSRoot: "lab5"}},
				Clusters: []Cluster{{Name: "c5", Profile: "p5"}},
				Nodes:    []Node{n},
			}, "")
			return err
		}, "cluster c5 boots NFS root lab5, which was never checked"},
	}
	for _, tt := range tests {
		for _, force := range []bool{false, true} {
			name := tt.name
			if force {
				name += " --force"
			}
			t.Run(name, func(t *testing.T) {
				st := newGuardStore(t)
				before := eventCount(t, st)
				err := tt.do(st.WithForce(force))
				if tt.want == "" || force {
					if err != nil {
						t.Fatalf("want the change allowed, got %v", err)
					}
					if got := eventCount(t, st); got != before+1 {
						t.Errorf("logbook grew by %d entries, want 1", got-before)
					}
					return
				}
				if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("want refusal containing %q, got %v", tt.want, err)
				}
				if got := eventCount(t, st); got != before {
					t.Errorf("a refused change wrote %d logbook entries", got-before)
				}
				// Nothing changed: the same cluster map, profiles and nodes.
				if a, b := snapshot(t, newGuardStore(t)), snapshot(t, st); a != b {
					t.Errorf("a refused change changed the inventory:\n got %s\nwant %s", b, a)
				}
			})
		}
	}
}

func eventCount(t *testing.T, st *Store) int {
	t.Helper()
	evs, err := st.Log(context.Background(), LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// snapshot is what decides what nodes boot: nodes with their clusters,
// clusters with their profiles, profiles with their kind and root.
func snapshot(t *testing.T, st *Store) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	ns, err := st.Nodes(ctx, "")
	must(t, err)
	for _, n := range ns {
		b.WriteString(n.Name + "@" + n.Cluster + " ")
	}
	cs, err := st.Clusters(ctx)
	must(t, err)
	for _, c := range cs {
		b.WriteString(c.Name + ":" + c.Profile + " ")
	}
	ps, err := st.Profiles(ctx)
	must(t, err)
	for _, p := range ps {
		b.WriteString(p.Name + "=" + string(p.Kind) + "/" + p.NFSRoot + " ")
	}
	return b.String()
}
