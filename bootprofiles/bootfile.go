// Package bootprofiles turns a node's profile into what it boots: the file
// named in the DHCP reply and the boot loader configuration served over TFTP.
package bootprofiles

import (
	"io/fs"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/node-switch/node-switch/nodes"
)

// defaultBootFiles is the first-stage file per profile kind and boot key,
// used where a profile does not name its own. The table is the whole policy:
// the DHCP server only looks a key up here.
var defaultBootFiles = map[nodes.ProfileKind]map[string]string{
	nodes.KindLinux:     {nodes.BootBIOS: "pxelinux.0", nodes.BootUEFI: "grubx64.efi", nodes.BootARM64: "grubaa64.efi"},
	nodes.KindNFSRoot:   {nodes.BootBIOS: "pxelinux.0", nodes.BootUEFI: "grubx64.efi", nodes.BootARM64: "grubaa64.efi"},
	nodes.KindTemplate:  {nodes.BootBIOS: "pxelinux.0", nodes.BootUEFI: "grubx64.efi", nodes.BootARM64: "grubaa64.efi"},
	nodes.KindLocalDisk: {nodes.BootBIOS: "pxelinux.0", nodes.BootUEFI: "grubx64.efi", nodes.BootARM64: "grubaa64.efi"},
}

// BootFile returns the file a DHCP reply names for a node booting profile p
// from firmware of the given boot key (nodes.BootBIOS, BootUEFI, BootARM64),
// already running iPXE or not. ok is false when the reply must carry no boot
// file at all: the firmware then moves on to its next boot entry, which is
// the quickest way for UEFI to reach the local disk.
func BootFile(p nodes.Profile, arch string, ipxe bool) (file string, ok bool) {
	return BootFileFor(p, arch, ipxe, Loaders{})
}

// Loaders is what the boot root holds beyond the files every boot root has.
type Loaders struct {
	// SignedX64 is true when bootroot init installed the signed x86-64
	// chain (SignedShimX64 and the signed GRUB beside it).
	SignedX64 bool
}

// The signed chain's place in the boot root. shim loads grubx64.efi from
// the directory of the boot file it was itself loaded as (the BOOTP file
// field), so the signed GRUB needs a directory of its own, apart from the
// self-built grubx64.efi at the top.
const (
	SignedDir     = "signed"
	SignedShimX64 = SignedDir + "/shimx64.efi"
)

// SignedGRUBX64 is the signed GRUB shim loads, beside it.
const SignedGRUBX64 = SignedDir + "/grubx64.efi"

// DetectLoaders looks into a boot root for the optional chains: the signed
// one counts only when both shim and GRUB are there.
func DetectLoaders(root fs.FS) Loaders {
	_, shim := fs.Stat(root, SignedShimX64)
	_, grub := fs.Stat(root, SignedGRUBX64)
	return Loaders{SignedX64: shim == nil && grub == nil}
}

// LoaderWatch is what a serving boot root holds, looked at again at most
// once a second: the DHCP answer (which boot file) and the rendered config
// (for which loader) read the same value, and a 'bootroot init' that adds
// the signed chain shows at the next boot without a restart. Its cost on a
// DHCP packet is an atomic load and a clock read.
type LoaderWatch struct {
	root fs.FS
	v    atomic.Pointer[Loaders]
	next atomic.Int64 // Unix nanoseconds of the next look
}

// NewLoaderWatch looks into root now and then as Current is asked.
func NewLoaderWatch(root fs.FS) *LoaderWatch {
	w := &LoaderWatch{root: root}
	l := DetectLoaders(root)
	w.v.Store(&l)
	w.next.Store(time.Now().Add(time.Second).UnixNano())
	return w
}

// Current is what the boot root holds, as of at most a second ago. A nil
// watch (no boot root) holds nothing optional.
func (w *LoaderWatch) Current() Loaders {
	if w == nil {
		return Loaders{}
	}
	now := time.Now().UnixNano()
	if n := w.next.Load(); now >= n && w.next.CompareAndSwap(n, now+int64(time.Second)) {
		l := DetectLoaders(w.root)
		w.v.Store(&l)
	}
	return *w.v.Load()
}

// UEFIChain is the x86-64 UEFI chain profile p's nodes get:
// nodes.UEFIChainSigned or nodes.UEFIChainSelfBuilt. A profile that names
// none gets the signed chain when the boot root holds it.
func UEFIChain(p nodes.Profile, l Loaders) string {
	switch p.UEFIChain {
	case nodes.UEFIChainSigned, nodes.UEFIChainSelfBuilt:
		return p.UEFIChain
	}
	if p.UEFIBoot == nodes.UEFIBootHTTP {
		// The signed GRUB has no http module: it could not read its
		// config from where HTTP boot loaded it.
		return nodes.UEFIChainSelfBuilt
	}
	if l.SignedX64 {
		return nodes.UEFIChainSigned
	}
	return nodes.UEFIChainSelfBuilt
}

// BootFileFor is BootFile for a boot root holding l.
func BootFileFor(p nodes.Profile, arch string, ipxe bool, l Loaders) (file string, ok bool) {
	if ipxe {
		// A second-stage iPXE request gets its own file if the profile
		// names one; otherwise the same as the first stage.
		if f, set := p.BootFiles[nodes.BootIPXE]; set {
			return f, f != ""
		}
	}
	if f, set := p.BootFiles[arch]; set {
		return f, f != ""
	}
	if p.Kind == nodes.KindLocalDisk && arch != nodes.BootBIOS && (p.UEFILocalBoot == "" || p.UEFILocalBoot == "none") {
		return "", false
	}
	if arch != nodes.BootBIOS && !ipxe && p.UEFIBoot == nodes.UEFIBootHTTP {
		// No boot file: the firmware's PXE entry fails at once and it
		// moves on to its HTTP boot entry, which the profile asks for.
		return "", false
	}
	f := defaultBootFiles[p.Kind][arch]
	if p.Kind == nodes.KindFiles {
		// The site's loaders sit beside its configs: loaded from there,
		// pxelinux takes that directory as the prefix the site's relative
		// names were written against.
		f = defaultBootFiles[nodes.KindLinux][arch]
		if f != "" {
			f = path.Join(p.FilesDir, f)
		}
		return f, f != ""
	}
	if arch == nodes.BootUEFI && UEFIChain(p, l) == nodes.UEFIChainSigned {
		f = SignedShimX64
	}
	if p.HTTP && arch == nodes.BootBIOS && p.Kind != nodes.KindLocalDisk {
		// Plain pxelinux.0 speaks TFTP only (unless the ROM under it is
		// iPXE); lpxelinux.0 carries its own TCP stack for http:// URLs.
		f = "lpxelinux.0"
	}
	return f, f != ""
}

// IPXEScript says whether a client already running iPXE, of architecture
// arch, is given an "#!ipxe" script rendered from profile p (named by
// IPXEConfigName, by URL on the HTTP endpoint) instead of a first-stage
// loader. The site keeps the loader by naming one (--boot-file ipxe=FILE);
// kinds template and files are pxelinux or GRUB text, so they keep theirs.
func IPXEScript(p nodes.Profile, arch string) bool {
	if _, set := p.BootFiles[nodes.BootIPXE]; set || arch == "" {
		return false
	}
	switch p.Kind {
	case nodes.KindLinux, nodes.KindNFSRoot, nodes.KindLocalDisk:
		return true
	}
	return false
}

// IPXEConfigName is the name of node mac's iPXE script, beside GRUB's
// grub.cfg-01-<mac>.
func IPXEConfigName(mac string) string {
	return "ipxe.cfg-01-" + strings.ReplaceAll(strings.ToLower(mac), ":", "-")
}

// NoHTTPBootFile is the file named to a UEFI HTTP boot client whose
// profile does not boot over HTTP. An HTTP boot offer without a boot URI is
// dropped by the firmware, which then retries DHCP for about a minute
// (4+8+16+32 s) before its next boot entry; a URI the HTTP server answers
// 404 for makes the entry fail at once. Nothing by this name is ever
// served.
const NoHTTPBootFile = "node-switch/no-http-boot.efi"

// HTTPBootFile is the file, under the boot root, a native UEFI HTTP boot
// client (option 60 HTTPClient) of architecture arch (nodes.BootUEFI or
// BootARM64) gets by URL when its node boots profile p. ok is false when
// the profile does not boot over HTTP (the answer then names
// NoHTTPBootFile) or boots the local disk with no boot file.
func HTTPBootFile(p nodes.Profile, arch string) (file string, ok bool) {
	if p.UEFIBoot != nodes.UEFIBootHTTP || p.Kind == nodes.KindFiles || arch == nodes.BootBIOS {
		return "", false
	}
	if f, set := p.BootFiles[arch]; set {
		return f, f != ""
	}
	if p.Kind == nodes.KindLocalDisk && (p.UEFILocalBoot == "" || p.UEFILocalBoot == "none") {
		return "", false
	}
	f := defaultBootFiles[p.Kind][arch]
	return f, f != ""
}
