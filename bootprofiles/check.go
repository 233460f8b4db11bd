package bootprofiles

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/node-switch/node-switch/nodes"
)

// ErrMissingFile is returned (wrapped) by Check when a file the profile
// boots is not under the boot root. It may be copied there later, so a
// caller may let the operator override it (--force).
var ErrMissingFile = errors.New("files missing")

// ErrNoBootRoot is returned (wrapped) by Check when everything else passed
// but the boot root does not exist, so the files could not be looked for:
// a warning, not a refusal (the inventory may be prepared on another host).
var ErrNoBootRoot = errors.New("boot root does not exist")

// Check says whether nodes booting p would get a config that boots:
// every field stays on its line, every template parses and renders for a
// sample node through Render (what TFTP and HTTP serve), and, when bootRoot
// is not "", the kernel and initrds are regular files under it. A template
// or field error is final (no sample node can make it boot); the caller
// weighs ErrMissingFile and ErrNoBootRoot.
//
// A profile of kind nfsroot takes its kernel and initrd from the catalog
// entry unless it overrides them; only overrides are looked for here.
func Check(p nodes.Profile, bootRoot string) error {
	if err := checkFields(p, nodes.NFSRoot{}); err != nil {
		return fmt.Errorf("profile %s: %w", p.Name, err)
	}
	if p.Kind == nodes.KindTemplate {
		for _, fw := range []Firmware{BIOS, UEFI} {
			if _, err := Render(SampleInput(p, fw)); err != nil {
				return fmt.Errorf("trial %w (fix the template, then set it again)", err)
			}
		}
	}
	if bootRoot == "" || p.Kind == nodes.KindLocalDisk {
		return nil
	}
	if p.Kind == nodes.KindFiles {
		return checkSiteFiles(p, bootRoot)
	}
	var files []string
	if p.Kernel != "" {
		files = append(files, p.Kernel)
	}
	files = append(files, splitFiles(p.Initrd)...)
	if p.KernelARM64 != "" {
		files = append(files, p.KernelARM64)
	}
	files = append(files, splitFiles(p.InitrdARM64)...)
	if len(files) == 0 {
		return nil
	}
	return checkFiles(p.Name, bootRoot, files)
}

func checkFiles(profile, bootRoot string, files []string) error {
	root, err := os.OpenRoot(bootRoot)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("profile %s: %w: %s (%s not looked for; create it with 'node-switch bootroot init %s' or pass --boot-root)",
			profile, ErrNoBootRoot, bootRoot, strings.Join(files, ", "), bootRoot)
	}
	if err != nil {
		return fmt.Errorf("profile %s: boot root: %w", profile, err)
	}
	defer root.Close()
	var missing []string
	for _, f := range files {
		// The boot loader asks for the name without its leading slash (see
		// fileRef), and os.Root, as in bootfs, refuses an escape.
		fi, err := root.Stat(strings.TrimLeft(f, "/"))
		switch {
		case err != nil:
			missing = append(missing, f)
		case !fi.Mode().IsRegular():
			missing = append(missing, f+" (not a regular file)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("profile %s: %w under boot root %s: %s (copy them there, or pass --force)",
			profile, ErrMissingFile, bootRoot, strings.Join(missing, ", "))
	}
	return nil
}

// checkSiteFiles wants at least the fallback config (pxelinux.cfg/default
// or grub.cfg) in the profile's directory: without one, a node with no
// per-node file of its own would get nothing.
func checkSiteFiles(p nodes.Profile, bootRoot string) error {
	var want []string
	for _, fw := range []Firmware{BIOS, UEFI} {
		names := SiteConfigNames(p, nodes.Node{}, fw)
		want = append(want, names[len(names)-1])
	}
	err := checkFiles(p.Name, bootRoot, want[:1])
	if errors.Is(err, ErrMissingFile) && checkFiles(p.Name, bootRoot, want[1:]) == nil {
		return nil
	}
	if errors.Is(err, ErrMissingFile) {
		return fmt.Errorf("profile %s: %w under boot root %s: neither %s nor %s (kind files serves the site's own configs: put them there, or pass --force)",
			p.Name, ErrMissingFile, bootRoot, want[0], want[1])
	}
	return err
}

// SampleInput is a plausible node booting p, for trying a profile before
// any node boots it: every field a template may use is filled in.
func SampleInput(p nodes.Profile, fw Firmware) Input {
	n := nodes.Node{Name: "sample01", MAC: "52:54:00:00:00:01", IP: netip.MustParseAddr("192.0.2.10"),
		Cluster: "sample", Event: 1, Firmware: string(fw)}
	return Input{
		Node:    n,
		Cluster: nodes.Cluster{Name: n.Cluster, Profile: p.Name},
		Profile: p,
		Event: nodes.Event{ID: 1, Time: time.Unix(0, 0).UTC(), Actor: "check", Channel: nodes.ChannelCLI,
			Action: nodes.ActionMove, Nodes: []string{n.Name}, Target: n.Cluster},
		HTTPBase: "http://192.0.2.1:8080",
		Firmware: fw,
	}
}
