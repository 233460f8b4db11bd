package dhcpe2e

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

// TestTwoServers reproduces the source system's two-server segment: the
// Windows head's DHCP (dnsmasq here) reserves only the Windows nodes and
// ignores every other MAC; node-switch reserves the Linux nodes and masks
// the node being reinstalled by the Windows head. A capture on the bridge
// must show every client offered an address by exactly one server, and a
// client nobody reserves asking and getting no offer from either. That
// silence counts only because the same capture holds, after the last of
// those requests, an exchange with each server (the positive controls).
func TestTwoServers(t *testing.T) {
	netlab.Require(t, "dhclient=isc-dhcp-client", "busybox=busybox-static", "dnsmasq=dnsmasq-base", "tcpdump")
	seg := newSegment(t, "10.77.0.1/24")
	st := inventory(t,
		node("umu20", "02:79:00:00:00:20", "10.77.0.20", "linux"),
		node("umu21", "02:79:00:00:00:21", "10.77.0.21", "linux"),
		node("umu18", "02:79:00:00:00:18", "10.77.0.18", "windows"),
		node("umu22", "02:79:00:00:00:22", "10.77.0.22", "linux"), // control
	)
	if _, err := st.SetMask(t.Context(), actor, nodes.MaskRequest{Range: "umu18", Mask: true, Reason: "reinstall Windows from the Windows head"}); err != nil {
		t.Fatal(err)
	}
	// The Windows head: its own machine on the segment.
	win := seg.client(t, "win", "02:79:00:00:00:02")
	win.Addr("eth0", "10.77.0.2/24")
	dir := t.TempDir()
	dns := win.Start(nil, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
		"--interface=eth0", "--bind-interfaces", "--dhcp-range=10.77.0.0,static,255.255.255.0,1h",
		"--dhcp-host=02:79:00:00:00:18,10.77.0.18", "--dhcp-host=02:79:00:00:00:19,10.77.0.19",
		"--dhcp-host=02:79:00:00:00:17,10.77.0.17", // control
		"--dhcp-ignore=tag:!known", "--dhcp-boot=boot\\x64\\wdsnbp.com", "--log-dhcp", "--log-facility=-",
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--pid-file="+filepath.Join(dir, "dnsmasq.pid"))
	if !netlab.WaitFor(20*time.Second, func() bool { return strings.Contains(dns.Output(), "DHCP, static leases only") || dns.Exited() }) || dns.Exited() {
		t.Fatalf("dnsmasq did not start:\n%s", dns.Output())
	}

	pcap := filepath.Join(dir, "segment.pcap")
	dump := seg.srv.Start(nil, "tcpdump", "-i", "br0", "-n", "-U", "--immediate-mode", "-w", pcap, "udp port 67 or udp port 68")
	if !netlab.WaitFor(20*time.Second, func() bool { return strings.Contains(dump.Output(), "listening on") || dump.Exited() }) || dump.Exited() {
		t.Fatalf("tcpdump did not start:\n%s", dump.Output())
	}
	serve(t, seg.srv, st.Path(), "br0")

	clients := map[string]string{ // MAC -> the one server that must answer
		"02:79:00:00:00:20": "10.77.0.1", // Linux node: node-switch
		"02:79:00:00:00:21": "10.77.0.1",
		"02:79:00:00:00:18": "10.77.0.2", // masked, being reinstalled: Windows head
		"02:79:00:00:00:19": "10.77.0.2", // Windows-only node
		"02:79:00:00:00:99": "",          // nobody's: nobody answers
	}
	const nobody = "02:79:00:00:00:99"
	controls := map[string]string{"02:79:00:00:00:22": "10.77.0.1", "02:79:00:00:00:17": "10.77.0.2"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]lease{}
	i := 0
	for mac := range clients {
		i++
		ns := seg.client(t, fmt.Sprintf("n%d", i), mac)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Half the clients are firmware-like (udhcpc as UEFI PXE),
			// half are dhclient: both servers see both kinds.
			var l lease
			var ok bool
			if i%2 == 0 {
				l, ok = udhcpc(t, ns, uefiPXE...)
			} else {
				l, ok = dhclient(t, ns, 8)
			}
			if ok {
				mu.Lock()
				got[mac] = l
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	// The controls run after every client above has given up or got its
	// lease: a capture that lost packets, or ended early, loses theirs too.
	for mac, want := range controls {
		i++
		if l, ok := dhclient(t, seg.client(t, fmt.Sprintf("n%d", i), mac), 8); !ok || l.Server != want {
			t.Errorf("control %s: leased %+v (ok %v), want it from %s", mac, l, ok, want)
		}
	}
	// The capture is read while tcpdump runs (-U writes whole packets,
	// --immediate-mode hands them over as they come, not per buffer
	// timeout): wait for the controls, then stop.
	var packets []captured
	var err error
	netlab.WaitFor(20*time.Second, func() bool {
		packets, err = readDHCP(pcap)
		if err != nil {
			t.Fatal(err)
		}
		_, missing := missingControls(packets, nobody, controls)
		return len(missing) == 0
	})
	dump.Stop()
	if packets, err = readDHCP(pcap); err != nil {
		t.Fatal(err)
	}
	lastAsked, missing := missingControls(packets, nobody, controls)
	if lastAsked.IsZero() {
		t.Fatalf("the capture holds no request from %s: its silence proves nothing", nobody)
	}
	for _, m := range missing {
		t.Errorf("positive control: no %s after %s's last request (%s): the capture missed packets, so silence proves nothing",
			m, nobody, lastAsked.Format("15:04:05.000000"))
	}
	offers := offersByClient(packets)
	for mac, want := range clients {
		servers := offers[mac]
		switch {
		case want == "" && len(servers) != 0:
			t.Errorf("%s belongs to nobody but got offers from %v", mac, servers)
		case want != "" && (len(servers) != 1 || servers[0] != want):
			t.Errorf("%s got offers from %v, want exactly %s", mac, servers, want)
		}
		if l := got[mac]; want != "" && l.Server != want {
			t.Errorf("%s leased %+v, want it from %s", mac, l, want)
		}
	}
	if t.Failed() {
		t.Logf("dnsmasq:\n%s", dns.Output())
	}
}

// missingControls returns when the capture last saw client ask (zero if
// never) and which controls (client MAC -> server) got no OFFER from their
// server after that.
func missingControls(packets []captured, client string, controls map[string]string) (lastAsked time.Time, missing []string) {
	for _, p := range packets {
		if p.client == client && (p.typ == dhcpv4.MessageTypeDiscover || p.typ == dhcpv4.MessageTypeRequest) {
			lastAsked = p.at
		}
	}
	for mac, srv := range controls {
		seen := false
		for _, p := range packets {
			seen = seen || p.client == mac && p.typ == dhcpv4.MessageTypeOffer && p.server == srv && p.at.After(lastAsked)
		}
		if !seen {
			missing = append(missing, "OFFER from "+srv+" to "+mac)
		}
	}
	sort.Strings(missing)
	return lastAsked, missing
}

// captured is one DHCP message in a capture.
type captured struct {
	at     time.Time
	typ    dhcpv4.MessageType
	client string // chaddr
	server string // option 54, when present
}

// readDHCP reads a pcap of Ethernet frames and returns its DHCP messages in
// capture order.
func readDHCP(path string) ([]captured, error) {
	packets, err := netlab.ReadUDP(path)
	if err != nil {
		return nil, err
	}
	var out []captured
	for _, p := range packets {
		m, err := dhcpv4.FromBytes(p.Payload)
		if err != nil {
			continue
		}
		c := captured{at: p.At, typ: m.MessageType(), client: m.ClientHWAddr.String()}
		if id := m.ServerIdentifier(); id != nil {
			c.server = id.String()
		}
		out = append(out, c)
	}
	return out, nil
}

// offersByClient returns, per client MAC, the sorted distinct server
// identifiers of the OFFERs it was sent.
func offersByClient(packets []captured) map[string][]string {
	sets := map[string]map[string]bool{}
	for _, p := range packets {
		if p.typ != dhcpv4.MessageTypeOffer {
			continue
		}
		if sets[p.client] == nil {
			sets[p.client] = map[string]bool{}
		}
		sets[p.client][p.server] = true
	}
	out := map[string][]string{}
	for mac, s := range sets {
		for srv := range s {
			out[mac] = append(out[mac], srv)
		}
		sort.Strings(out[mac])
	}
	return out
}
