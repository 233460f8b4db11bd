package tftp

import (
	"container/list"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// FileCache holds boot files in memory, one copy for every transfer: in a
// power-on storm every node fetches the same loader, kernel and initrd,
// and a transfer served from memory skips a read system call per
// readBuffer and a copy per block. An entry is known by the file's
// device, inode, size and modification time, so a file replaced (rename
// over it) or rewritten on disk is read afresh at the next request, and a
// transfer that began before keeps the copy it started with. Least
// recently used entries go when the copies would exceed the budget.
//
// The copies live outside the Go heap (anonymous mappings): on the heap a
// 50 MiB initrd counted as live data, serve's GOGC=400 then let garbage
// grow to five times it, and the soft memory limit either had to rise by
// the cache (peak RSS at N=50 went from 40 to 158 MiB) or would keep the
// collector running. A mapping is unmapped once it is evicted and the last
// transfer sending it has released it.
type FileCache struct {
	budget int64 // bytes; a file larger than a quarter of it is not kept
	mu     sync.Mutex
	size   int64
	lru    *list.List // of *cacheEntry, most recently used first
	byKey  map[fileKey]*list.Element
	loads  int // files read into memory, for tests
	mapped int // mappings not yet unmapped, for tests
}

type fileKey struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

type cacheEntry struct {
	key  fileKey
	once sync.Once
	data []byte
	err  error
	refs int  // callers of get holding data; under FileCache.mu
	gone bool // out of the cache: unmapped when refs falls to 0
}

// DefaultCacheBudget keeps a kernel, an initrd and the loaders of a few
// profiles.
const DefaultCacheBudget = 512 << 20

// NewFileCache keeps up to budget bytes of boot files in memory
// (DefaultCacheBudget when 0; negative: none, every transfer reads its
// file).
func NewFileCache(budget int64) *FileCache {
	if budget == 0 {
		budget = DefaultCacheBudget
	}
	return &FileCache{budget: max(budget, 0), lru: list.New(), byKey: map[fileKey]*list.Element{}}
}

// keyOf is f's identity now; ok is false when f cannot be cached.
func keyOf(f *os.File) (fileKey, bool) {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return fileKey{}, false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, false
	}
	return fileKey{dev: uint64(sys.Dev), ino: sys.Ino, size: st.Size(), mtime: st.ModTime()}, true
}

// get returns f's content from memory, reading it on first use; ok is
// false when f is not to be cached (empty, too large, or changed while it
// was read), and the caller reads f itself. With ok, the caller must call
// release once it has stopped using data: the memory may be unmapped then.
func (c *FileCache) get(f *os.File) (data []byte, release func(), ok bool, err error) {
	key, ok := keyOf(f)
	if !ok || key.size == 0 || key.size > c.budget/4 {
		return nil, nil, false, nil
	}
	c.mu.Lock()
	el, hit := c.byKey[key]
	if hit {
		c.lru.MoveToFront(el)
	} else {
		el = c.lru.PushFront(&cacheEntry{key: key})
		c.byKey[key] = el
		c.size += key.size
		c.evict()
	}
	e := el.Value.(*cacheEntry)
	e.refs++
	c.mu.Unlock()
	release = func() { c.release(e) }
	// The first request reads the file; those arriving meanwhile wait for
	// it rather than each reading their own copy.
	e.once.Do(func() { e.data, e.err = c.load(f, key) })
	if e.err != nil {
		c.drop(el)
		release()
		if e.err == errChanged {
			return nil, nil, false, nil
		}
		return nil, nil, false, e.err
	}
	return e.data, release, true, nil
}

// errChanged: the file was written while it was read into memory.
var errChanged = fmt.Errorf("file changed while it was read")

func (c *FileCache) load(f *os.File, key fileKey) ([]byte, error) {
	data, err := syscall.Mmap(-1, 0, int(key.size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("memory for %s (%d bytes): %w", f.Name(), key.size, err)
	}
	c.mu.Lock()
	c.loads++
	c.mapped++
	c.mu.Unlock()
	fail := func(err error) ([]byte, error) {
		c.mu.Lock()
		c.unmapLocked(data)
		c.mu.Unlock()
		return nil, err
	}
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, key.size), data); err != nil {
		if err == io.ErrUnexpectedEOF {
			return fail(errChanged)
		}
		return fail(fmt.Errorf("read %s into memory: %w", f.Name(), err))
	}
	if now, ok := keyOf(f); !ok || now != key {
		return fail(errChanged)
	}
	return data, nil
}

// unmapLocked gives a mapping made by load back, with c.mu held (so no
// two callers can give the same one back twice).
func (c *FileCache) unmapLocked(data []byte) {
	// Munmap of a whole mapping made by Mmap cannot fail.
	_ = syscall.Munmap(data)
	c.mapped--
}

// release is a caller's end of using e's data.
func (c *FileCache) release(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	c.freeLocked(e)
}

// freeLocked unmaps e's copy once it is out of the cache and nobody sends
// it. When refs is 0, every get of e has finished loading it, so e.data is
// settled.
func (c *FileCache) freeLocked(e *cacheEntry) {
	if e.refs == 0 && e.gone && e.data != nil {
		c.unmapLocked(e.data)
		e.data = nil
	}
}

// drop forgets el (a failed load), unless eviction did already.
func (c *FileCache) drop(el *list.Element) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := el.Value.(*cacheEntry)
	if c.byKey[e.key] == el {
		delete(c.byKey, e.key)
		c.lru.Remove(el)
		c.size -= e.key.size
		e.gone = true
	}
}

// evict drops least recently used entries until the copies fit the
// budget; an entry still being sent is unmapped when its last transfer
// releases it. With c.mu held; an entry just pushed has no refs yet, but
// it is the most recent and goes last.
func (c *FileCache) evict() {
	for c.size > c.budget {
		el := c.lru.Back()
		e := el.Value.(*cacheEntry)
		delete(c.byKey, e.key)
		c.lru.Remove(el)
		c.size -= e.key.size
		e.gone = true
		c.freeLocked(e)
	}
}
