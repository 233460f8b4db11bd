// Package bootroot fills a boot root with the boot loaders of the
// distribution's packages (node-switch ships no binaries): pxelinux for
// BIOS, GRUB EFI network images for x86-64 and ARM64 UEFI, the signed Secure Boot chain
// (shim -> signed GRUB), iPXE and syslinux.efi when installed.
package bootroot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/node-switch/node-switch/bootprofiles"
)

// GRUBModules go into grubx64.efi and grubaa64.efi: enough for TFTP and HTTP, Linux, chain
// loading the Windows boot manager, returning to the firmware and the
// config search by MAC/IP. A fixed image avoids depending on modules being
// fetched over the network at boot.
var GRUBModules = []string{
	"efinet", "net", "tftp", "http", "normal", "configfile", "linux", "chain", "echo", "minicmd",
	"part_gpt", "part_msdos", "fat", "search", "search_fs_file", "search_fs_uuid", "search_label",
	"regexp", "test", "gzio", "serial", "terminal", "sleep", "reboot", "halt", "efi_gop",
}

// GRUBPrefix is where the GRUB images look for grub.cfg-01-<mac> and friends
// on the TFTP server.
const GRUBPrefix = "/grub"

type file struct {
	src, dst, pkg string
	optional      bool
}

var files = []file{
	{src: "usr/lib/PXELINUX/pxelinux.0", dst: "pxelinux.0", pkg: "pxelinux"},
	{src: "usr/lib/PXELINUX/lpxelinux.0", dst: "lpxelinux.0", pkg: "pxelinux"},
	{src: "usr/lib/syslinux/modules/bios/ldlinux.c32", dst: "ldlinux.c32", pkg: "syslinux-common"},
	{src: "usr/lib/syslinux/modules/bios/chain.c32", dst: "chain.c32", pkg: "syslinux-common"},
	{src: "usr/lib/syslinux/modules/bios/libcom32.c32", dst: "libcom32.c32", pkg: "syslinux-common"},
	{src: "usr/lib/syslinux/modules/bios/libutil.c32", dst: "libutil.c32", pkg: "syslinux-common"},
	{src: "usr/lib/syslinux/modules/bios/menu.c32", dst: "menu.c32", pkg: "syslinux-common"},
	{src: "usr/lib/SYSLINUX.EFI/efi64/syslinux.efi", dst: "syslinux.efi", pkg: "syslinux-efi", optional: true},
	{src: "usr/lib/syslinux/modules/efi64/ldlinux.e64", dst: "ldlinux.e64", pkg: "syslinux-efi", optional: true},
	{src: "usr/lib/ipxe/undionly.kpxe", dst: "undionly.kpxe", pkg: "ipxe", optional: true},
	{src: "usr/lib/ipxe/ipxe.efi", dst: "ipxe.efi", pkg: "ipxe", optional: true},
	{src: "usr/lib/ipxe/snponly.efi", dst: "snponly.efi", pkg: "ipxe", optional: true},
}

// signedX64 is Debian's Secure Boot chain: shim, signed by Microsoft's
// UEFI CA (which firmware with stock keys trusts), its MOK manager, and the
// network GRUB signed by Debian (which shim trusts). shim is installed last:
// bootprofiles.DetectLoaders takes shim's presence (with GRUB's) to mean the
// chain is complete.
var signedX64 = []file{
	{src: "usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed", dst: bootprofiles.SignedGRUBX64, pkg: "grub-efi-amd64-signed"},
	{src: "usr/lib/shim/mmx64.efi.signed", dst: bootprofiles.SignedDir + "/mmx64.efi", pkg: "shim-signed"},
	{src: "usr/lib/shim/shimx64.efi.signed", dst: bootprofiles.SignedShimX64, pkg: "shim-signed"},
}

const grubDir = "usr/lib/grub/x86_64-efi"

// Options for Init.
type Options struct {
	// Source is the file system root the packages are installed under
	// ("/" normally; tests use a fake tree).
	Source string
	// MkImage is the grub-mkimage program (default: found on PATH).
	MkImage string
	// Warn receives notes about optional packages that are missing.
	Warn io.Writer
}

// MissingError names the packages to install.
type MissingError struct{ Packages []string }

func (e *MissingError) Error() string {
	return fmt.Sprintf("boot loaders missing: apt-get install %s", strings.Join(e.Packages, " "))
}

// Init fills dir (created if needed). Files already there are replaced, so
// running it again after a package upgrade refreshes the boot loaders;
// kernels and anything else of the site's are left alone.
func Init(dir string, o Options) ([]string, error) {
	if o.Source == "" {
		o.Source = "/"
	}
	if o.Warn == nil {
		o.Warn = io.Discard
	}
	var missing []string
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(o.Source, f.src)); err != nil && !f.optional && !slices.Contains(missing, f.pkg) {
			missing = append(missing, f.pkg)
		}
	}
	if _, err := os.Stat(filepath.Join(o.Source, grubDir, "efinet.mod")); err != nil {
		missing = append(missing, "grub-efi-amd64-bin")
	}
	mkimage := o.MkImage
	if mkimage == "" {
		p, err := exec.LookPath("grub-mkimage")
		if err != nil {
			missing = append(missing, "grub-common")
		}
		mkimage = p
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("bootroot init %s: %w", dir, &MissingError{Packages: missing})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bootroot init: %w", err)
	}
	var done []string
	warned := map[string]bool{}
	for _, f := range files {
		src := filepath.Join(o.Source, f.src)
		if _, err := os.Stat(src); err != nil {
			if !warned[f.pkg] {
				fmt.Fprintf(o.Warn, "bootroot: %s not installed, skipping its files (apt-get install %s)\n", f.pkg, f.pkg)
				warned[f.pkg] = true
			}
			continue
		}
		if err := copyFile(src, filepath.Join(dir, f.dst)); err != nil {
			return done, fmt.Errorf("bootroot init %s: %s (from %s): %w", dir, f.dst, f.pkg, err)
		}
		done = append(done, f.dst)
	}
	signed, err := installAll(dir, o, signedX64)
	if err != nil {
		return done, err
	}
	done = append(done, signed...)
	built, err := buildGRUB(dir, o.Source, mkimage, grubX64)
	done = append(done, built...)
	if err != nil {
		return done, err
	}
	if _, err := os.Stat(filepath.Join(o.Source, grubARM64.modules, "efinet.mod")); err != nil {
		fmt.Fprintf(o.Warn, "bootroot: %s not installed: ARM64 nodes (option 93 = 11) get no %s (dpkg --add-architecture arm64; apt-get install %s:arm64)\n",
			grubARM64.pkg, grubARM64.image, grubARM64.pkg)
		return done, nil
	}
	built, err = buildGRUB(dir, o.Source, mkimage, grubARM64)
	return append(done, built...), err
}

// grubTarget is one GRUB EFI network image bootroot init builds: the
// same modules, prefix and config search on every architecture.
type grubTarget struct {
	format  string // grub-mkimage -O
	modules string // module directory under Source
	image   string // file in the boot root (bootprofiles' default boot file)
	pkg     string
}

var (
	grubX64   = grubTarget{format: "x86_64-efi", modules: grubDir, image: "grubx64.efi", pkg: "grub-efi-amd64-bin"}
	grubARM64 = grubTarget{format: "arm64-efi", modules: "usr/lib/grub/arm64-efi", image: "grubaa64.efi", pkg: "grub-efi-arm64-bin"}
)

// buildGRUB copies g's module directory and builds its image.
func buildGRUB(dir, source, mkimage string, g grubTarget) ([]string, error) {
	var done []string
	// The module directory lets a site's template insmod anything the
	// image does not embed.
	rel := filepath.Join(strings.TrimPrefix(GRUBPrefix, "/"), g.format)
	if err := copyDir(filepath.Join(source, g.modules), filepath.Join(dir, rel)); err != nil {
		return done, fmt.Errorf("bootroot init %s: GRUB modules (%s): %w", dir, g.format, err)
	}
	done = append(done, rel+"/")
	out := filepath.Join(dir, g.image)
	args := append([]string{"-O", g.format, "-d", filepath.Join(source, g.modules), "-p", GRUBPrefix, "-o", out + ".tmp"}, GRUBModules...)
	var stderr bytes.Buffer
	cmd := exec.Command(mkimage, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		os.Remove(out + ".tmp")
		return done, fmt.Errorf("bootroot init %s: grub-mkimage -O %s: %w: %s", dir, g.format, err, strings.TrimSpace(stderr.String()))
	}
	if err := os.Rename(out+".tmp", out); err != nil {
		return done, fmt.Errorf("bootroot init %s: %w", dir, err)
	}
	return append(done, g.image), nil
}

// installAll copies a chain whose parts only work together: all of them,
// or none with a note naming the missing packages.
func installAll(dir string, o Options, chain []file) ([]string, error) {
	var missing []string
	for _, f := range chain {
		if _, err := os.Stat(filepath.Join(o.Source, f.src)); err != nil && !slices.Contains(missing, f.pkg) {
			missing = append(missing, f.pkg)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(o.Warn, "bootroot: Secure Boot chain not installed: UEFI nodes get the unsigned grubx64.efi (apt-get install %s)\n",
			strings.Join(missing, " "))
		return nil, nil
	}
	var done []string
	for _, f := range chain {
		dst := filepath.Join(dir, filepath.FromSlash(f.dst))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return done, fmt.Errorf("bootroot init %s: %w", dir, err)
		}
		if err := copyFile(filepath.Join(o.Source, f.src), dst); err != nil {
			return done, fmt.Errorf("bootroot init %s: %s (from %s): %w", dir, f.dst, f.pkg, err)
		}
		done = append(done, f.dst)
	}
	return done, nil
}

// copyFile writes dst through a temporary name so a node booting during a
// refresh never reads half a boot loader.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

func copyDir(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if n := e.Name(); strings.HasSuffix(n, ".mod") || strings.HasSuffix(n, ".lst") {
			if err := copyFile(filepath.Join(src, n), filepath.Join(dst, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// IsMissing reports whether err is about packages that are not installed.
func IsMissing(err error) bool {
	var m *MissingError
	return errors.As(err, &m)
}
