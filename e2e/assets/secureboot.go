package assets

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Debian's signed boot loaders (shim-signed, grub-efi-amd64-signed).
const (
	SignedShimX64 = "/usr/lib/shim/shimx64.efi.signed"
	// SignedGRUBX64 is the signed GRUB for a disk: prefix /EFI/debian on
	// the partition it was loaded from.
	SignedGRUBX64 = "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"
)

// SecureBootESPDisk is ESPDisk for a machine with Secure Boot enforcing:
// the stand-in loaders must pass the firmware's check, so each is Debian's
// shim (signed by Microsoft's UEFI CA) with Debian's signed GRUB beside it,
// at ESPWindowsLoader (what GRUB's "chainload" method loads) and at
// ESPFallbackLoader (where the firmware's disk entry goes). Both GRUBs read
// /EFI/debian/grub.cfg, which prints the Windows-UEFI marker naming the
// directory the chain was loaded from ($cmdpath), then halts.
func SecureBootESPDisk() (string, error) {
	for _, p := range []struct{ file, pkg string }{
		{SignedShimX64, "shim-signed"}, {SignedGRUBX64, "grub-efi-amd64-signed"},
	} {
		if !exists(p.file) {
			return "", fmt.Errorf("secure boot ESP disk: no %s (apt-get install %s)", p.file, p.pkg)
		}
	}
	for _, p := range []struct{ prog, pkg string }{{"mkfs.vfat", "dosfstools"}, {"mcopy", "mtools"}, {"mmd", "mtools"}} {
		if _, err := exec.LookPath(p.prog); err != nil {
			return "", fmt.Errorf("secure boot ESP disk: %s not found (apt-get install %s)", p.prog, p.pkg)
		}
	}
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	shim, err := os.ReadFile(SignedShimX64)
	if err != nil {
		return "", err
	}
	grub, err := os.ReadFile(SignedGRUBX64)
	if err != nil {
		return "", err
	}
	cfg := secureBootESPConfig()
	path := filepath.Join(dir, "esp-sb-disk-"+contentKey(shim, grub, []byte(cfg), []byte("esp-sb-v1"))+".img")
	if exists(path) {
		return path, nil
	}
	unlock, err := lockCache(dir)
	if err != nil {
		return "", err
	}
	defer unlock()
	if exists(path) {
		return path, nil
	}
	work, err := os.MkdirTemp(dir, ".esp-sb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	part, err := newESP(work, "::/EFI/debian")
	if err != nil {
		return "", fmt.Errorf("secure boot ESP disk: %w", err)
	}
	cfgFile := filepath.Join(work, "grub.cfg")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		return "", err
	}
	// shim loads grubx64.efi from its own directory.
	copies := [][2]string{
		{SignedShimX64, "::/" + ESPWindowsLoader}, {SignedGRUBX64, "::/EFI/Microsoft/Boot/grubx64.efi"},
		{SignedShimX64, "::/" + ESPFallbackLoader}, {SignedGRUBX64, "::/EFI/BOOT/grubx64.efi"},
		{cfgFile, "::/EFI/debian/grub.cfg"},
	}
	for _, c := range copies {
		if err := run("", "mcopy", "-i", part, c[0], c[1]); err != nil {
			return "", fmt.Errorf("secure boot ESP disk: %w", err)
		}
	}
	return path, writeESPDisk(part, path)
}

// secureBootESPConfig names the loader by the directory GRUB was loaded
// from: (hd0,msdos1)/EFI/Microsoft/Boot for the Windows boot manager's
// place, (hd0,msdos1)/EFI/BOOT for the firmware's fallback.
func secureBootESPConfig() string {
	return "echo \"" + Marker + MarkerWindowsUEFI + " loader=$cmdpath\"\nsleep 1\nhalt\n"
}
