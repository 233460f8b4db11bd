package nfse2e

import (
	"context"
	"encoding/hex"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/wol"
)

// TestPowerOn wakes a node whose NIC sits in another namespace: the
// listener there must receive 6x0xff followed by 16 copies of the node's
// MAC, broadcast on the node's subnet.
func TestPowerOn(t *testing.T) {
	netlab.Require(t, "tcpdump")
	lab := netlab.New(t)
	ns := lab.Namespace("pc")
	hostIP, nodeIP := lab.HostLink(ns)
	mac := linkMAC(t, ns)
	l := wolListener(t, ns)
	// The listener sees who sent a datagram, not where it was addressed: a
	// capture on the node's link shows the destination.
	pcap := filepath.Join(t.TempDir(), "wol.pcap")
	dump := ns.Start(nil, "tcpdump", "-i", "hostlink", "-n", "-U", "--immediate-mode", "-w", pcap, "udp port 9")
	if !netlab.WaitFor(20*time.Second, func() bool { return strings.Contains(dump.Output(), "listening on") || dump.Exited() }) || dump.Exited() {
		t.Fatalf("tcpdump did not start:\n%s", dump.Output())
	}

	c := newCLI(t)
	c.must("profile", "add", "day", "--kind", "localdisk")
	c.must("cluster", "add", "lab-day", "--profile", "day")
	c.must("node", "add", "pc01", "--mac", mac, "--ip", nodeIP, "--cluster", "lab-day")
	c.must("node", "add", "pc02", "--mac", "52:54:00:0a:00:02", "--ip", netlab.Spare(nodeIP, 1), "--cluster", "lab-day")

	out := c.must("power", "on", "pc[01-02]")
	if !waitMagic(l, mac) || !waitMagic(l, "52:54:00:0a:00:02") {
		t.Fatalf("no magic packet for both nodes arrived; listener saw:\n%s\npower on said:\n%s", l.Output(), out)
	}
	// A subnet-directed broadcast from the host's address on the link: the
	// node's NIC is asleep and answers no ARP, so a unicast to its address
	// would never reach it on a real network.
	want := map[string]bool{magic(mac): true, magic("52:54:00:0a:00:02"): true}
	bcast := netip.AddrPortFrom(wol.Broadcast(netip.MustParsePrefix(nodeIP+"/29").Masked()), 9)
	// Each node's packet is sent more than once (a datagram can be lost);
	// every copy must be a broadcast.
	var packets []netlab.UDPPacket
	seen := map[string]bool{}
	netlab.WaitFor(20*time.Second, func() bool {
		var err error
		if packets, err = netlab.ReadUDP(pcap); err != nil {
			t.Fatal(err)
		}
		for _, p := range packets {
			seen[hex.EncodeToString(p.Payload)] = true
		}
		return len(seen) >= len(want)
	})
	for m := range want {
		if !seen[m] {
			t.Errorf("capture on the node's link lacks the magic packet %s: %+v", m, packets)
		}
	}
	for _, p := range packets {
		if p.Dst != bcast || p.Src.Addr().String() != hostIP || !want[hex.EncodeToString(p.Payload)] {
			t.Errorf("datagram %s -> %s %x; want from %s to the subnet's broadcast %s, a magic packet for a node", p.Src, p.Dst, p.Payload, hostIP, bcast)
		}
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
