package dhcpdconf

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// SiteConfigs is what a group's boot-file directory holds of the site's own
// boot loader configs: what the group's nodes booted before the import.
type SiteConfigs struct {
	Loader string // "pxelinux" or "grub", by the boot file's name
	// Dir is the directory (under the boot root) a profile of kind files
	// serves them from: the boot file's own for pxelinux (its configs are
	// in Dir/pxelinux.cfg/), the one holding grub.cfg for GRUB.
	Dir     string
	Default string   // Dir/pxelinux.cfg/default or Dir/grub.cfg, "" if absent
	PerNode []string // per-node names (01-<mac>, hex IP), sorted
}

// Found says whether there is anything to serve.
func (s SiteConfigs) Found() bool { return s.Default != "" || len(s.PerNode) > 0 }

func (s SiteConfigs) String() string {
	var parts []string
	if s.Default != "" {
		parts = append(parts, s.Default)
	}
	switch len(s.PerNode) {
	case 0:
	case 1:
		parts = append(parts, "1 per-node file ("+s.PerNode[0]+")")
	default:
		parts = append(parts, fmt.Sprintf("%d per-node files (%s ...)", len(s.PerNode), s.PerNode[0]))
	}
	return strings.Join(parts, " and ")
}

// loaderOf tells GRUB from pxelinux by the boot file's name: an EFI image
// other than syslinux.efi is GRUB (grubx64.efi, grubnetx64.efi, shim's
// bootx64.efi), anything else pxelinux (pxelinux.0, lpxelinux.0 ...).
func loaderOf(bootFile string) string {
	b := strings.ToLower(path.Base(bootFile))
	if strings.HasSuffix(b, ".efi") && !strings.Contains(b, "syslinux") || strings.Contains(b, "grub") {
		return "grub"
	}
	return "pxelinux"
}

// FindSiteConfigs looks in the directory of bootFile under root for the
// configs its boot loader reads, by the names the loader asks for
// (bootprofiles.SiteConfigNames): pxelinux.cfg/default and per-node
// 01-<mac> / hex-IP files for pxelinux; grub.cfg and grub.cfg-<...> for
// GRUB, in that directory or its grub/ subdirectory. A directory that does
// not exist holds nothing; other errors are returned.
func FindSiteConfigs(root fs.FS, bootFile string) (SiteConfigs, error) {
	dir := path.Dir(strings.TrimLeft(bootFile, "/"))
	s := SiteConfigs{Loader: loaderOf(bootFile), Dir: dir}
	if s.Loader == "pxelinux" {
		cfgDir := path.Join(dir, "pxelinux.cfg")
		return s, s.scan(root, cfgDir, "", "default")
	}
	for _, d := range []string{dir, path.Join(dir, "grub")} {
		s.Dir = d
		if err := s.scan(root, d, "grub.cfg-", "grub.cfg"); err != nil || s.Found() {
			return s, err
		}
	}
	s.Dir = dir
	return s, nil
}

// scan fills s from the names in dir: last is the fallback config, prefix
// precedes the per-node part.
func (s *SiteConfigs) scan(root fs.FS, dir, prefix, last string) error {
	ents, err := fs.ReadDir(root, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look for %s: %w", path.Join(dir, last), err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		if name == last {
			s.Default = path.Join(dir, name)
			continue
		}
		if rest, ok := strings.CutPrefix(name, prefix); ok && perNodeName(rest) {
			s.PerNode = append(s.PerNode, path.Join(dir, name))
		}
	}
	sort.Strings(s.PerNode)
	return nil
}

// perNodeName matches what pxelinux and GRUB ask for after their prefix:
// 01-<mac> with dashes, or one to eight upper-case hex digits of the IP.
func perNodeName(s string) bool {
	if rest, ok := strings.CutPrefix(s, "01-"); ok {
		return len(rest) == 17 && strings.Count(rest, "-") == 5
	}
	if len(s) == 0 || len(s) > 8 {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'A' <= r && r <= 'F') {
			return false
		}
	}
	return true
}
