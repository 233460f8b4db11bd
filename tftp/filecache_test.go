package tftp

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestFileCache: a file is read into memory once, and a file that changed
// on disk (rewritten, replaced, grown) is read again, never served stale.
func TestFileCache(t *testing.T) {
	old := bytes.Repeat([]byte("a"), 1000)
	for _, c := range []struct {
		name string
		// change alters the file at p after its first read; nil leaves it.
		change    func(t *testing.T, p string) []byte
		wantLoads int
	}{
		{"unchanged", nil, 1},
		{"rewritten, same size", func(t *testing.T, p string) []byte {
			b := bytes.Repeat([]byte("b"), len(old))
			write(t, p, b)
			// The kernel's clock may not have moved since the first write.
			later := time.Now().Add(time.Second)
			if err := os.Chtimes(p, later, later); err != nil {
				t.Fatal(err)
			}
			return b
		}, 2},
		{"grown", func(t *testing.T, p string) []byte {
			b := append(bytes.Clone(old), 'c')
			write(t, p, b)
			return b
		}, 2},
		{"replaced by rename", func(t *testing.T, p string) []byte {
			b := bytes.Repeat([]byte("d"), len(old))
			write(t, p+".new", b)
			if err := os.Chtimes(p+".new", time.Now(), fileMtime(t, p)); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(p+".new", p); err != nil {
				t.Fatal(err)
			}
			return b
		}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "vmlinuz")
			write(t, p, old)
			fc := NewFileCache(1 << 20)
			want := old
			for i := range 2 {
				if got := cached(t, fc, p); !bytes.Equal(got, want) {
					t.Fatalf("read %d: got %q..., want %q...", i, got[:1], want[:1])
				}
				if i == 0 && c.change != nil {
					want = c.change(t, p)
				}
			}
			if fc.loads != c.wantLoads {
				t.Errorf("files read into memory: %d, want %d", fc.loads, c.wantLoads)
			}
		})
	}
}

// TestFileCacheShared: transfers starting together share one read of the
// file.
func TestFileCacheShared(t *testing.T) {
	p := filepath.Join(t.TempDir(), "initrd")
	want := bytes.Repeat([]byte("initrd"), 10000)
	write(t, p, want)
	fc := NewFileCache(1 << 20)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if got := cached(t, fc, p); !bytes.Equal(got, want) {
				t.Errorf("got %d bytes, want %d", len(got), len(want))
			}
		})
	}
	wg.Wait()
	if fc.loads != 1 {
		t.Errorf("files read into memory: %d, want 1", fc.loads)
	}
}

// TestFileCacheBudget: the least recently used copy goes when the budget
// is full, and a file too large for the cache is left to the caller.
func TestFileCacheBudget(t *testing.T) {
	dir := t.TempDir()
	fc := NewFileCache(4000)
	names := []string{"a", "b", "c", "d", "e"}
	for _, n := range names {
		write(t, filepath.Join(dir, n), bytes.Repeat([]byte(n), 1000))
		cached(t, fc, filepath.Join(dir, n))
	}
	if fc.size > fc.budget {
		t.Errorf("cache holds %d bytes, budget %d", fc.size, fc.budget)
	}
	cached(t, fc, filepath.Join(dir, "e")) // still there
	cached(t, fc, filepath.Join(dir, "a")) // evicted by e
	if fc.loads != 6 {
		t.Errorf("files read into memory: %d, want 6 (a again)", fc.loads)
	}
	if fc.mapped != 4 {
		t.Errorf("mappings: %d, want 4 (the evicted ones given back)", fc.mapped)
	}

	big := filepath.Join(dir, "big")
	write(t, big, make([]byte, 1001))
	f, err := os.Open(big)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, ok, err := fc.get(f); ok || err != nil {
		t.Errorf("a file over a quarter of the budget: cached %v, err %v", ok, err)
	}
}

// TestFileCacheEvictWhileSending: a copy evicted while a transfer still
// sends it stays readable until the transfer releases it, and is given
// back then.
func TestFileCacheEvictWhileSending(t *testing.T) {
	dir := t.TempDir()
	fc := NewFileCache(4000)
	a := filepath.Join(dir, "a")
	want := bytes.Repeat([]byte("a"), 1000)
	write(t, a, want)
	f, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, release, ok, err := fc.get(f)
	if !ok || err != nil {
		t.Fatalf("a not served from memory: %v", err)
	}
	for _, n := range []string{"b", "c", "d", "e"} {
		write(t, filepath.Join(dir, n), bytes.Repeat([]byte(n), 1000))
		cached(t, fc, filepath.Join(dir, n))
	}
	if len(fc.byKey) != 4 {
		t.Errorf("cache holds %d files, want 4 (a evicted)", len(fc.byKey))
	}
	if !bytes.Equal(data, want) {
		t.Errorf("the evicted copy a transfer holds changed")
	}
	if fc.mapped != 5 {
		t.Errorf("mappings while a is sent: %d, want 5", fc.mapped)
	}
	release()
	if fc.mapped != 4 {
		t.Errorf("mappings after a's transfer ended: %d, want 4", fc.mapped)
	}
}

func write(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileMtime(t *testing.T, p string) time.Time {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.ModTime()
}

// cached is p's content through fc.
func cached(t *testing.T, fc *FileCache, p string) []byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Error(err)
		return nil
	}
	defer f.Close()
	b, release, ok, err := fc.get(f)
	if !ok || err != nil {
		t.Errorf("%s not served from memory: %v", p, err)
		return nil
	}
	defer release()
	return bytes.Clone(b)
}
