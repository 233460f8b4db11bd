// Package nfsroot checks that an entry of the NFS-root catalog is a root
// filesystem a diskless node can boot: the export mounts over NFSv3/TCP (what
// the kernel's nfsroot= uses), /sbin/init exists and is executable,
// /lib/modules/<kernel version> exists and /etc is readable. It talks to the
// server with github.com/vmware/go-nfs-client, bounding every network step
// with a deadline, because a node moved onto a broken root hangs at boot
// with nobody watching its console.
package nfsroot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/node-switch/node-switch/nodes"
)

// DefaultTimeout bounds each network step of a check.
const DefaultTimeout = 5 * time.Second

// Options tune a check.
type Options struct {
	// Timeout bounds each network step (connect, one RPC); 0 means
	// DefaultTimeout.
	Timeout time.Duration
}

// Check verifies r and returns a one-line summary of what it found. The
// error, when not nil, is the reason the root is unusable, written for the
// operator who has to fix the server.
func Check(ctx context.Context, r nodes.NFSRoot, opt Options) (string, error) {
	timeout := opt.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if err := checkOptions(r.Options); err != nil {
		return "", err
	}
	host, err := resolveHost(ctx, timeout, r.Server)
	if err != nil {
		return "", err
	}
	mountdPort, err := probe(ctx, timeout, r.Server, host)
	if err != nil {
		return "", err
	}
	s, err := mountExport(ctx, timeout, r.Server, host, r.Export, mountdPort)
	if err != nil {
		return "", err
	}
	defer s.close(ctx)
	return inspect(s, r)
}

// inspect runs the root checks over a mounted export.
func inspect(t tree, r nodes.NFSRoot) (string, error) {
	root := r.Export
	var found []string

	p, a, links, err := resolve(t, "/sbin/init")
	var missing *missingError
	switch {
	case errors.As(err, &missing) && len(links) == 0:
		return "", fmt.Errorf("root %s has no /sbin/init", root)
	case errors.As(err, &missing):
		return "", fmt.Errorf("root %s has no /sbin/init: %s", root, err)
	case err != nil:
		return "", fmt.Errorf("root %s: /sbin/init: %w", root, err)
	case a.Type != typeReg:
		return "", fmt.Errorf("root %s: /sbin/init (%s) is not a regular file", root, p)
	case a.Mode&0o111 == 0:
		return "", fmt.Errorf("root %s: /sbin/init (%s) is not executable (mode %04o)", root, p, a.Mode)
	}
	if p != "/sbin/init" {
		found = append(found, "/sbin/init -> "+p)
	} else {
		found = append(found, "/sbin/init")
	}

	if v := KernelVersion(r); v != "" {
		mods := "/lib/modules/" + v
		_, a, _, err := resolve(t, mods)
		switch {
		case errors.As(err, &missing):
			return "", fmt.Errorf("root %s has no %s (the modules of kernel %s; set the right --kernel-version or install them into the root)", root, mods, v)
		case err != nil:
			return "", fmt.Errorf("root %s: %s: %w", root, mods, err)
		case a.Type != typeDir:
			return "", fmt.Errorf("root %s: %s is not a directory", root, mods)
		}
		found = append(found, mods)
	} else {
		// Without a version only the presence of some modules can be told.
		p, a, _, err := resolve(t, "/lib/modules")
		if err == nil && a.Type == typeDir {
			var n int
			n, err = readdirOf(t, p)
			if err == nil && n == 0 {
				err = errors.New("is empty")
			}
		}
		if err != nil {
			return "", fmt.Errorf("root %s: /lib/modules: %v (and no --kernel-version to look for)", root, err)
		}
		found = append(found, "/lib/modules (kernel version not given)")
	}

	p, a, _, err = resolve(t, "/etc")
	switch {
	case errors.As(err, &missing):
		return "", fmt.Errorf("root %s has no /etc", root)
	case err != nil:
		return "", fmt.Errorf("root %s: /etc: %w", root, err)
	case a.Type != typeDir:
		return "", fmt.Errorf("root %s: /etc is not a directory", root)
	}
	n, err := readdirOf(t, p)
	if err != nil {
		return "", fmt.Errorf("root %s: /etc is not readable: %w", root, err)
	}
	found = append(found, fmt.Sprintf("/etc readable (%d entries)", n))
	return fmt.Sprintf("%s:%s mounts; %s", r.Server, r.Export, strings.Join(found, ", ")), nil
}

func readdirOf(t tree, p string) (int, error) {
	if d, ok := t.(interface{ readdir(string) (int, error) }); ok {
		return d.readdir(p)
	}
	return 0, errors.New("cannot list directories")
}

// KernelVersion is the /lib/modules directory the entry's kernel needs: the
// catalog's kernel version, or what a Debian-style file name
// (vmlinuz-6.1.0-18-amd64) says.
func KernelVersion(r nodes.NFSRoot) string {
	if r.KernelVersion != "" {
		return r.KernelVersion
	}
	base := path.Base(r.Kernel)
	for _, prefix := range []string{"vmlinuz-", "vmlinux-", "bzImage-", "kernel-"} {
		if v, ok := strings.CutPrefix(base, prefix); ok && v != "" {
			return v
		}
	}
	return ""
}

// checkOptions refuses mount options the check cannot vouch for (entries
// added before 'nfsroot add' refused them); nodes owns the rule.
func checkOptions(opts string) error { return nodes.CheckNFSOptions(opts) }

func resolveHost(ctx context.Context, timeout time.Duration, server string) (string, error) {
	if a, err := netip.ParseAddr(server); err == nil {
		return a.String(), nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", server)
	if err != nil || len(addrs) == 0 {
		return "", fmt.Errorf("cannot resolve NFS server %s: %v", server, err)
	}
	return addrs[0].String(), nil
}

// probe asks the portmapper where mountd and nfsd listen and pings both, so
// that each failure is named by the daemon that caused it.
func probe(ctx context.Context, timeout time.Duration, server, host string) (int, error) {
	pm, err := dialPlain(ctx, timeout, "the portmapper", server, host, pmapPort)
	if err != nil {
		return 0, err
	}
	defer pm.c.Close()
	ports := map[string]int{}
	for _, p := range []struct {
		name, program string
		prog, vers    uint32
	}{{"mountd", "MOUNT", mountProg, mountVers}, {"nfsd", "NFS", nfsProg, nfsVers}} {
		port, err := pm.getport(p.prog, p.vers)
		if err != nil {
			return 0, netError(err, timeout, "the portmapper", server)
		}
		if port == 0 {
			return 0, fmt.Errorf("%s (%s v3 over TCP) is not registered with the portmapper on %s: is the NFS server running?", p.name, p.program, server)
		}
		ports[p.name] = port
		c, err := dialPlain(ctx, timeout, p.name, server, host, port)
		if err != nil {
			return 0, err
		}
		_, err = c.call(p.prog, p.vers, procNull, nil)
		c.c.Close()
		if err != nil {
			return 0, netError(err, timeout, p.name, server)
		}
	}
	return ports["mountd"], nil
}

func dialPlain(ctx context.Context, timeout time.Duration, peer, server, host string, port int) (*rpcConn, error) {
	d := net.Dialer{Timeout: timeout}
	addr := net.JoinHostPort(host, fmt.Sprint(port))
	c, err := d.DialContext(ctx, "tcp", addr)
	switch {
	case err == nil:
		return &rpcConn{c: c, timeout: timeout, xid: uint32(time.Now().UnixNano())}, nil
	case errors.Is(err, syscall.ECONNREFUSED) && port == pmapPort:
		return nil, fmt.Errorf("no portmapper on %s:%d (connection refused): is rpcbind running on the NFS server?", server, port)
	case errors.Is(err, syscall.ECONNREFUSED):
		return nil, fmt.Errorf("%s on %s:%d refuses connections although the portmapper lists it: restart the NFS server", peer, server, port)
	}
	return nil, netError(err, timeout, peer, server)
}

// netError names a timeout by the daemon that did not answer.
func netError(err error, timeout time.Duration, peer, server string) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &TimeoutError{After: timeout, Peer: peer, Host: server}
	}
	if errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return fmt.Errorf("cannot reach NFS server %s: %w", server, err)
	}
	return fmt.Errorf("talking to %s on %s: %w", peer, server, err)
}
