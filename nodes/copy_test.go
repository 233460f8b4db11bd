package nodes

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
)

func TestCopyTablesComplete(t *testing.T) {
	st := openAt(t, backends[0].open(t))
	var want []string
	for tb := range schemaOf(t, st) {
		if tb != "generation" && tb != "boot_servers" {
			want = append(want, tb)
		}
	}
	got := slices.Clone(copyTables)
	slices.Sort(want)
	slices.Sort(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("copyTables %v, the schema has %v: add the new table to copyTables", got, want)
	}
}

// TestCopyInventory copies a SQLite inventory that went through script
// into PostgreSQL: every table arrives as it was, the logbook gains one
// entry, a second copy is refused without force and replaces the contents
// with it.
func TestCopyInventory(t *testing.T) {
	ctx := context.Background()
	src := openAt(t, backends[0].open(t))
	script(t, src)
	dst := openAt(t, backends[1].open(t))
	rep, err := CopyInventory(ctx, testActor, src, dst, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tables) != len(copyTables) || rep.Event == 0 {
		t.Fatalf("report %+v", rep)
	}
	a, b := dump(t, src), dump(t, dst)
	for tb := range a {
		got := b[tb]
		if tb == "events" {
			if len(got) != len(a[tb])+1 {
				t.Fatalf("events: %d copied, want %d and the copy's entry", len(got), len(a[tb]))
			}
			got = got[:len(a[tb])]
		}
		if tb == "generation" {
			continue
		}
		if !reflect.DeepEqual(got, a[tb]) {
			t.Errorf("%s differs after the copy:\nsource %q\ncopy   %q", tb, a[tb], got)
		}
	}
	last, err := dst.Event(ctx, rep.Event)
	if err != nil || last.Action != ActionInventoryCopy {
		t.Errorf("copy's logbook entry: %+v, %v", last, err)
	}
	// The copy serves: a move on the target works and is logged after.
	if _, err := dst.Move(ctx, testActor, MoveRequest{Range: "umu12", To: "linux"}); err != nil {
		t.Fatal(err)
	}

	_, err = CopyInventory(ctx, testActor, src, dst, false)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("copy into a non-empty inventory: %v, want refused as invalid", err)
	}
	if n, _ := dst.Node(ctx, "umu12"); n.Cluster != "linux" {
		t.Errorf("a refused copy changed the target: umu12 in %s", n.Cluster)
	}
	if _, err := CopyInventory(ctx, testActor, src, dst, true); err != nil {
		t.Fatalf("copy with force: %v", err)
	}
	if n, _ := dst.Node(ctx, "umu12"); n.Cluster != "windows" {
		t.Errorf("after a forced copy umu12 is in %s, want the source's windows", n.Cluster)
	}
}
