package bootroot

import (
	"bytes"
	"debug/pe"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/bootprofiles"
)

// fakeTree installs the files of the named packages under a temporary root.
func fakeTree(t *testing.T, pkgs ...string) string {
	t.Helper()
	src := t.TempDir()
	want := map[string]bool{}
	for _, p := range pkgs {
		want[p] = true
	}
	write := func(rel string) {
		p := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("fake "+rel), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range append(slices.Clone(files), signedX64...) {
		if want[f.pkg] {
			write(f.src)
		}
	}
	if want["grub-efi-amd64-bin"] {
		write(filepath.Join(grubDir, "efinet.mod"))
		write(filepath.Join(grubDir, "command.lst"))
	}
	if want[grubARM64.pkg] {
		write(filepath.Join(grubARM64.modules, "efinet.mod"))
	}
	return src
}

func TestInitMissingPackages(t *testing.T) {
	cases := []struct {
		name      string
		installed []string
		want      string // "" = success
	}{
		{"nothing", nil, "apt-get install pxelinux syslinux-common grub-efi-amd64-bin"},
		{"no grub", []string{"pxelinux", "syslinux-common"}, "apt-get install grub-efi-amd64-bin"},
		{"no syslinux-common", []string{"pxelinux", "grub-efi-amd64-bin"}, "apt-get install syslinux-common"},
		{"required only", []string{"pxelinux", "syslinux-common", "grub-efi-amd64-bin"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := fakeTree(t, c.installed...)
			dir := filepath.Join(t.TempDir(), "boot")
			var warn bytes.Buffer
			// "true" stands in for grub-mkimage: the fake tree has no real modules.
			_, err := Init(dir, Options{Source: src, MkImage: fakeMkImage(t), Warn: &warn})
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) || !IsMissing(err) {
					t.Fatalf("err = %v, want a missing-package error containing %q", err, c.want)
				}
				if _, statErr := os.Stat(dir); statErr == nil {
					t.Errorf("boot root created although packages are missing")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"pxelinux.0", "ldlinux.c32", "chain.c32", "grubx64.efi", "grub/x86_64-efi/efinet.mod"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("missing %s: %v", f, err)
				}
			}
			if !strings.Contains(warn.String(), "apt-get install ipxe") || !strings.Contains(warn.String(), "apt-get install syslinux-efi") {
				t.Errorf("no warning naming the optional packages: %q", warn.String())
			}
		})
	}
}

// The signed chain goes in whole or not at all: a boot root with shim but
// no signed GRUB (or the reverse) would send Secure Boot nodes to a loader
// that is not there.
func TestInitSignedChain(t *testing.T) {
	required := []string{"pxelinux", "syslinux-common", "grub-efi-amd64-bin"}
	cases := []struct {
		name      string
		installed []string
		signed    bool
		warn      string
	}{
		{"both", []string{"shim-signed", "grub-efi-amd64-signed"}, true, ""},
		{"no signed grub", []string{"shim-signed"}, false, "apt-get install grub-efi-amd64-signed"},
		{"no shim", []string{"grub-efi-amd64-signed"}, false, "apt-get install shim-signed"},
		{"neither", nil, false, "apt-get install grub-efi-amd64-signed shim-signed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := fakeTree(t, append(slices.Clone(required), c.installed...)...)
			dir := filepath.Join(t.TempDir(), "boot")
			var warn bytes.Buffer
			if _, err := Init(dir, Options{Source: src, MkImage: fakeMkImage(t), Warn: &warn}); err != nil {
				t.Fatal(err)
			}
			got := bootprofiles.DetectLoaders(os.DirFS(dir)).SignedX64
			if got != c.signed {
				t.Errorf("signed chain detected = %v, want %v", got, c.signed)
			}
			for _, f := range []string{bootprofiles.SignedShimX64, bootprofiles.SignedGRUBX64, "signed/mmx64.efi"} {
				_, err := os.Stat(filepath.Join(dir, f))
				if (err == nil) != c.signed {
					t.Errorf("%s present = %v, want %v", f, err == nil, c.signed)
				}
			}
			if c.warn != "" && !strings.Contains(warn.String(), c.warn) {
				t.Errorf("warning %q does not say %q", warn.String(), c.warn)
			}
			if c.warn == "" && strings.Contains(warn.String(), "Secure Boot") {
				t.Errorf("warned although the chain is installed: %q", warn.String())
			}
		})
	}
}

// The ARM64 GRUB is optional: built (with its module directory) when
// grub-efi-arm64-bin is installed, otherwise a note says how to get it.
func TestInitARM64(t *testing.T) {
	required := []string{"pxelinux", "syslinux-common", "grub-efi-amd64-bin"}
	for _, c := range []struct {
		name      string
		installed []string
		built     bool
	}{
		{"installed", []string{"grub-efi-arm64-bin"}, true},
		{"not installed", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := fakeTree(t, append(slices.Clone(required), c.installed...)...)
			dir := filepath.Join(t.TempDir(), "boot")
			var warn bytes.Buffer
			done, err := Init(dir, Options{Source: src, MkImage: fakeMkImage(t), Warn: &warn})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"grubaa64.efi", "grub/arm64-efi/efinet.mod"} {
				_, err := os.Stat(filepath.Join(dir, f))
				if (err == nil) != c.built {
					t.Errorf("%s present = %v, want %v", f, err == nil, c.built)
				}
			}
			if slices.Contains(done, "grubaa64.efi") != c.built {
				t.Errorf("installed list %v: grubaa64.efi listed = %v, want %v", done, !c.built, c.built)
			}
			noted := strings.Contains(warn.String(), "apt-get install grub-efi-arm64-bin:arm64")
			if noted == c.built {
				t.Errorf("note about grub-efi-arm64-bin = %v with the package installed = %v: %q", noted, c.built, warn.String())
			}
		})
	}
}

// fakeMkImage writes a script that creates its -o argument.
func fakeMkImage(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "grub-mkimage")
	script := "#!/bin/sh\nwhile [ $# -gt 0 ]; do if [ \"$1\" = -o ]; then echo grub > \"$2\"; fi; shift; done\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// With the real packages installed, the GRUB image is built for real.
func TestInitReal(t *testing.T) {
	if _, err := exec.LookPath("grub-mkimage"); err != nil {
		t.Skip("needs grub-mkimage (apt-get install grub-common grub-efi-amd64-bin pxelinux syslinux-common)")
	}
	dir := filepath.Join(t.TempDir(), "boot")
	done, err := Init(dir, Options{})
	if IsMissing(err) {
		t.Skipf("packages missing: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(filepath.Join(dir, "grubx64.efi"))
	if err != nil {
		t.Fatal(err)
	}
	if len(img) < 2 || string(img[:2]) != "MZ" {
		t.Errorf("grubx64.efi is not a PE image")
	}
	// The prefix is baked into the image; GRUB asks for its configs there.
	if !bytes.Contains(img, []byte(GRUBPrefix)) {
		t.Errorf("grubx64.efi does not carry prefix %s", GRUBPrefix)
	}
	if _, err := os.Stat("/usr/lib/shim/shimx64.efi.signed"); err == nil {
		shim, _ := os.ReadFile(filepath.Join(dir, bootprofiles.SignedShimX64))
		if len(shim) < 2 || string(shim[:2]) != "MZ" {
			t.Errorf("%s is not a PE image", bootprofiles.SignedShimX64)
		}
	}
	if _, err := os.Stat(filepath.Join("/", grubARM64.modules, "efinet.mod")); err == nil {
		f, err := pe.Open(filepath.Join(dir, "grubaa64.efi"))
		if err != nil {
			t.Fatalf("grubaa64.efi: %v", err)
		}
		if f.Machine != pe.IMAGE_FILE_MACHINE_ARM64 {
			t.Errorf("grubaa64.efi is for machine %#x, want ARM64", f.Machine)
		}
		f.Close()
	}
	orig, _ := os.ReadFile("/usr/lib/PXELINUX/pxelinux.0")
	got, _ := os.ReadFile(filepath.Join(dir, "pxelinux.0"))
	if !bytes.Equal(orig, got) {
		t.Errorf("pxelinux.0 differs from the package's")
	}
	t.Logf("installed %v", done)
}
