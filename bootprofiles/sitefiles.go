package bootprofiles

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"

	"github.com/node-switch/node-switch/nodes"
)

// ErrSiteFiles is returned (wrapped) by Render for a profile of kind files:
// its configs are the site's own files under the boot root, which a pure
// function cannot read; bootfs opens them by SiteConfigNames.
var ErrSiteFiles = errors.New("kind files is served from the boot root, not rendered")

// SiteConfigNames lists, for a node booting a profile of kind files, the
// site's config files under the boot root in the order the boot loader
// itself would look for them, so that the first one present is the one the
// node booted before node-switch:
//
//   - pxelinux: DIR/pxelinux.cfg/01-<mac>, DIR/pxelinux.cfg/<HEX IP> shortened
//     a digit at a time down to one, DIR/pxelinux.cfg/default (UUID names
//     are left out: the inventory keeps no UUIDs);
//   - GRUB (grub_net_search_config_file): DIR/grub.cfg-01-<mac>,
//     DIR/grub.cfg-<HEX IP> shortened the same way, DIR/grub.cfg.
//
// The boot loader's own path prefix (the directory of its boot file for
// pxelinux, $prefix for GRUB) is left as the site set it, so the relative
// names inside the files keep resolving as they did.
func SiteConfigNames(p nodes.Profile, n nodes.Node, fw Firmware) []string {
	mac := "01-" + strings.ReplaceAll(n.MAC, ":", "-")
	var hexIP string
	if n.IP.Is4() {
		hexIP = hexIPOf(n.IP)
	}
	dir, prefix, last := path.Join(p.FilesDir, "pxelinux.cfg")+"/", "", "default"
	if fw == UEFI {
		dir, prefix, last = path.Clean(p.FilesDir)+"/", "grub.cfg-", "grub.cfg"
	}
	if dir == "./" {
		dir = ""
	}
	names := []string{dir + prefix + mac}
	for i := len(hexIP); i > 0; i-- {
		names = append(names, dir+prefix+hexIP[:i])
	}
	return append(names, dir+last)
}

// SiteConfigDir is where SiteConfigNames looks for fw's files, for messages.
func SiteConfigDir(p nodes.Profile, fw Firmware) string {
	if fw == UEFI {
		return path.Clean(p.FilesDir)
	}
	return path.Join(p.FilesDir, "pxelinux.cfg")
}

// hexIPOf is the pxelinux spelling of an address (C0A80114).
func hexIPOf(ip netip.Addr) string {
	a := ip.As4()
	return fmt.Sprintf("%02X%02X%02X%02X", a[0], a[1], a[2], a[3])
}
