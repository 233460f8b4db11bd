package hooks

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/node-switch/node-switch/nodes"
)

// UnsafeError names a hook, or a directory a hook is reached through, that
// a user other than root and the daemon's own could have written: running
// it would run that user's code as the daemon's user (usually root).
type UnsafeError struct {
	Path  string
	What  string // "hook", "hooks directory", "directory"
	Owner uint32
	Mode  fs.FileMode
	// Why is what is wrong; Fix the command that fixes it.
	Why, Fix string
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("%s %s (owner %s, mode %04o) %s, so another user could run code as %s through it; fix: %s",
		e.What, e.Path, userName(e.Owner), octal(e.Mode), e.Why, userName(uint32(os.Geteuid())), e.Fix)
}

// octal is a mode as chmod takes it, sticky bit included.
func octal(m fs.FileMode) uint32 {
	o := uint32(m.Perm())
	if m&fs.ModeSticky != 0 {
		o |= 0o1000
	}
	return o
}

// userName is "root" or "uid 1000 (alice)" for messages.
func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	u, err := user.LookupId(id)
	if err != nil {
		return "uid " + id
	}
	if uid == 0 {
		return u.Username
	}
	return "uid " + id + " (" + u.Username + ")"
}

// checkSafe refuses hooks that a user other than root or the daemon's own
// could have written or replaced, as OpenSSH's StrictModes does for
// authorized_keys:
//   - the hooks directory must be owned by root or the daemon's user and
//     writable by nobody else, sticky bit or not (whoever can add a file
//     there adds a hook);
//   - so must each hook, after following its symbolic links;
//   - every directory above the hooks directory, and above each hook's real
//     file, must be owned by root or the daemon's user and not writable by
//     group or others unless its sticky bit is set (/tmp): whoever can
//     rename an entry of such a directory can put another tree in place.
func checkSafe(dir string, names []string) error {
	c := checker{seen: map[string]bool{}}
	if err := c.file(dir, "hooks directory"); err != nil {
		return err
	}
	if err := c.above(dir); err != nil {
		return err
	}
	for _, name := range names {
		p := filepath.Join(dir, name)
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return fmt.Errorf("hook %s: %w", p, err)
		}
		if err := c.file(real, "hook"); err != nil {
			return err
		}
		if err := c.above(real); err != nil {
			return err
		}
	}
	return nil
}

type checker struct{ seen map[string]bool }

// file checks a hook or the hooks directory: trusted owner, no group or
// other write bit.
func (c checker) file(p, what string) error {
	st, err := stat(p)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, p, err)
	}
	if e := ownerProblem(p, what, st); e != nil {
		return e
	}
	if st.mode.Perm()&0o022 != 0 {
		return &UnsafeError{Path: p, What: what, Owner: st.uid, Mode: st.mode,
			Why: "is writable by " + nodes.Writers(st.mode), Fix: "chmod go-w " + p}
	}
	return nil
}

// above checks the directories above p, lexically and after resolving
// symbolic links: trusted owner, and group or other write only with the
// sticky bit.
func (c checker) above(p string) error {
	paths := []string{filepath.Clean(p)}
	if real, err := filepath.EvalSymlinks(p); err == nil && real != paths[0] {
		paths = append(paths, real)
	}
	for _, q := range paths {
		for d := filepath.Dir(q); ; d = filepath.Dir(d) {
			if !c.seen[d] {
				c.seen[d] = true
				if err := c.dir(d); err != nil {
					return err
				}
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	return nil
}

func (c checker) dir(d string) error {
	st, err := stat(d)
	if err != nil {
		return fmt.Errorf("directory %s: %w", d, err)
	}
	if e := ownerProblem(d, "directory", st); e != nil {
		return e
	}
	if st.mode.Perm()&0o022 != 0 && st.mode&fs.ModeSticky == 0 {
		return &UnsafeError{Path: d, What: "directory", Owner: st.uid, Mode: st.mode,
			Why: "is writable by " + nodes.Writers(st.mode) + " without the sticky bit", Fix: "chmod go-w " + d}
	}
	return nil
}

type fileStat struct {
	uid  uint32
	mode fs.FileMode
}

func stat(p string) (fileStat, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return fileStat{}, err
	}
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStat{}, fmt.Errorf("no owner known for %s", p)
	}
	return fileStat{uid: sys.Uid, mode: fi.Mode()}, nil
}

func ownerProblem(p, what string, st fileStat) error {
	if st.uid == 0 || int(st.uid) == os.Geteuid() {
		return nil
	}
	self := "root"
	if os.Geteuid() != 0 {
		self = strconv.Itoa(os.Geteuid())
	}
	return &UnsafeError{Path: p, What: what, Owner: st.uid, Mode: st.mode,
		Why: "is owned by " + userName(st.uid) + ", not by root or " + userName(uint32(os.Geteuid())),
		Fix: "chown " + self + " " + p + " (after checking what that user put there)"}
}
