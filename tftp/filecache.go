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

// fileCache holds boot files in memory, one copy for every transfer: in a
// power-on storm every node fetches the same loader, kernel and initrd,
// and a transfer served from memory skips a read system call per
// readBuffer and a copy per block. An entry is known by the file's
// device, inode, size and modification time, so a file replaced (rename
// over it) or rewritten on disk is read afresh at the next request, and a
// transfer that began before keeps the copy it started with. Least
// recently used entries go when the copies would exceed the budget.
type fileCache struct {
	budget int64 // bytes; a file larger than a quarter of it is not kept
	mu     sync.Mutex
	size   int64
	lru    *list.List // of *cacheEntry, most recently used first
	byKey  map[fileKey]*list.Element
	loads  int // files read into memory, for tests
	onSize func(int64)
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
}

// DefaultCacheBudget keeps a kernel, an initrd and the loaders of a few
// profiles.
const DefaultCacheBudget = 512 << 20

func newFileCache(budget int64) *fileCache {
	return &fileCache{budget: budget, lru: list.New(), byKey: map[fileKey]*list.Element{}}
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
// false when f is not to be cached (too large, or changed while it was
// read), and the caller reads f itself.
func (c *fileCache) get(f *os.File) (data []byte, ok bool, err error) {
	key, ok := keyOf(f)
	if !ok || key.size > c.budget/4 {
		return nil, false, nil
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
		c.sized()
	}
	e := el.Value.(*cacheEntry)
	c.mu.Unlock()
	// The first request reads the file; those arriving meanwhile wait for
	// it rather than each reading their own copy.
	e.once.Do(func() { e.data, e.err = c.load(f, key) })
	if e.err != nil {
		c.drop(el)
		if e.err == errChanged {
			return nil, false, nil
		}
		return nil, false, e.err
	}
	return e.data, true, nil
}

// errChanged: the file was written while it was read into memory.
var errChanged = fmt.Errorf("file changed while it was read")

func (c *fileCache) load(f *os.File, key fileKey) ([]byte, error) {
	c.mu.Lock()
	c.loads++
	c.mu.Unlock()
	data := make([]byte, key.size)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, key.size), data); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, errChanged
		}
		return nil, fmt.Errorf("read %s into memory: %w", f.Name(), err)
	}
	if now, ok := keyOf(f); !ok || now != key {
		return nil, errChanged
	}
	return data, nil
}

// drop forgets el (a failed load), unless eviction did already.
func (c *fileCache) drop(el *list.Element) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := el.Value.(*cacheEntry)
	if c.byKey[e.key] == el {
		delete(c.byKey, e.key)
		c.lru.Remove(el)
		c.size -= e.key.size
		c.sized()
	}
}

// sized tells onSize what the cache now holds; with c.mu held, so the
// calls come in the order of the changes.
func (c *fileCache) sized() {
	if c.onSize != nil {
		c.onSize(c.size)
	}
}

// evict drops least recently used entries until the copies fit the
// budget; transfers still sending an evicted copy keep it until they end.
func (c *fileCache) evict() {
	for c.size > c.budget {
		el := c.lru.Back()
		e := el.Value.(*cacheEntry)
		delete(c.byKey, e.key)
		c.lru.Remove(el)
		c.size -= e.key.size
	}
}
