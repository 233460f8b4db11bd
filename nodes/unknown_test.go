package nodes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// seenAt is one sighting of mac at t0+sec seconds.
func seenAt(mac string, sec int) Unknown {
	at := t0.Add(time.Duration(sec) * time.Second)
	return Unknown{MAC: mac, FirstSeen: at, LastSeen: at, TimesSeen: 1, Interface: "eth1"}
}

func unknownMACs(t *testing.T, st *Store) []string {
	t.Helper()
	us, err := st.Unknowns(context.Background())
	must(t, err)
	out := []string{}
	for _, u := range us {
		out = append(out, u.MAC)
	}
	return out
}

func umac(i int) string { return fmt.Sprintf("02:99:00:00:00:%02x", i) }

func TestRecordUnknownCap(t *testing.T) {
	tests := []struct {
		name        string
		batches     [][]Unknown
		max         int
		want        []string // newest first
		wantEvicted int      // by the last batch
	}{
		{
			name:    "under the cap everything is kept, newest first",
			batches: [][]Unknown{{seenAt(umac(1), 1), seenAt(umac(2), 3), seenAt(umac(3), 2)}},
			max:     5,
			want:    []string{umac(2), umac(3), umac(1)},
		},
		{
			name:        "over the cap in one batch keeps the most recently seen",
			batches:     [][]Unknown{{seenAt(umac(1), 1), seenAt(umac(2), 2), seenAt(umac(3), 3), seenAt(umac(4), 4)}},
			max:         2,
			want:        []string{umac(4), umac(3)},
			wantEvicted: 2,
		},
		{
			name: "a later batch replaces the least recently seen rows",
			batches: [][]Unknown{
				{seenAt(umac(1), 1), seenAt(umac(2), 2), seenAt(umac(3), 3)},
				{seenAt(umac(4), 10)},
			},
			max:         3,
			want:        []string{umac(4), umac(3), umac(2)},
			wantEvicted: 1,
		},
		{
			name: "a machine seen again is not the one evicted",
			batches: [][]Unknown{
				{seenAt(umac(1), 1), seenAt(umac(2), 2), seenAt(umac(3), 3)},
				{seenAt(umac(1), 10), seenAt(umac(4), 11)},
			},
			max:         3,
			want:        []string{umac(4), umac(1), umac(3)},
			wantEvicted: 1,
		},
		{
			name:    "a cap of zero records nothing",
			batches: [][]Unknown{{seenAt(umac(1), 1)}},
			max:     0,
			want:    []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newTestStore(t)
			var res UnknownRecord
			for _, b := range tt.batches {
				var err error
				res, err = st.RecordUnknown(context.Background(), b, tt.max)
				must(t, err)
			}
			if got := unknownMACs(t, st); !slices.Equal(got, tt.want) {
				t.Errorf("unknown MACs %v, want %v", got, tt.want)
			}
			if res.Evicted != tt.wantEvicted {
				t.Errorf("last batch evicted %d, want %d", res.Evicted, tt.wantEvicted)
			}
		})
	}
}

func TestRecordUnknownMerges(t *testing.T) {
	st := newTestStore(t)
	ctx := context.Background()
	first := seenAt(umac(1), 1)
	first.TimesSeen, first.Firmware, first.VendorClass, first.Hostname = 3, "uefi", "PXEClient:Arch:00007", "rack1"
	first.LastSeen = t0.Add(4 * time.Second)
	// The OS's client, later: says nothing of firmware, comes via a relay.
	later := seenAt(umac(1), 20)
	later.TimesSeen, later.Relay = 2, "10.1.0.1"
	for _, b := range []Unknown{first, later} {
		if _, err := st.RecordUnknown(ctx, []Unknown{b}, 10); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.UnknownMAC(ctx, strings.ToUpper(umac(1)))
	must(t, err)
	want := Unknown{MAC: umac(1), FirstSeen: t0.Add(time.Second), LastSeen: t0.Add(20 * time.Second), TimesSeen: 5,
		Firmware: "uefi", VendorClass: "PXEClient:Arch:00007", Interface: "eth1", Relay: "10.1.0.1", Hostname: "rack1"}
	if got != want {
		t.Errorf("merged\n got %+v\nwant %+v", got, want)
	}
}

// TestUnknownIsBookkeeping: recording and forgetting unknown MACs never
// moves the generation, so a flood of spoofed MACs cannot make the DHCP cache
// reread the inventory; adding a node does, as before.
func TestUnknownIsBookkeeping(t *testing.T) {
	st := newTestStore(t)
	ctx := context.Background()
	gen := func() int64 {
		g, err := st.Generation(ctx)
		must(t, err)
		return g
	}
	before := gen()
	batch := make([]Unknown, 0, 50)
	for i := range 50 {
		batch = append(batch, seenAt(umac(i), i))
	}
	_, err := st.RecordUnknown(ctx, batch, 20)
	must(t, err)
	_, err = st.ClearUnknown(ctx, testActor, []string{umac(49)}, "")
	must(t, err)
	if g := gen(); g != before {
		t.Fatalf("generation moved from %d to %d for bookkeeping", before, g)
	}
	_, err = st.AddNode(ctx, testActor, Node{Name: "n1", MAC: umac(48), IP: netip.MustParseAddr("10.0.0.5"), Cluster: "linux"}, "")
	must(t, err)
	if gen() == before {
		t.Fatal("adding a node did not move the generation")
	}
}

func TestAddNodeTakesMACOffUnknownList(t *testing.T) {
	st := newTestStore(t)
	ctx := context.Background()
	_, err := st.RecordUnknown(ctx, []Unknown{seenAt(umac(1), 1), seenAt(umac(2), 2)}, 10)
	must(t, err)
	_, err = st.AddNode(ctx, testActor, Node{Name: "n1", MAC: strings.ToUpper(umac(1)), IP: netip.MustParseAddr("10.0.0.5"), Cluster: "linux"}, "")
	must(t, err)
	if got := unknownMACs(t, st); !slices.Equal(got, []string{umac(2)}) {
		t.Fatalf("after node add: unknown %v, want only %s", got, umac(2))
	}
	// A sighting from before the add, flushed after it, must not bring it
	// back.
	res, err := st.RecordUnknown(ctx, []Unknown{seenAt(umac(1), 5)}, 10)
	must(t, err)
	if got := unknownMACs(t, st); !slices.Equal(got, []string{umac(2)}) || res.Reserved != 1 {
		t.Fatalf("late sighting of a reserved MAC: unknown %v reserved=%d, want only %s and 1", got, res.Reserved, umac(2))
	}
}

func TestClearUnknown(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string // left afterwards
		invalid bool
	}{
		{name: "one MAC, any spelling", args: []string{"02-99-00-00-00-02"}, want: []string{umac(3), umac(1)}},
		{name: "several", args: []string{umac(1), umac(3)}, want: []string{umac(2)}},
		{name: "all", args: []string{"all"}, want: []string{}},
		{name: "nothing named", args: nil, want: []string{umac(3), umac(2), umac(1)}, invalid: true},
		{name: "one not in the list changes nothing", args: []string{umac(1), umac(9)}, want: []string{umac(3), umac(2), umac(1)}, invalid: true},
		{name: "malformed", args: []string{"02:99"}, want: []string{umac(3), umac(2), umac(1)}, invalid: true},
		{name: "all among MACs", args: []string{umac(1), "all"}, want: []string{umac(3), umac(2), umac(1)}, invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newTestStore(t)
			ctx := context.Background()
			_, err := st.RecordUnknown(ctx, []Unknown{seenAt(umac(1), 1), seenAt(umac(2), 2), seenAt(umac(3), 3)}, 10)
			must(t, err)
			before, err := st.Log(ctx, LogFilter{Action: ActionUnknownClear})
			must(t, err)
			_, err = st.ClearUnknown(ctx, testActor, tt.args, "junk")
			if tt.invalid != errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v, want invalid=%v", err, tt.invalid)
			}
			if !tt.invalid && err != nil {
				t.Fatal(err)
			}
			if got := unknownMACs(t, st); !slices.Equal(got, tt.want) {
				t.Errorf("left %v, want %v", got, tt.want)
			}
			after, err := st.Log(ctx, LogFilter{Action: ActionUnknownClear})
			must(t, err)
			wantLogged := 1
			if tt.invalid {
				wantLogged = 0
			}
			if len(after)-len(before) != wantLogged {
				t.Errorf("logbook entries %d → %d, want %d new", len(before), len(after), wantLogged)
			}
		})
	}
}

func TestUnknownJSONKeys(t *testing.T) {
	tests := []struct {
		name string
		u    Unknown
		want string
	}{
		{
			name: "what was not said is null",
			u:    Unknown{MAC: umac(1), FirstSeen: t0, LastSeen: t0, TimesSeen: 1, Interface: "eth1"},
			want: `{"mac":"02:99:00:00:00:01","first_seen":"2025-03-01T12:00:00Z","last_seen":"2025-03-01T12:00:00Z","times_seen":1,"firmware":null,"vendor_class":null,"interface":"eth1","relay":null,"hostname":null}`,
		},
		{
			name: "everything said",
			u: Unknown{MAC: umac(1), FirstSeen: t0, LastSeen: t0, TimesSeen: 2, Firmware: "bios", VendorClass: "PXEClient",
				Interface: "eth1", Relay: "10.1.0.1", Hostname: "x"},
			want: `{"mac":"02:99:00:00:00:01","first_seen":"2025-03-01T12:00:00Z","last_seen":"2025-03-01T12:00:00Z","times_seen":2,"firmware":"bios","vendor_class":"PXEClient","interface":"eth1","relay":"10.1.0.1","hostname":"x"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.u)
			must(t, err)
			if string(b) != tt.want {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
}
