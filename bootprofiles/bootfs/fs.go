package bootfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/node-switch/node-switch/bootprofiles"
	"github.com/node-switch/node-switch/nodes"
)

// Inventory is the part of the store the boot servers read; *nodes.Store
// satisfies it, tests may pass something smaller.
type Inventory interface {
	LookupIP(ctx context.Context, ip netip.Addr) (nodes.Node, error)
	LookupMAC(ctx context.Context, mac string) (nodes.Node, error)
	BootOf(ctx context.Context, n nodes.Node) (nodes.Cluster, nodes.Profile, error)
	Event(ctx context.Context, id int64) (nodes.Event, error)
}

// NFSRootCatalog is implemented by inventories that hold the NFS-root
// catalog; profiles of kind nfsroot need it to render.
type NFSRootCatalog interface {
	NFSRoot(ctx context.Context, name string) (nodes.NFSRoot, error)
}

// OnceUser is implemented by inventories that can end a node's pending
// boot-once (*nodes.Store does); see nodes.Store.UseOnce.
type OnceUser interface {
	UseOnce(ctx context.Context, n nodes.Node, u nodes.OnceUse) (bool, error)
}

// ErrMasked is returned (wrapped) for any request from or about a masked
// node: another server (the Windows head's WDS) owns it for now.
var ErrMasked = errors.New("node is masked")

// FS serves the boot root.
type FS struct {
	Root *os.Root
	Inv  Inventory
	// HTTPPort is the HTTP endpoint's port, for profiles that load kernels
	// over HTTP; 0 when the endpoint is disabled.
	HTTPPort int
	// Loaders is what the boot root holds, shared with the DHCP server so
	// a config is written for the loader DHCP named.
	Loaders *bootprofiles.LoaderWatch
	// Channel is the protocol serving (nodes.ChannelTFTP or ChannelHTTP),
	// named in the logbook when a fetch ends a boot-once.
	Channel string
}

// Content is one answer: a rendered config or an open file.
type Content struct {
	io.ReadSeeker
	Size    int64
	ModTime time.Time
	// Node is the node the answer was rendered for ("" for plain files
	// and unknown machines); Rendered says whether it was.
	Node     string
	Rendered bool
	closer   io.Closer
}

// Close releases the file behind c, if any.
func (c *Content) Close() error {
	if c.closer != nil {
		return c.closer.Close()
	}
	return nil
}

// HTTPBase is the URL prefix a node reaching us at server uses for HTTP.
func HTTPBase(server netip.Addr, port int) string {
	if port <= 0 || !server.IsValid() || server.IsUnspecified() {
		return ""
	}
	return "http://" + netip.AddrPortFrom(server.Unmap(), uint16(port)).String()
}

// Open answers a request for name from client, which reached us at server
// (the address the request was sent to: that is where the node will find
// the HTTP endpoint too). A masked client gets ErrMasked for every name; a
// name nothing answers gets an error wrapping fs.ErrNotExist.
func (f *FS) Open(ctx context.Context, name string, client, server netip.Addr) (*Content, error) {
	n, err := Parse(name)
	if err != nil {
		return nil, err
	}
	client = client.Unmap()
	from, known, err := found(f.Inv.LookupIP(ctx, client))
	if err != nil {
		return nil, fmt.Errorf("%s from %s: %w", name, client, err)
	}
	if known && from.Masked {
		return nil, fmt.Errorf("%s from %s: %s: %w", name, client, from.Name, ErrMasked)
	}
	var target nodes.Node
	switch n.Kind {
	case File:
		c, err := f.openFile(n.Path)
		if errors.Is(err, fs.ErrNotExist) && isLoaderModule(n.Path) {
			// pxelinux loaded as "um64_linux/pxelinux.0" asks for
			// "um64_linux/ldlinux.c32"; one copy at the top of the boot
			// root (what bootroot init installs) serves every such
			// directory.
			if c, err2 := f.openFile(path.Base(n.Path)); err2 == nil {
				return c, nil
			}
		}
		return c, err
	case ByUUID, NotFound:
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	case Default:
		if !known {
			return rendered("", bootprofiles.RenderUnknown(n.Firmware, client.String())), nil
		}
		target = from
	case ByMAC, ByIP:
		var ok bool
		switch {
		case known && (n.Kind == ByMAC && n.MAC == from.MAC || n.Kind == ByIP && n.IP == from.IP):
			// A node asking for its own config, as it usually does: the
			// lookup above already found it.
			target, ok = from, true
		case n.Kind == ByMAC:
			target, ok, err = found(f.Inv.LookupMAC(ctx, n.MAC))
		default:
			target, ok, err = found(f.Inv.LookupIP(ctx, n.IP))
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if !ok {
			// pxelinux and GRUB move on to their next name.
			return nil, fmt.Errorf("%s: no such node: %w", name, fs.ErrNotExist)
		}
		if target.Masked {
			return nil, fmt.Errorf("%s: %s: %w", name, target.Name, ErrMasked)
		}
	}
	in, err := InputFor(ctx, f.Inv, target, n.Firmware, HTTPBase(server, f.HTTPPort))
	if err != nil {
		return nil, err
	}
	in.Loaders = f.Loaders.Current()
	if in.Profile.Kind == nodes.KindFiles {
		if n.Firmware == bootprofiles.IPXE {
			// The site's files are pxelinux and GRUB configs.
			return nil, fmt.Errorf("%s: profile %s (files) has no iPXE script: %w", name, in.Profile.Name, fs.ErrNotExist)
		}
		c, _, err := SiteConfig(f.Root, in)
		return c, err
	}
	b, err := bootprofiles.Render(in)
	if err != nil {
		return nil, err
	}
	if target.OnceCluster != "" && known && from.Name == target.Name {
		// The node fetching its own config for the boot that is under
		// way: this boot is the once (see nodes/once.go). Rendered first,
		// so a config that cannot be rendered leaves the once pending. A
		// fetch that loses the race to a concurrent one of the same boot
		// still serves what it read: the once, for this boot.
		if err := f.useOnce(ctx, target, name, client); err != nil {
			return nil, err
		}
	}
	return rendered(target.Name, b), nil
}

func (f *FS) useOnce(ctx context.Context, n nodes.Node, name string, client netip.Addr) error {
	u, ok := f.Inv.(OnceUser)
	if !ok {
		// Serving the once without ending it would boot the node there
		// again and again.
		return fmt.Errorf("%s: node %s boots cluster %s once, but this inventory cannot record that it did", name, n.Name, n.OnceCluster)
	}
	ch := f.Channel
	if ch == "" {
		ch = nodes.ChannelTFTP
	}
	// The boot has begun: a client that hangs up now must not leave the
	// once pending for a second boot.
	if _, err := u.UseOnce(context.WithoutCancel(ctx), n, nodes.OnceUse{Channel: ch, Client: client.String(), File: name}); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// found turns an inventory lookup into (node, known, error): "no such
// node" is an answer, not a fault.
func found(n nodes.Node, err error) (nodes.Node, bool, error) {
	switch {
	case err == nil:
		return n, true, nil
	case errors.Is(err, nodes.ErrNotFound):
		return nodes.Node{}, false, nil
	default:
		return nodes.Node{}, false, fmt.Errorf("inventory: %w", err)
	}
}

func rendered(node string, b []byte) *Content {
	return &Content{ReadSeeker: bytes.NewReader(b), Size: int64(len(b)), Node: node, Rendered: true}
}

func (f *FS) openFile(p string) (*Content, error) {
	// os.Root refuses any path (through "..", absolute names or symlinks)
	// that would leave the boot root.
	file, err := f.Root.Open(p)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			// os.Root's "path escapes from parent": a symlink out of the root.
			return nil, fmt.Errorf("boot root %s: %w: %w", f.Root.Name(), ErrBadName, err)
		}
		return nil, fmt.Errorf("boot root %s: %w", f.Root.Name(), err)
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("boot root %s: %s: %w", f.Root.Name(), p, err)
	}
	if !st.Mode().IsRegular() {
		file.Close()
		return nil, fmt.Errorf("boot root %s: %s is not a regular file: %w", f.Root.Name(), p, fs.ErrNotExist)
	}
	return &Content{ReadSeeker: file, Size: st.Size(), ModTime: st.ModTime(), closer: file}, nil
}

// SiteConfig opens the site's own config that a node booting a profile of
// kind files is served: the first of bootprofiles.SiteConfigNames present
// under root, untouched, and says which it was. None present is "not
// found", as it would have been for the site's boot loader.
func SiteConfig(root *os.Root, in bootprofiles.Input) (*Content, string, error) {
	names := bootprofiles.SiteConfigNames(in.Profile, in.Node, in.Firmware)
	for _, name := range names {
		file, err := root.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			// os.Root's "path escapes from parent": a symlink out of the root.
			return nil, "", fmt.Errorf("node %s: profile %s: boot root %s: %w: %w", in.Node.Name, in.Profile.Name, root.Name(), ErrBadName, err)
		}
		st, err := file.Stat()
		if err != nil || !st.Mode().IsRegular() {
			file.Close()
			continue
		}
		// Rendered: which file this is depends on the inventory now (the
		// node's cluster), so HTTP must not let it be cached.
		return &Content{ReadSeeker: file, Size: st.Size(), ModTime: st.ModTime(), closer: file, Node: in.Node.Name, Rendered: true}, name, nil
	}
	return nil, "", fmt.Errorf("node %s: profile %s (files) has no config for it under %s in boot root %s: %w",
		in.Node.Name, in.Profile.Name, bootprofiles.SiteConfigDir(in.Profile, in.Firmware), root.Name(), fs.ErrNotExist)
}

// isLoaderModule says whether p names a syslinux module or boot loader
// that bootroot init installs at the top of the boot root.
func isLoaderModule(p string) bool {
	if !strings.Contains(p, "/") {
		return false
	}
	switch path.Ext(p) {
	case ".c32", ".e64", ".0":
		return true
	}
	return false
}

// InputFor gathers what rendering node n needs from the inventory. A
// missing logbook entry is not fatal: the header says so.
func InputFor(ctx context.Context, inv Inventory, n nodes.Node, fw bootprofiles.Firmware, httpBase string) (bootprofiles.Input, error) {
	c, p, err := inv.BootOf(ctx, n)
	if err != nil {
		return bootprofiles.Input{}, err
	}
	in := bootprofiles.Input{Node: n, Cluster: c, Profile: p, HTTPBase: httpBase, Firmware: fw}
	// The entry that decided this boot: the once's, while one is pending.
	id := n.Event
	if n.OnceCluster != "" {
		id = n.OnceEvent
	}
	if id != 0 {
		if e, err := inv.Event(ctx, id); err == nil {
			in.Event = e
		}
	}
	if p.Kind == nodes.KindNFSRoot {
		cat, ok := inv.(NFSRootCatalog)
		if !ok {
			return bootprofiles.Input{}, fmt.Errorf("node %s: profile %s: this inventory has no NFS-root catalog", n.Name, p.Name)
		}
		if in.NFSRoot, err = cat.NFSRoot(ctx, p.NFSRoot); err != nil {
			return bootprofiles.Input{}, fmt.Errorf("node %s: profile %s: %w", n.Name, p.Name, err)
		}
	}
	return in, nil
}

// PortOf returns the port of a listen address such as ":8080" (0 if the
// address is empty, which disables the endpoint).
func PortOf(listen string) (int, error) {
	if listen == "" {
		return 0, nil
	}
	ap, err := netip.ParseAddrPort(listen)
	if err == nil {
		return int(ap.Port()), nil
	}
	// ":8080" has no address part.
	if len(listen) > 1 && listen[0] == ':' {
		if p, err := strconv.Atoi(listen[1:]); err == nil && p > 0 && p < 65536 {
			return p, nil
		}
	}
	return 0, fmt.Errorf("listen address %q: want [ADDR]:PORT", listen)
}
