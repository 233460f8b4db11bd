package assets

import (
	"bytes"
	"fmt"
	"sort"
)

// cpioEntry is one member of an initramfs archive.
type cpioEntry struct {
	Name         string // without leading slash
	Mode         uint32 // file type bits | permissions
	Data         []byte // file contents or symlink target
	Major, Minor uint32 // device nodes
}

const (
	modeDir  = 0o040000
	modeReg  = 0o100000
	modeChr  = 0o020000
	modeLink = 0o120000
)

// newcArchive writes entries in the "newc" format the kernel unpacks as an
// initramfs. Written here rather than with cpio(1) so the archive is the same
// bytes on every machine (fixed mtime, sorted names): the cache key and the
// dnsmasq-vs-node-switch comparison both rely on identical files.
func newcArchive(entries []cpioEntry) []byte {
	sorted := append([]cpioEntry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var b bytes.Buffer
	ino := uint32(1)
	write := func(e cpioEntry) {
		nlink := uint32(1)
		if e.Mode&0o170000 == modeDir {
			nlink = 2
		}
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, e.Mode, 0, 0, nlink, 0, len(e.Data), 0, 0, e.Major, e.Minor, len(e.Name)+1, 0)
		ino++
		b.WriteString(e.Name)
		b.WriteByte(0)
		pad4(&b)
		b.Write(e.Data)
		pad4(&b)
	}
	for _, e := range sorted {
		write(e)
	}
	write(cpioEntry{Name: "TRAILER!!!"})
	return b.Bytes()
}

func pad4(b *bytes.Buffer) {
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
}
