package dhcpdconf

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/node-switch/node-switch/nodes"
)

// ExportCluster is one cluster as a dhcpd "group".
type ExportCluster struct {
	Name     string
	Profile  string
	Kind     nodes.ProfileKind
	NFSRoot  string // the catalog entry of an nfsroot profile
	FilesDir string // the site's config directory of a files profile
	Filename string // the BIOS boot file of its profile
	Nodes    []nodes.Node
}

// Write renders the inventory in the source system's shape: one group per
// cluster with its boot file, a host per node, masked nodes commented out.
// Annotations in comments ("# node-switch cluster=...") make an import of
// an import of the output give the same output again; ISC dhcpd ignores
// them. NFS root catalog entries have no dhcpd statement, so they are
// annotations only.
func Write(out io.Writer, header []string, nfsroots []nodes.NFSRoot, subnets []nodes.Subnet, clusters []ExportCluster) error {
	w := bufio.NewWriter(out)
	for _, h := range header {
		fmt.Fprintf(w, "# %s\n", h)
	}
	if len(nfsroots) > 0 {
		fmt.Fprintln(w)
	}
	for _, r := range nfsroots {
		fmt.Fprintf(w, "# node-switch-nfsroot%s\n", fields("name", r.Name, "server", r.Server, "export", r.Export, "kernel", r.Kernel,
			"initrd", r.Initrd, "kernel-version", r.KernelVersion, "options", r.Options))
	}
	for _, s := range subnets {
		mask := netip.AddrFrom4(maskOf(s.Prefix.Bits()))
		fmt.Fprintf(w, "\nsubnet %s netmask %s {\n", s.Prefix.Addr(), mask)
		if len(s.Routers) > 0 {
			fmt.Fprintf(w, "option routers %s;\n", addrs(s.Routers))
		}
		if len(s.DNS) > 0 {
			fmt.Fprintf(w, "option domain-name-servers %s;\n", addrs(s.DNS))
		}
		if s.Domain != "" {
			fmt.Fprintf(w, "option domain-name %q;\n", s.Domain)
		}
		if s.NextServer.IsValid() {
			fmt.Fprintf(w, "next-server %s;\n", s.NextServer)
		}
		if s.LeaseTime > 0 {
			fmt.Fprintf(w, "default-lease-time %d;\n", int64(s.LeaseTime/time.Second))
		}
		fmt.Fprintln(w, "}")
	}
	for _, c := range clusters {
		fmt.Fprintf(w, "\ngroup {\n# node-switch%s\n", fields("cluster", c.Name, "profile", c.Profile, "kind", string(c.Kind), "nfsroot", c.NFSRoot, "files", c.FilesDir))
		if c.Filename != "" {
			fmt.Fprintf(w, "filename %q;\n", c.Filename)
		}
		for _, n := range c.Nodes {
			host := fmt.Sprintf("host %s {hardware ethernet %s;\nfixed-address %s; }", n.Name, strings.ToUpper(n.MAC), n.IP)
			if n.Masked {
				// As the source system's mask script did: the host stays in
				// its group, commented out, so unmask is "remove the #".
				host = "#" + strings.ReplaceAll(host, "\n", "\n#")
				if n.MaskReason != "" {
					host = "# masked: " + strings.ReplaceAll(n.MaskReason, "\n", " ") + "\n" + host
				}
			}
			fmt.Fprintln(w, host)
		}
		fmt.Fprintln(w, "}")
	}
	return w.Flush()
}

// fields writes annotation words " k=v", quoting a value only where a
// space or quote would split it, and leaving out empty values.
func fields(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		v := kv[i+1]
		if v == "" {
			continue
		}
		if strings.ContainsAny(v, " \t\"\\") {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(&b, " %s=%s", kv[i], v)
	}
	return b.String()
}

func maskOf(bits int) [4]byte {
	v := ^uint32(0) << (32 - bits)
	if bits == 0 {
		v = 0
	}
	return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

func addrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
