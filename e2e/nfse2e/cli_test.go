package nfse2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

// TestNFSRootCommands drives the catalog through the binary against a real
// server: add, check (good and broken), list --json, the move refusal that
// a failed check causes, and rm refused while a profile uses the root.
func TestNFSRootCommands(t *testing.T) {
	lab := netlab.New(t)
	ns := lab.Namespace("nfs")
	_, server := lab.HostLink(ns)
	good, noInit, _ := netlab.NFSRootFixtures(t)
	ns.StartGanesha(netlab.GaneshaExport{Path: good}, netlab.GaneshaExport{Path: noInit})

	c := newCLI(t)
	add := func(name, export string) {
		c.must("nfsroot", "add", name, "--server", server, "--export", export, "--kernel", "lab/vmlinuz", "--initrd", "lab/initrd.img",
			"--kernel-version", netlab.FixtureKernelVersion)
	}
	add("lab", good)
	add("broken", noInit)
	c.must("profile", "add", "night", "--kind", "nfsroot", "--nfsroot", "broken")
	c.must("profile", "add", "day", "--kind", "localdisk")
	c.must("cluster", "add", "lab-night", "--profile", "night")
	c.must("cluster", "add", "lab-day", "--profile", "day")
	c.must("node", "add", "pc01", "--mac", "52:54:00:0b:00:01", "--ip", netlab.Spare(server, 0), "--cluster", "lab-day")

	// Never checked: the move is refused with the way out.
	if _, errs, err := c.run("move", "pc01", "--to", "lab-night"); err == nil || !strings.Contains(errs, "never checked") {
		t.Fatalf("move onto an unchecked root: %v\n%s", err, errs)
	}

	out, errs, err := c.run("nfsroot", "check")
	if err == nil {
		t.Fatalf("check of all roots passed although 'broken' has no init:\n%s", out)
	}
	if !strings.Contains(out, "lab: ok: ") || !strings.Contains(out, "broken: FAILED: root "+noInit+" has no /sbin/init") ||
		!strings.Contains(errs, "NFS root broken failed its check") {
		t.Fatalf("check output:\n%s\n%s", out, errs)
	}

	var list []nodes.NFSRoot
	if err := json.Unmarshal([]byte(c.must("nfsroot", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "broken" || list[0].CheckOK || list[0].CheckedAt.IsZero() ||
		list[1].Name != "lab" || !list[1].CheckOK || !strings.Contains(list[1].CheckResult, "/sbin/init -> /usr/lib/systemd/systemd") {
		t.Fatalf("list --json: %+v", list)
	}
	if text := c.must("nfsroot", "list"); !strings.Contains(text, "FAILED: root "+noInit+" has no /sbin/init") {
		t.Fatalf("list:\n%s", text)
	}

	// A failed check refuses the move, quoting the check, unless --force.
	if _, errs, err := c.run("move", "pc01", "--to", "lab-night"); err == nil || !strings.Contains(errs, "has no /sbin/init") || !strings.Contains(errs, "--force") {
		t.Fatalf("move onto a failed root: %v\n%s", err, errs)
	}
	c.must("move", "pc01", "--to", "lab-night", "--force", "--reason", "testing a fix")

	if _, errs, err := c.run("nfsroot", "rm", "broken"); err == nil || !strings.Contains(errs, "profile night uses it") {
		t.Fatalf("rm of a used root: %v\n%s", err, errs)
	}
	if _, errs, err := c.run("nfsroot", "add", "bad", "--server", server, "--export", "srv/x", "--kernel", "k", "--initrd", "i"); err == nil || !strings.Contains(errs, "absolute path") {
		t.Fatalf("add with a relative export: %v\n%s", err, errs)
	}
}
