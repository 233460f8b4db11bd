package dhcpdconf

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"sort"
	"strings"

	"github.com/node-switch/node-switch/nodes"
)

// ImportOptions steer how a file's groups become clusters.
type ImportOptions struct {
	// NameMap renames a cluster derived from a boot file's directory
	// ("um64_win" → "windows"); a key may also be a whole boot file name.
	NameMap map[string]string
	// KindMap gives the profile kind of a cluster (after renaming); without
	// it a cluster whose name mentions "win" boots the local disk and any
	// other boots Linux, and the choice is reported.
	KindMap map[string]nodes.ProfileKind
	// BootRoot is the boot root the site's TFTP server served (nil: not
	// looked at). A group whose boot-file directory there holds the site's
	// own configs (FindSiteConfigs) gets a profile of kind files serving
	// them, so that every node boots what it booted before. BootRootName
	// names it in notes.
	BootRoot     fs.FS
	BootRootName string
}

// clusterOf names the cluster a boot file stands for: its directory, as
// the source system kept one pxelinux per logical cluster in um64_win/ and
// um64_linux/. used records the --name-map keys that matched.
func clusterOf(file string, o ImportOptions, used map[string]bool) (string, error) {
	if n, ok := o.NameMap[file]; ok {
		used[file] = true
		return n, nil
	}
	dir := path.Dir(strings.TrimPrefix(file, "/"))
	if dir == "." || dir == "" {
		return "", fmt.Errorf("boot file %q has no directory to name a cluster after: pass --name-map %s=CLUSTER", file, file)
	}
	if n, ok := o.NameMap[dir]; ok {
		used[dir] = true
		return n, nil
	}
	return strings.ReplaceAll(dir, "/", "_"), nil
}

// ToInventory turns a parsed file into inventory records: each group (each
// distinct boot file) a cluster with a profile of the same name, each host a
// node, each commented-out host a masked node. notes says what was guessed.
// A --name-map or --kind entry that matches nothing is an error: a typo
// there would otherwise import under the wrong name or kind.
func ToInventory(file string, cfg *Config, o ImportOptions) (inv nodes.Inventory, notes []string, err error) {
	type cl struct {
		profile nodes.Profile
		cluster nodes.Cluster
		line    int
	}
	clusters := map[string]*cl{}
	var order []string
	usedName, usedKind := map[string]bool{}, map[string]bool{}
	root := o.BootRoot
	if root != nil {
		if _, err := fs.Stat(root, "."); err != nil {
			notes = append(notes, fmt.Sprintf("boot root %s: %v: the site's own boot configs were not looked for (pass --boot-root DIR, the directory the site's TFTP server serves)", o.BootRootName, errors.Unwrap(err)))
			root = nil
		}
	}
	addCluster := func(file, name, profile, kind, nfsroot, filesDir string, line int) (string, error) {
		if name == "" {
			if file == "" {
				return "", fmt.Errorf("no filename (boot file) in force here, so no cluster to put it in: give its group a filename")
			}
			n, err := clusterOf(file, o, usedName)
			if err != nil {
				return "", err
			}
			name = n
		}
		if c, ok := clusters[name]; ok {
			if bf := c.profile.BootFiles[nodes.BootBIOS]; bf != file && file != "" {
				return "", fmt.Errorf("cluster %s gets two boot files, %q (line %d) and %q (line %d): use --name-map to tell them apart", name, bf, c.line, file, line)
			}
			return name, nil
		}
		if profile == "" {
			profile = name
		}
		var site SiteConfigs
		if root != nil && file != "" {
			var err error
			if site, err = FindSiteConfigs(root, file); err != nil {
				return "", fmt.Errorf("cluster %s: boot root %s: %w", name, o.BootRootName, err)
			}
		}
		k := nodes.ProfileKind(kind)
		switch {
		case o.KindMap[name] != "":
			// The operator's word wins over an export's annotation: it is
			// how a profile whose kind dhcpd.conf cannot carry is imported.
			k = o.KindMap[name]
			usedKind[name] = true
		case k != "":
		case site.Found():
			// What the nodes booted until now, as they booted it: the
			// guesses below would leave them a profile without a kernel.
			k = nodes.KindFiles
			notes = append(notes, fmt.Sprintf("cluster %s: found %s in boot root %s: profile %s (kind files) serves them as they are (--kind %s=linux to change)",
				name, site, o.BootRootName, profile, name))
		case strings.Contains(strings.ToLower(name), "win"):
			k = nodes.KindLocalDisk
			notes = append(notes, fmt.Sprintf("cluster %s: profile %s boots the local disk (its name says Windows; --kind %s=linux to change)%s", name, profile, name, notFound(root, o.BootRootName, site)))
		default:
			k = nodes.KindLinux
			notes = append(notes, fmt.Sprintf("cluster %s: profile %s boots Linux but has no kernel yet: set one with 'profile set %s --kernel FILE --initrd FILE' before its nodes boot (--kind %s=localdisk to change)%s",
				name, profile, profile, name, notFound(root, o.BootRootName, site)))
		}
		if site.Found() && k != nodes.KindFiles {
			notes = append(notes, fmt.Sprintf("cluster %s: found %s in boot root %s, not served: profile %s is of kind %s (--kind %s=files to serve them)", name, site, o.BootRootName, profile, k, name))
		}
		if k != nodes.KindFiles {
			filesDir = ""
		} else if filesDir == "" {
			filesDir = site.Dir
			if !site.Found() && file != "" {
				filesDir = path.Dir(strings.TrimLeft(file, "/"))
			}
			if filesDir == "" {
				return "", fmt.Errorf("cluster %s: profile %s of kind files needs the directory of the site's configs, and no boot file names one: give its group a filename", name, profile)
			}
		}
		if _, err := nodes.ParseProfileKind(string(k)); err != nil {
			return "", fmt.Errorf("cluster %s: %w", name, err)
		}
		if k != nodes.KindNFSRoot {
			nfsroot = ""
		}
		switch {
		case k == nodes.KindNFSRoot && nfsroot == "":
			return "", fmt.Errorf("cluster %s: profile %s of kind nfsroot needs an NFS root, which this file does not name: pass --kind %s=linux and 'profile set %s --kind nfsroot --nfsroot NAME' after the import", name, profile, name, profile)
		case k == nodes.KindTemplate:
			return "", fmt.Errorf("cluster %s: profile %s of kind template needs its templates, which dhcpd.conf does not carry: pass --kind %s=linux and 'profile set %s --kind template ...' after the import", name, profile, name, profile)
		}
		p := nodes.Profile{Name: profile, Kind: k, NFSRoot: nfsroot, FilesDir: filesDir, BootFiles: map[string]string{nodes.BootBIOS: file}}
		clusters[name] = &cl{profile: p, cluster: nodes.Cluster{Name: name, Profile: profile}, line: line}
		order = append(order, name)
		return name, nil
	}
	for _, g := range cfg.Groups {
		if g.Filename == "" && g.Cluster == "" {
			continue
		}
		if _, err := addCluster(g.Filename, g.Cluster, g.Profile, g.Kind, g.NFSRoot, g.FilesDir, g.Line); err != nil {
			return nodes.Inventory{}, nil, wrapLine(g.File, g.Line, err)
		}
	}
	for _, h := range cfg.Hosts {
		name, err := addCluster(h.Filename, h.Cluster, h.Profile, h.Kind, h.NFSRoot, h.FilesDir, h.Line)
		if err != nil {
			return nodes.Inventory{}, nil, wrapLine(h.File, h.Line, fmt.Errorf("host %s: %w", h.Name, err))
		}
		mac, err := nodes.ParseMAC(h.MAC)
		if err != nil {
			return nodes.Inventory{}, nil, wrapLine(h.File, h.Line, fmt.Errorf("host %s: %w", h.Name, err))
		}
		n := nodes.Node{Name: h.Name, MAC: mac, IP: h.IP, Cluster: name, Masked: h.Masked}
		if h.Masked {
			n.MaskReason = h.MaskReason
			if n.MaskReason == "" {
				n.MaskReason = "imported commented out"
			}
		}
		inv.Nodes = append(inv.Nodes, n)
	}
	if err := unused("name-map", o.NameMap, usedName, "no group or host has a boot file in that directory (or of that name)"); err != nil {
		return nodes.Inventory{}, nil, err
	}
	if err := unused("kind", o.KindMap, usedKind, "no cluster of that name (clusters: "+strings.Join(order, ", ")+")"); err != nil {
		return nodes.Inventory{}, nil, err
	}
	profiles := map[string]bool{}
	for _, name := range order {
		c := clusters[name]
		if !profiles[c.profile.Name] {
			profiles[c.profile.Name] = true
			inv.Profiles = append(inv.Profiles, c.profile)
		}
		inv.Clusters = append(inv.Clusters, c.cluster)
	}
	for _, a := range cfg.NFSRoots {
		f := a.Fields
		inv.NFSRoots = append(inv.NFSRoots, nodes.NFSRoot{Name: f["name"], Server: f["server"], Export: f["export"], Kernel: f["kernel"],
			Initrd: f["initrd"], KernelVersion: f["kernel-version"], Options: f["options"]})
	}
	inv.Subnets, err = subnetsOf(file, cfg)
	if err != nil {
		return nodes.Inventory{}, nil, err
	}
	return inv, notes, nil
}

// notFound says, for a note, where the site's configs were looked for.
func notFound(root fs.FS, rootName string, s SiteConfigs) string {
	if root == nil || s.Dir == "" {
		return ""
	}
	where := path.Join(s.Dir, "pxelinux.cfg")
	if s.Loader == "grub" {
		where = s.Dir
	}
	return fmt.Sprintf("; no %s configs of the site's in %s", s.Loader, path.Join(rootName, where))
}

// unused fails on the first (sorted) key of m that matched nothing.
func unused[V any](flag string, m map[string]V, used map[string]bool, why string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		if !used[k] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Strings(keys)
	return fmt.Errorf("--%s %s=%v: %s", flag, keys[0], m[keys[0]], why)
}

func wrapLine(file string, line int, err error) error {
	if _, ok := err.(*Error); ok {
		return err
	}
	return &Error{file, line, err.Error()}
}

func subnetOf(prefix netip.Prefix, o Options) nodes.Subnet {
	return nodes.Subnet{Prefix: prefix, Routers: o.Routers, DNS: o.DNS, Domain: o.Domain, NextServer: o.NextServer, LeaseTime: o.LeaseTime}
}

func (o Options) any() bool {
	return len(o.Routers) > 0 || len(o.DNS) > 0 || o.Domain != "" || o.NextServer.IsValid() || o.LeaseTime > 0
}

// subnetsOf keeps the shared options. Options outside any subnet need one to
// live in: the subnet-mask option and the hosts' addresses give it.
func subnetsOf(file string, cfg *Config) ([]nodes.Subnet, error) {
	var out []nodes.Subnet
	for _, s := range cfg.Subnets {
		out = append(out, subnetOf(s.Prefix, s.Options))
	}
	if len(cfg.Subnets) > 0 || !cfg.Global.any() {
		return out, nil
	}
	if !cfg.Global.Mask.IsValid() {
		return nil, &Error{file, 1, "shared options (routers, domain-name-servers, next-server ...) outside any subnet: add 'option subnet-mask' or a 'subnet ADDRESS netmask MASK { }' declaration so node-switch knows where they apply"}
	}
	bits, _ := maskBits(cfg.Global.Mask)
	seen := map[netip.Prefix]bool{}
	for _, h := range cfg.Hosts {
		p := netip.PrefixFrom(h.IP, bits).Masked()
		if !seen[p] {
			seen[p] = true
			out = append(out, subnetOf(p, cfg.Global))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Prefix.String() < out[j].Prefix.String() })
	return out, nil
}
