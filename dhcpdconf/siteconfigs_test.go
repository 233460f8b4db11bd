package dhcpdconf

import (
	"slices"
	"testing"
	"testing/fstest"
)

func TestFindSiteConfigs(t *testing.T) {
	root := fstest.MapFS{
		"um64_linux/pxelinux.0":                        {},
		"um64_linux/pxelinux.cfg/default":              {},
		"um64_linux/pxelinux.cfg/01-00-18-f3-4e-5e-21": {},
		"um64_linux/pxelinux.cfg/C0A80116":             {},
		"um64_linux/pxelinux.cfg/menu.cfg":             {},
		"um64_linux/pxelinux.cfg/c0a80116":             {}, // pxelinux asks upper case
		"perhost/pxelinux.cfg/01-00-18-f3-4e-5e-21":    {},
		"efi/grubx64.efi":                              {},
		"efi/grub/grub.cfg":                            {},
		"efi/grub/grub.cfg-01-00-18-f3-4e-5e-21":       {},
		"efi2/grub.cfg":                                {},
		"bare/pxelinux.0":                              {},
	}
	cases := []struct {
		bootFile string
		want     SiteConfigs
	}{
		{"um64_linux/pxelinux.0", SiteConfigs{Loader: "pxelinux", Dir: "um64_linux", Default: "um64_linux/pxelinux.cfg/default",
			PerNode: []string{"um64_linux/pxelinux.cfg/01-00-18-f3-4e-5e-21", "um64_linux/pxelinux.cfg/C0A80116"}}},
		{"/perhost/lpxelinux.0", SiteConfigs{Loader: "pxelinux", Dir: "perhost", PerNode: []string{"perhost/pxelinux.cfg/01-00-18-f3-4e-5e-21"}}},
		{"efi/grubx64.efi", SiteConfigs{Loader: "grub", Dir: "efi/grub", Default: "efi/grub/grub.cfg",
			PerNode: []string{"efi/grub/grub.cfg-01-00-18-f3-4e-5e-21"}}},
		{"efi2/bootx64.efi", SiteConfigs{Loader: "grub", Dir: "efi2", Default: "efi2/grub.cfg"}},
		{"bare/pxelinux.0", SiteConfigs{Loader: "pxelinux", Dir: "bare"}},
		{"missing/pxelinux.0", SiteConfigs{Loader: "pxelinux", Dir: "missing"}},
	}
	for _, c := range cases {
		t.Run(c.bootFile, func(t *testing.T) {
			got, err := FindSiteConfigs(root, c.bootFile)
			if err != nil {
				t.Fatal(err)
			}
			if got.Loader != c.want.Loader || got.Dir != c.want.Dir || got.Default != c.want.Default || !slices.Equal(got.PerNode, c.want.PerNode) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
			if got.Found() != (c.want.Default != "" || len(c.want.PerNode) > 0) {
				t.Errorf("Found() = %v", got.Found())
			}
		})
	}
}
