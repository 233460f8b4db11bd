package dhcpdconf

import (
	"fmt"
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
}

// clusterOf names the cluster a boot file stands for: its directory, as
// the source system kept one pxelinux per logical cluster in um64_win/ and
// um64_linux/.
func clusterOf(file string, o ImportOptions) (string, error) {
	if n, ok := o.NameMap[file]; ok {
		return n, nil
	}
	dir := path.Dir(strings.TrimPrefix(file, "/"))
	if dir == "." || dir == "" {
		return "", fmt.Errorf("boot file %q has no directory to name a cluster after: pass --name-map %s=CLUSTER", file, file)
	}
	if n, ok := o.NameMap[dir]; ok {
		return n, nil
	}
	return strings.ReplaceAll(dir, "/", "_"), nil
}

// ToInventory turns a parsed file into inventory records: each group (each
// distinct boot file) a cluster with a profile of the same name, each host a
// node, each commented-out host a masked node. notes says what was guessed.
func ToInventory(file string, cfg *Config, o ImportOptions) (inv nodes.Inventory, notes []string, err error) {
	type cl struct {
		profile nodes.Profile
		cluster nodes.Cluster
		line    int
	}
	clusters := map[string]*cl{}
	var order []string
	addCluster := func(file, name, profile, kind string, line int) (string, error) {
		if name == "" {
			if file == "" {
				return "", fmt.Errorf("no filename (boot file) in force here, so no cluster to put it in: give its group a filename")
			}
			n, err := clusterOf(file, o)
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
		k := nodes.ProfileKind(kind)
		switch {
		case k != "":
		case o.KindMap[name] != "":
			k = o.KindMap[name]
		case strings.Contains(strings.ToLower(name), "win"):
			k = nodes.KindLocalDisk
			notes = append(notes, fmt.Sprintf("cluster %s: profile %s boots the local disk (its name says Windows; --kind %s=linux to change)", name, profile, name))
		default:
			k = nodes.KindLinux
			notes = append(notes, fmt.Sprintf("cluster %s: profile %s boots Linux (--kind %s=localdisk to change)", name, profile, name))
		}
		if _, err := nodes.ParseProfileKind(string(k)); err != nil {
			return "", fmt.Errorf("cluster %s: %w", name, err)
		}
		p := nodes.Profile{Name: profile, Kind: k, BootFiles: map[string]string{nodes.BootBIOS: file}}
		clusters[name] = &cl{profile: p, cluster: nodes.Cluster{Name: name, Profile: profile}, line: line}
		order = append(order, name)
		return name, nil
	}
	for _, g := range cfg.Groups {
		if g.Filename == "" && g.Cluster == "" {
			continue
		}
		if _, err := addCluster(g.Filename, g.Cluster, g.Profile, g.Kind, g.Line); err != nil {
			return nodes.Inventory{}, nil, wrapLine(file, g.Line, err)
		}
	}
	for _, h := range cfg.Hosts {
		name, err := addCluster(h.Filename, h.Cluster, h.Profile, h.Kind, h.Line)
		if err != nil {
			return nodes.Inventory{}, nil, wrapLine(file, h.Line, fmt.Errorf("host %s: %w", h.Name, err))
		}
		mac, err := nodes.ParseMAC(h.MAC)
		if err != nil {
			return nodes.Inventory{}, nil, wrapLine(file, h.Line, fmt.Errorf("host %s: %w", h.Name, err))
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
	profiles := map[string]bool{}
	for _, name := range order {
		c := clusters[name]
		if !profiles[c.profile.Name] {
			profiles[c.profile.Name] = true
			inv.Profiles = append(inv.Profiles, c.profile)
		}
		inv.Clusters = append(inv.Clusters, c.cluster)
	}
	inv.Subnets, err = subnetsOf(file, cfg)
	if err != nil {
		return nodes.Inventory{}, nil, err
	}
	return inv, notes, nil
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
