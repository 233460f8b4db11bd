package assets

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BIOSDiskMBR returns a boot sector that writes msg to COM1 and then writes
// to QEMU's isa-debug-exit port, so the VM exits once the "Windows" on its
// local disk has shown it was booted. 16-bit code:
//
//	cli; xor ax,ax; mov ds,ax; mov si,msg; mov dx,0x3f8
//	l: lodsb; test al,al; jz d; out dx,al; jmp l
//	d: mov al,1; out 0xf4,al; h: hlt; jmp h
func BIOSDiskMBR(msg string) ([]byte, error) {
	code := []byte{
		0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0xbe, 0x1a, 0x7c, 0xba, 0xf8, 0x03,
		0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8,
		0xb0, 0x01, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd,
	}
	// mov si,0x7c1a above points just past the code: keep them in step.
	if len(code) != 0x1a {
		return nil, fmt.Errorf("MBR code is %d bytes, message offset assumes 26", len(code))
	}
	text := "\r\n" + msg + "\r\n\x00"
	if len(code)+len(text) > 446 {
		return nil, fmt.Errorf("MBR message %q too long", msg)
	}
	mbr := make([]byte, 512)
	copy(mbr, code)
	copy(mbr[len(code):], text)
	mbr[510], mbr[511] = 0x55, 0xaa
	return mbr, nil
}

// BIOSDisk returns the path of a cached 1 MiB raw disk whose MBR prints the
// Windows-BIOS marker: the local disk a localdisk profile must reach.
func BIOSDisk() (string, error) {
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	mbr, err := BIOSDiskMBR(Marker + MarkerWindowsBIOS)
	if err != nil {
		return "", err
	}
	img := make([]byte, 1<<20)
	copy(img, mbr)
	path := filepath.Join(dir, "bios-disk-"+contentKey(img)+".img")
	if exists(path) {
		return path, nil
	}
	return path, writeFileAtomic(path, img, 0o644)
}

// Paths on the stand-in ESP. bootmgfw.efi is where a UEFI Windows boot
// manager lives (GRUB's "chainload" local-boot method looks for it);
// BOOTX64.EFI is the removable-media fallback OVMF boots when the network
// boot entry gives up (the "none"/"exit" methods).
const (
	ESPWindowsLoader  = "EFI/Microsoft/Boot/bootmgfw.efi"
	ESPFallbackLoader = "EFI/BOOT/BOOTX64.EFI"
)

// espPartitionStart is the first sector of the ESP: 1 MiB, as partitioning
// tools align it.
const espPartitionStart = 2048

// ESPDisk returns the path of a cached raw disk with an MBR partition table
// and one EFI system partition (type 0xEF, FAT) holding GRUB standalone
// images at ESPWindowsLoader and ESPFallbackLoader. Each prints the
// Windows-UEFI marker naming its own file, then powers the VM off. Built with
// grub-mkstandalone (grub-efi-amd64-bin), mkfs.vfat (dosfstools) and mtools.
func ESPDisk() (string, error) {
	return espDisk("x86_64-efi", "esp-disk-", ESPWindowsLoader, ESPFallbackLoader)
}

// espDisk builds an ESP disk of GRUB standalone images for format
// (grub-mkstandalone -O) at the loaders' paths, cached under prefix.
func espDisk(format, prefix string, loaders ...string) (string, error) {
	for _, p := range []struct{ prog, pkg string }{
		{"grub-mkstandalone", "grub-common"}, {"mkfs.vfat", "dosfstools"}, {"mcopy", "mtools"}, {"mmd", "mtools"},
	} {
		if _, err := exec.LookPath(p.prog); err != nil {
			return "", fmt.Errorf("ESP disk: %s not found (apt-get install %s)", p.prog, p.pkg)
		}
	}
	modinfo := "/usr/lib/grub/" + format + "/modinfo.sh"
	if !exists(modinfo) {
		pkg := map[string]string{"x86_64-efi": "grub-efi-amd64-bin", "arm64-efi": "grub-efi-arm64-bin:arm64"}[format]
		return "", fmt.Errorf("ESP disk: no GRUB %s modules (apt-get install %s)", format, pkg)
	}
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	grubVersion, _ := os.ReadFile(modinfo)
	key := contentKey([]byte(espConfig("x")), grubVersion, []byte("esp-v1"))
	path := filepath.Join(dir, prefix+key+".img")
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
	work, err := os.MkdirTemp(dir, ".esp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)

	part, err := newESP(work)
	if err != nil {
		return "", fmt.Errorf("ESP disk: %w", err)
	}
	for _, loader := range loaders {
		cfg := filepath.Join(work, "grub.cfg")
		if err := os.WriteFile(cfg, []byte(espConfig(filepath.Base(loader))), 0o644); err != nil {
			return "", err
		}
		efi := filepath.Join(work, filepath.Base(loader))
		if err := run("", "grub-mkstandalone", "-O", format, "-o", efi,
			"--locales=", "--fonts=", "--themes=", "boot/grub/grub.cfg="+cfg); err != nil {
			return "", fmt.Errorf("ESP disk: %w", err)
		}
		if err := run("", "mcopy", "-i", part, efi, "::/"+loader); err != nil {
			return "", fmt.Errorf("ESP disk: %w", err)
		}
	}
	return path, writeESPDisk(part, path)
}

// newESP makes an empty 32 MiB FAT partition image in work with the
// directories of an EFI system partition (EFI/BOOT, the Windows boot
// manager's EFI/Microsoft/Boot, and any more given).
func newESP(work string, more ...string) (string, error) {
	part := filepath.Join(work, "esp.fat")
	const partKiB = 32 << 10
	if err := run("", "mkfs.vfat", "-C", "-n", "ESP", part, fmt.Sprint(partKiB)); err != nil {
		return "", err
	}
	for _, d := range append([]string{"::/EFI", "::/EFI/BOOT", "::/EFI/Microsoft", "::/EFI/Microsoft/Boot"}, more...) {
		if err := run("", "mmd", "-i", part, d); err != nil {
			return "", err
		}
	}
	return part, nil
}

// writeESPDisk writes a disk image to path: an MBR whose one partition is
// the FAT image part, as an EFI system partition.
func writeESPDisk(part, path string) error {
	fat, err := os.ReadFile(part)
	if err != nil {
		return err
	}
	img := make([]byte, espPartitionStart*512+len(fat))
	copy(img[espPartitionStart*512:], fat)
	copy(img, mbrPartitionTable(0xef, espPartitionStart, uint32(len(fat)/512)))
	return writeFileAtomic(path, img, 0o644)
}

// espConfig is the embedded grub.cfg of a stand-in loader.
func espConfig(file string) string {
	return "echo \"" + Marker + MarkerWindowsUEFI + " loader=" + file + "\"\nsleep 1\nhalt\n"
}

// mbrPartitionTable returns a sector with no boot code and one primary
// partition; the CHS fields say "use LBA", as for any modern disk.
func mbrPartitionTable(typ byte, start, sectors uint32) []byte {
	mbr := make([]byte, 512)
	e := mbr[446:462]
	e[0] = 0x00
	copy(e[1:4], []byte{0xfe, 0xff, 0xff})
	e[4] = typ
	copy(e[5:8], []byte{0xfe, 0xff, 0xff})
	binary.LittleEndian.PutUint32(e[8:12], start)
	binary.LittleEndian.PutUint32(e[12:16], sectors)
	mbr[510], mbr[511] = 0x55, 0xaa
	return mbr
}

func run(dir, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// mtools refuses images it thinks belong to a floppy geometry it cannot
	// verify; this is the documented switch for image files.
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}
