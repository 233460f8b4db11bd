package assets

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// ARM64 assets (issue 13): Debian's arm64 kernel and busybox, fetched with
// apt-get download (they need "dpkg --add-architecture arm64" and an
// apt-get update, not an install), and an ESP whose removable-media loader
// is an ARM64 GRUB.

// ESPFallbackLoaderARM64 is the removable-media loader of an ARM64 UEFI
// machine, what AAVMF boots from a disk with no boot entry of its own.
const ESPFallbackLoaderARM64 = "EFI/BOOT/BOOTAA64.EFI"

var arm64KernelRE = regexp.MustCompile(`Depends: (linux-image-([0-9][^\s:]*))`)

// DebianKernelARM64 returns the path of the kernel image (an EFI stub)
// linux-image-arm64 points at, cached by version. Nothing else of the
// package is kept: the marker initramfs needs no modules (the PL011
// console is built in).
func DebianKernelARM64() (string, error) {
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	unlock, err := lockCache(dir)
	if err != nil {
		return "", err
	}
	defer unlock()
	out, aptErr := exec.Command("apt-cache", "depends", "linux-image-arm64:arm64").CombinedOutput()
	m := arm64KernelRE.FindStringSubmatch(string(out))
	if m == nil {
		return "", fmt.Errorf("cannot tell which Debian arm64 kernel to fetch: apt-cache depends linux-image-arm64:arm64: %v: %s (dpkg --add-architecture arm64; apt-get update)",
			aptErr, strings.TrimSpace(string(out)))
	}
	pkg, version := m[1], m[2]
	kdir := filepath.Join(dir, "kernel-"+version)
	vmlinuz := filepath.Join(kdir, "vmlinuz")
	if exists(vmlinuz) {
		return vmlinuz, nil
	}
	if err := extractFromDeb(kdir, pkg+":arm64", "./boot/vmlinuz-"+version, vmlinuz); err != nil {
		return "", err
	}
	return vmlinuz, nil
}

// BusyboxARM64 returns Debian's static arm64 busybox, cached.
func BusyboxARM64() ([]byte, error) {
	dir, err := CacheDir()
	if err != nil {
		return nil, err
	}
	unlock, err := lockCache(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	dst := filepath.Join(dir, "busybox-arm64", "busybox")
	if !exists(dst) {
		if err := extractFromDeb(filepath.Dir(dst), "busybox-static:arm64", "./bin/busybox", dst); err != nil {
			return nil, err
		}
	}
	return os.ReadFile(dst)
}

// extractFromDeb downloads pkg into dir and writes its file name to dst.
func extractFromDeb(dir, pkg, name, dst string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	deb, err := downloadDeb(dir, pkg, io.Discard)
	if err != nil {
		return err
	}
	defer os.Remove(deb)
	found := false
	err = walkDeb(deb, func(n string, r io.Reader) error {
		if n != name {
			return nil
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		found = true
		return writeFileAtomic(dst, data, 0o755)
	})
	if err != nil {
		return fmt.Errorf("extract %s: %w", filepath.Base(deb), err)
	}
	if !found {
		return fmt.Errorf("%s has no %s", filepath.Base(deb), name)
	}
	return nil
}

// MarkerInitramfsARM64 is the marker initramfs with Debian's arm64 busybox,
// printing on the virt machine's PL011 console (ttyAMA0).
func MarkerInitramfsARM64() (string, error) {
	busybox, err := BusyboxARM64()
	if err != nil {
		return "", err
	}
	if !isStaticELF(busybox) {
		return "", fmt.Errorf("initramfs: busybox-static:arm64's busybox is not static")
	}
	return initramfs(nil, busybox, strings.ReplaceAll(initScript, "/dev/ttyS0", "/dev/ttyAMA0"), "-arm64")
}

// ESPDiskARM64 is ESPDisk for ARM64: one ARM64 GRUB standalone image at
// the removable-media path, printing the Windows-UEFI marker naming it.
// Built with grub-mkstandalone and grub-efi-arm64-bin:arm64's modules.
func ESPDiskARM64() (string, error) {
	return espDisk("arm64-efi", "esp-disk-arm64-", ESPFallbackLoaderARM64)
}
