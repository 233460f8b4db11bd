package bootprofiles

import (
	"testing"
	"testing/fstest"
)

// The watch sees a signed chain added after it started, at its next look.
func TestLoaderWatch(t *testing.T) {
	root := fstest.MapFS{"grubx64.efi": {}}
	w := NewLoaderWatch(root)
	if w.Current().SignedX64 {
		t.Fatal("signed chain seen in a boot root without one")
	}
	root[SignedShimX64] = &fstest.MapFile{}
	root[SignedGRUBX64] = &fstest.MapFile{}
	w.next.Store(0) // the next look is due
	if !w.Current().SignedX64 {
		t.Error("signed chain added to the boot root not seen at the next look")
	}
	var none *LoaderWatch
	if none.Current().SignedX64 {
		t.Error("a nil watch holds a signed chain")
	}
}
