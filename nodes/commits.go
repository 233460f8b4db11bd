package nodes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Commits tells, without a query, whether anyone has committed to the
// inventory since an earlier look. The DHCP path asks it for every packet:
// a PRAGMA data_version through database/sql and cgo cost about a quarter
// of the DHCP CPU profile under perfdhcp load, while this is six memory
// loads.
//
// It reads the WAL-index header that SQLite keeps at the start of the
// database's -shm file, which every connection of every process maps and
// rewrites at each commit (https://www.sqlite.org/walformat.html, "The
// WAL-Index Header"): its iChange field is incremented by each transaction,
// mxFrame and the salts move with every frame appended or checkpoint reset.
// The header is a documented file format, shared with other SQLite
// versions, so it is stable; still, callers must treat a Stamp as a hint
// to skip work, never as the data: when it moves they ask SQLite whether
// the change matters (GenerationQuery), and they confirm now and then
// anyway (see dhcp.CachedInventory).
//
// The -shm file lives as long as one connection has the database open;
// whoever holds a Commits must also hold a connection (SQLite deletes the
// file when the last one closes, and a later opener makes a new one, which
// Stale notices).
type Commits struct {
	path string
	mem  []byte
	dev  uint64
	ino  uint64
}

// Stamp is a snapshot of the WAL-index header; two equal Stamps mean no
// transaction committed in between.
type Stamp [walHeaderWords]uint64

// walHeaderWords is the first copy of the WAL-index header (48 bytes) in
// 8-byte words.
const walHeaderWords = 6

// walIndexVersion is the iVersion SQLite writes into the header since
// 3.7.0 (WALINDEX_MAX_VERSION); anything else is a format we do not know.
const walIndexVersion = 3007000

// errNotWAL means the inventory has no WAL index to watch.
var errNotWAL = errors.New("no WAL index (the inventory is not in WAL mode or no connection has it open)")

// GenerationQuery reads the inventory's generation: a number that changes
// with every commit that changes what a DHCP, TFTP or HTTP answer is made
// of, from node-switch or from a hand-run sqlite3, and with no other (the
// triggers of migration 2 keep it). A reader that cached those tables
// compares it, prepared on a connection of its own, after its Commits
// Stamp moved.
const GenerationQuery = "SELECT n FROM generation"

// Generation reads the generation (see GenerationQuery).
func (s *Store) Generation(ctx context.Context) (int64, error) {
	var g int64
	if err := s.db.QueryRowContext(ctx, GenerationQuery).Scan(&g); err != nil {
		return 0, fmt.Errorf("inventory %s: read generation: %w", s.path, err)
	}
	return g, nil
}

// WatchCommits maps the inventory's WAL index read-only. The store must
// have been used at least once (Open does), so that SQLite created it.
func (s *Store) WatchCommits() (*Commits, error) {
	c, err := watchCommits(s.path + "-shm")
	if err != nil {
		return nil, fmt.Errorf("watch commits to %s: %w", s.path, err)
	}
	return c, nil
}

func watchCommits(shm string) (*Commits, error) {
	f, err := os.Open(shm)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNotWAL
	}
	if err != nil {
		return nil, err
	}
	defer f.Close() // the mapping outlives the descriptor
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() < 8*walHeaderWords*2 {
		return nil, errNotWAL
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, 8*walHeaderWords, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", shm, err)
	}
	c := &Commits{path: shm, mem: mem}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		c.dev, c.ino = uint64(st.Dev), st.Ino
	}
	// iVersion is native-endian u32 at offset 0; isInit is byte 12.
	if v, init := atomic.LoadUint32((*uint32)(unsafe.Pointer(&mem[0]))), mem[12]; v != walIndexVersion || init != 1 {
		c.Close()
		return nil, fmt.Errorf("%s: WAL-index header version %d, initialised %d: %w", shm, v, init, errNotWAL)
	}
	return c, nil
}

// Stamp reads the header. A read that races a commit may see a mix of old
// and new words; the mix differs from the old Stamp, so the caller looks
// again, which is the safe direction.
func (c *Commits) Stamp() Stamp {
	var s Stamp
	for i := range s {
		s[i] = atomic.LoadUint64((*uint64)(unsafe.Pointer(&c.mem[8*i])))
	}
	return s
}

// Stale reports whether the file mapped is no longer the inventory's -shm
// (every connection closed and SQLite replaced it); the caller should
// watch again.
func (c *Commits) Stale() bool {
	var st unix.Stat_t
	if err := unix.Stat(c.path, &st); err != nil {
		return true
	}
	return uint64(st.Dev) != c.dev || st.Ino != c.ino
}

// Close unmaps the header.
func (c *Commits) Close() error {
	if c.mem == nil {
		return nil
	}
	err := unix.Munmap(c.mem)
	c.mem = nil
	return err
}
