// Package bootfs is the boot root as network boot clients see it, shared by
// the TFTP and HTTP servers: per-node names (pxelinux.cfg/01-<mac>,
// grub.cfg-01-<mac>, ...) are rendered from the inventory at the moment of
// the request, everything else is a file under the boot root opened through
// os.Root so that no name can leave it, and a masked node gets nothing.
package bootfs

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"path/filepath"
	"strings"

	"github.com/node-switch/node-switch/bootprofiles"
	"github.com/node-switch/node-switch/nodes"
)

// Kind says what a requested name is.
type Kind int

const (
	File     Kind = iota // a file under the boot root
	ByMAC                // pxelinux.cfg/01-<mac>, grub.cfg-01-<mac>, ipxe.cfg-01-<mac>
	ByIP                 // pxelinux.cfg/<hex ip>, grub.cfg-<hex ip> (the full 8 digits)
	ByUUID               // pxelinux.cfg/<uuid>: we keep no UUIDs, so never found
	NotFound             // a shortened hex-IP name: only ever "not found"
	Default              // pxelinux.cfg/default, grub.cfg: rendered by source address
)

// Name is a parsed request.
type Name struct {
	Kind     Kind
	Path     string // for File: slash-separated, local (never "..", never absolute)
	MAC      string // for ByMAC: canonical colon form
	IP       netip.Addr
	Firmware bootprofiles.Firmware // for rendered names
}

// ErrBadName is returned (wrapped) for names that can never be served.
var ErrBadName = errors.New("bad file name")

// Parse classifies a name as a TFTP or HTTP client sent it. Boot loaders
// prefix names with their own directory ("um64_linux/pxelinux.cfg/...")
// and GRUB sends absolute paths ("/grub/grub.cfg-01-..."), so per-node
// names are recognised by their last components wherever they are.
func Parse(name string) (Name, error) {
	if strings.ContainsRune(name, 0) {
		return Name{}, fmt.Errorf("%q: %w: NUL byte", name, ErrBadName)
	}
	// Some PXE stacks send DOS separators.
	p := strings.ReplaceAll(name, `\`, "/")
	p = strings.TrimLeft(p, "/")
	// Reject rather than clean: a client asking for "../x" is probing.
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return Name{}, fmt.Errorf("%q: %w: '..' is not allowed", name, ErrBadName)
		}
	}
	p = path.Clean(p)
	if p == "." || p == "" {
		return Name{}, fmt.Errorf("%q: %w: empty", name, ErrBadName)
	}
	if !filepath.IsLocal(p) {
		return Name{}, fmt.Errorf("%q: %w: not a plain relative path", name, ErrBadName)
	}
	dir, base := path.Split(p)
	if dir != "" && path.Base(strings.TrimSuffix(dir, "/")) == "pxelinux.cfg" {
		if base == "default" {
			return Name{Kind: Default, Firmware: bootprofiles.BIOS}, nil
		}
		if n, ok := parseSuffix(base); ok {
			n.Firmware = bootprofiles.BIOS
			return n, nil
		}
	}
	if base == "grub.cfg" {
		return Name{Kind: Default, Firmware: bootprofiles.UEFI}, nil
	}
	if rest, ok := strings.CutPrefix(base, "grub.cfg-"); ok {
		if n, ok := parseSuffix(rest); ok {
			n.Firmware = bootprofiles.UEFI
			return n, nil
		}
	}
	if base == "ipxe.cfg" {
		return Name{Kind: Default, Firmware: bootprofiles.IPXE}, nil
	}
	if rest, ok := strings.CutPrefix(base, "ipxe.cfg-"); ok {
		if n, ok := parseSuffix(rest); ok {
			n.Firmware = bootprofiles.IPXE
			return n, nil
		}
	}
	// Anything else, including a site's own files under pxelinux.cfg/
	// (menus, includes), comes from the boot root.
	return Name{Kind: File, Path: p}, nil
}

// parseSuffix reads the part after "pxelinux.cfg/" or "grub.cfg-"; ok is
// false for names that are none of the per-node patterns.
func parseSuffix(s string) (n Name, ok bool) {
	if rest, ok := strings.CutPrefix(strings.ToLower(s), "01-"); ok && len(rest) == 17 {
		if mac, err := nodes.ParseMAC(strings.ReplaceAll(rest, "-", ":")); err == nil {
			return Name{Kind: ByMAC, MAC: mac}, true
		}
	}
	// GRUB's fallback grub.cfg may source grub.cfg-01-$net_default_mac,
	// which GRUB spells with colons.
	if rest, ok := strings.CutPrefix(strings.ToLower(s), "01:"); ok && len(rest) == 17 {
		if mac, err := nodes.ParseMAC(rest); err == nil {
			return Name{Kind: ByMAC, MAC: mac}, true
		}
	}
	if len(s) == 8 {
		if b, err := hex.DecodeString(s); err == nil {
			return Name{Kind: ByIP, IP: netip.AddrFrom4([4]byte(b))}, true
		}
	}
	if len(s) < 8 && isHex(s) {
		return Name{Kind: NotFound}, true
	}
	if len(s) == 36 && strings.Count(s, "-") == 4 {
		return Name{Kind: ByUUID}, true
	}
	return Name{}, false
}

func isHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
			return false
		}
	}
	return s != ""
}
