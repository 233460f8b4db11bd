package nfse2e

import (
	"context"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

// TestPowerOn wakes a node whose NIC sits in another namespace: the
// listener there must receive 6x0xff followed by 16 copies of the node's
// MAC, broadcast on the node's subnet.
func TestPowerOn(t *testing.T) {
	lab := netlab.New(t)
	ns := lab.Namespace("pc")
	hostIP, nodeIP := lab.HostLink(ns)
	mac := linkMAC(t, ns)
	l := wolListener(t, ns)

	c := newCLI(t)
	c.must("profile", "add", "day", "--kind", "localdisk")
	c.must("cluster", "add", "lab-day", "--profile", "day")
	c.must("node", "add", "pc01", "--mac", mac, "--ip", nodeIP, "--cluster", "lab-day")
	c.must("node", "add", "pc02", "--mac", "52:54:00:0a:00:02", "--ip", netlab.Spare(nodeIP, 1), "--cluster", "lab-day")

	out := c.must("power", "on", "pc[01-02]")
	if !waitMagic(l, mac) || !waitMagic(l, "52:54:00:0a:00:02") {
		t.Fatalf("no magic packet for both nodes arrived; listener saw:\n%s\npower on said:\n%s", l.Output(), out)
	}
	// A subnet-directed broadcast from the host's address on the link.
	if !strings.Contains(l.Output(), "packet from "+hostIP+":") {
		t.Errorf("packets did not come from the host side %s:\n%s", hostIP, l.Output())
	}

	st, err := nodes.Open(c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.Log(context.Background(), nodes.LogFilter{Action: nodes.ActionPowerOn})
	if err != nil || len(evs) != 1 {
		t.Fatalf("logbook power-on entries: %+v, %v", evs, err)
	}
	if got := nodes.Compress(evs[0].Nodes); got != "pc[01-02]" || !strings.HasPrefix(evs[0].Result, "magic packets sent to pc[01-02]") {
		t.Fatalf("logbook entry %+v", evs[0])
	}

	// A named interface that does not exist fails and says so, naming the node.
	_, errs, err := c.run("power", "on", "pc01", "--wake-interface", "nosuch0")
	if err == nil || !strings.Contains(errs, "could not wake pc01") || !strings.Contains(errs, "interface nosuch0") {
		t.Fatalf("wake via a missing interface: %v\n%s", err, errs)
	}
}
