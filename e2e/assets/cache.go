// Package assets builds and caches what the real-firmware e2e tests boot: a
// Debian kernel (and the few modules a diskless boot needs), busybox
// initramfs images that print a marker on the serial console, and disk
// images whose boot code stands in for Windows. Nothing is shipped: every
// asset is made from Debian packages on the test machine, so a clean CI
// runner builds them in well under a minute and later runs reuse the cache.
package assets

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
)

// CacheEnv names a directory that overrides the default cache location.
const CacheEnv = "NODE_SWITCH_E2E_CACHE"

// CacheDir returns the asset cache: $NODE_SWITCH_E2E_CACHE, or e2e/.cache
// under the repository (git-ignored), created if missing.
func CacheDir() (string, error) {
	dir := os.Getenv(CacheEnv)
	if dir == "" {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			return "", fmt.Errorf("asset cache: cannot locate the source tree; set %s", CacheEnv)
		}
		dir = filepath.Join(filepath.Dir(file), "..", ".cache")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("asset cache %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("asset cache %s: %w", dir, err)
	}
	return dir, nil
}

// lockCache serialises builders across test binaries that run at the same
// time (go test runs packages in parallel): two of them writing the same
// 70 MB kernel download would waste minutes, not just bytes.
func lockCache(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("asset cache lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("asset cache lock %s: %w", f.Name(), err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// writeFileAtomic makes a cached file appear whole or not at all, so an
// interrupted build never leaves a truncated image that later runs trust.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// contentKey is a short hash naming a cached file after everything that went
// into it, so changing a builder (or the busybox on the machine) rebuilds.
func contentKey(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
