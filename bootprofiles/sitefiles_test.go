package bootprofiles

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/node-switch/node-switch/nodes"
)

func TestSiteConfigNames(t *testing.T) {
	n := nodes.Node{Name: "umu20", MAC: "00:18:f3:4e:5d:39", IP: netip.MustParseAddr("192.168.1.20")}
	cases := []struct {
		dir  string
		fw   Firmware
		want []string
	}{
		{"um64_linux", BIOS, []string{"um64_linux/pxelinux.cfg/01-00-18-f3-4e-5d-39",
			"um64_linux/pxelinux.cfg/C0A80114", "um64_linux/pxelinux.cfg/C0A8011", "um64_linux/pxelinux.cfg/C0A801",
			"um64_linux/pxelinux.cfg/C0A80", "um64_linux/pxelinux.cfg/C0A8", "um64_linux/pxelinux.cfg/C0A",
			"um64_linux/pxelinux.cfg/C0", "um64_linux/pxelinux.cfg/C", "um64_linux/pxelinux.cfg/default"}},
		{".", BIOS, []string{"pxelinux.cfg/01-00-18-f3-4e-5d-39", "pxelinux.cfg/C0A80114", "pxelinux.cfg/C0A8011",
			"pxelinux.cfg/C0A801", "pxelinux.cfg/C0A80", "pxelinux.cfg/C0A8", "pxelinux.cfg/C0A", "pxelinux.cfg/C0",
			"pxelinux.cfg/C", "pxelinux.cfg/default"}},
		{"um64_linux/grub", UEFI, []string{"um64_linux/grub/grub.cfg-01-00-18-f3-4e-5d-39",
			"um64_linux/grub/grub.cfg-C0A80114", "um64_linux/grub/grub.cfg-C0A8011", "um64_linux/grub/grub.cfg-C0A801",
			"um64_linux/grub/grub.cfg-C0A80", "um64_linux/grub/grub.cfg-C0A8", "um64_linux/grub/grub.cfg-C0A",
			"um64_linux/grub/grub.cfg-C0", "um64_linux/grub/grub.cfg-C", "um64_linux/grub/grub.cfg"}},
		{".", UEFI, []string{"grub.cfg-01-00-18-f3-4e-5d-39", "grub.cfg-C0A80114", "grub.cfg-C0A8011", "grub.cfg-C0A801",
			"grub.cfg-C0A80", "grub.cfg-C0A8", "grub.cfg-C0A", "grub.cfg-C0", "grub.cfg-C", "grub.cfg"}},
	}
	for _, c := range cases {
		t.Run(c.dir+" "+string(c.fw), func(t *testing.T) {
			got := SiteConfigNames(nodes.Profile{Kind: nodes.KindFiles, FilesDir: c.dir}, n, c.fw)
			if !slices.Equal(got, c.want) {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestSiteFilesBootFileAndCheck(t *testing.T) {
	p := nodes.Profile{Name: "um64_linux", Kind: nodes.KindFiles, FilesDir: "um64_linux"}
	for _, c := range []struct {
		key, want string
		ok        bool
	}{
		{nodes.BootBIOS, "um64_linux/pxelinux.0", true},
		{nodes.BootUEFI, "um64_linux/grubx64.efi", true},
	} {
		if f, ok := BootFile(p, c.key, false); f != c.want || ok != c.ok {
			t.Errorf("BootFile(%s) = %q, %v; want %q, %v", c.key, f, ok, c.want, c.ok)
		}
	}
	if _, err := Render(SampleInput(p, BIOS)); !errors.Is(err, ErrSiteFiles) {
		t.Errorf("Render of kind files: %v, want ErrSiteFiles", err)
	}
	root := t.TempDir()
	if err := Check(p, root); !errors.Is(err, ErrMissingFile) {
		t.Errorf("Check without any config: %v, want ErrMissingFile", err)
	}
	for _, f := range []string{"um64_linux/grub.cfg", "um64_linux/pxelinux.cfg/default"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := Check(p, root); err != nil {
			t.Errorf("Check with %s: %v", f, err)
		}
		os.Remove(filepath.Join(root, f))
	}
}
