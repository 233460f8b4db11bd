package nodes

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestWaitServers: a change waits for the live boot servers behind it and
// names those still behind when the bound passes; a server caught up, one
// that missed its beats, and one that left are not waited for. The bound
// is short only where the outcome cannot depend on it (a server nobody
// moves on).
func TestWaitServers(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	gen, err := st.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Beats of an hour: alive for the whole test whatever the machine's
	// load.
	join := func(at int64) *ServerBeat {
		b := st.JoinServers(time.Hour)
		if err := b.Record(ctx, at); err != nil {
			t.Fatal(err)
		}
		return b
	}
	ahead, behind, dead := join(gen), join(gen-1), join(gen-1)
	// Three missed beats: seen long ago by the database's clock.
	if _, err := st.db.ExecContext(ctx, `UPDATE boot_servers SET seen = 0 WHERE id = ?`, dead.id); err != nil {
		t.Fatal(err)
	}
	all, err := st.BootServers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]bool{}
	for _, b := range all {
		live[b.ID] = b.Live()
	}
	if len(all) != 3 || !live[ahead.id] || !live[behind.id] || live[dead.id] {
		t.Fatalf("boot servers %+v: want 3, the one unseen since 1970 not live", all)
	}

	for _, tc := range []struct {
		name  string
		gen   int64
		bound time.Duration
		want  []string // ids still behind
	}{
		{"every live server has it", gen - 1, time.Minute, nil},
		{"one live server behind", gen, 20 * time.Millisecond, []string{behind.id}},
		{"both behind a later change", gen + 1, 20 * time.Millisecond, []string{ahead.id, behind.id}},
	} {
		got, err := st.WaitServers(ctx, tc.gen, tc.bound)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var ids []string
		for _, b := range got {
			ids = append(ids, b.ID)
			if b.String() == "" || b.Generation >= tc.gen {
				t.Errorf("%s: %+v named behind", tc.name, b)
			}
		}
		slices.Sort(ids)
		slices.Sort(tc.want)
		if !slices.Equal(ids, tc.want) {
			t.Errorf("%s: behind %v, want %v", tc.name, ids, tc.want)
		}
	}

	// Catching up ends the wait.
	if err := behind.Record(ctx, gen); err != nil {
		t.Fatal(err)
	}
	if got, err := st.WaitServers(ctx, gen, time.Minute); err != nil || len(got) != 0 {
		t.Errorf("after catching up: behind %+v, %v", got, err)
	}
	// A server that stops cleanly is gone at once.
	if err := ahead.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := st.WaitServers(ctx, gen+1, 20*time.Millisecond); err != nil || len(got) != 1 || got[0].ID != behind.id {
		t.Errorf("after one left: behind %+v, %v; want only %s", got, err, behind.id)
	}
	// The dead one's row goes when another server starts (after a day).
	if err := behind.Forget(ctx); err != nil {
		t.Fatal(err)
	}
	all, err = st.BootServers(ctx)
	if err != nil || len(all) != 1 || all[0].ID != behind.id {
		t.Errorf("after Forget: %+v, %v; want only %s", all, err, behind.id)
	}
	// Heartbeats are bookkeeping: they never move the generation.
	if g, err := st.Generation(ctx); err != nil || g != gen {
		t.Errorf("generation %d after heartbeats, want %d (%v)", g, gen, err)
	}
}
