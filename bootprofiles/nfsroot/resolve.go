package nfsroot

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
)

// File types as NFSv3 reports them (ftype3).
const (
	typeReg = 1
	typeDir = 2
	typeLnk = 5
)

// attr is what the checks need to know about one file of the export.
type attr struct {
	Type uint32
	Mode uint32 // permission bits only: go-nfs-client's Mode() lacks the type bits
	FH   []byte
}

// tree is the export as the checks see it. Paths given to lookup are
// absolute within the export and free of symlinks; resolve makes them so.
type tree interface {
	lookup(p string) (attr, error)
	readlink(fh []byte) (string, error)
}

// maxLinks bounds symlink chains the way the kernel does (ELOOP after 40).
const maxLinks = 40

// missingError says which path of the export does not exist, with the
// symlinks followed to get there.
type missingError struct {
	Path  string
	Links []string
}

func (e *missingError) Error() string {
	if len(e.Links) == 0 {
		return e.Path + " does not exist"
	}
	return fmt.Sprintf("%s does not exist (via %s)", e.Path, strings.Join(e.Links, ", "))
}

func (e *missingError) Unwrap() error { return os.ErrNotExist }

// resolve follows p component by component the way the booted node will
// see it: symlinks are resolved inside the export, an absolute target
// starts again at the export's root and ".." stops at that root, because
// on the diskless node the export is "/".
func resolve(t tree, p string) (resolved string, a attr, links []string, err error) {
	todo := splitPath(p)
	cur := "/"
	a = attr{Type: typeDir}
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case ".":
			continue
		case "..":
			cur = path.Dir(cur)
			a = attr{Type: typeDir}
			continue
		}
		if a.Type != typeDir {
			return "", attr{}, links, fmt.Errorf("%s is not a directory", cur)
		}
		next := path.Join(cur, name)
		na, err := t.lookup(next)
		if errors.Is(err, os.ErrNotExist) {
			return "", attr{}, links, &missingError{Path: next, Links: links}
		}
		if err != nil {
			return "", attr{}, links, fmt.Errorf("look up %s: %w", next, err)
		}
		if na.Type == typeLnk {
			if len(links) >= maxLinks {
				return "", attr{}, links, fmt.Errorf("too many levels of symbolic links at %s", next)
			}
			target, err := t.readlink(na.FH)
			if err != nil {
				return "", attr{}, links, fmt.Errorf("read symlink %s: %w", next, err)
			}
			links = append(links, next+" -> "+target)
			if strings.HasPrefix(target, "/") {
				cur = "/"
				a = attr{Type: typeDir}
			}
			todo = append(splitPath(target), todo...)
			continue
		}
		cur, a = next, na
	}
	return cur, a, links, nil
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
