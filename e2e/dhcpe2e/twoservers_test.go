package dhcpe2e

import (
	"encoding/binary"
	"fmt"
	"os"
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
// must show every client offered an address by exactly one server.
func TestTwoServers(t *testing.T) {
	netlab.Require(t, "dhclient=isc-dhcp-client", "busybox=busybox-static", "dnsmasq=dnsmasq-base", "tcpdump")
	seg := newSegment(t, "10.77.0.1/24")
	st := inventory(t,
		node("umu20", "02:79:00:00:00:20", "10.77.0.20", "linux"),
		node("umu21", "02:79:00:00:00:21", "10.77.0.21", "linux"),
		node("umu18", "02:79:00:00:00:18", "10.77.0.18", "windows"),
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
		"--dhcp-ignore=tag:!known", "--dhcp-boot=boot\\x64\\wdsnbp.com", "--log-dhcp", "--log-facility=-",
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--pid-file="+filepath.Join(dir, "dnsmasq.pid"))
	if !netlab.WaitFor(20*time.Second, func() bool { return strings.Contains(dns.Output(), "DHCP, static leases only") || dns.Exited() }) || dns.Exited() {
		t.Fatalf("dnsmasq did not start:\n%s", dns.Output())
	}

	pcap := filepath.Join(dir, "segment.pcap")
	dump := seg.srv.Start(nil, "tcpdump", "-i", "br0", "-n", "-U", "-w", pcap, "udp port 67 or udp port 68")
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
	time.Sleep(500 * time.Millisecond) // let the last packets reach the capture file
	dump.Stop()

	offers, err := offersByClient(pcap)
	if err != nil {
		t.Fatal(err)
	}
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

// offersByClient reads a pcap of Ethernet frames and returns, per client
// MAC, the sorted distinct server identifiers of the OFFERs it was sent.
func offersByClient(path string) (map[string][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 {
		return nil, fmt.Errorf("%s: not a little-endian microsecond pcap", path)
	}
	sets := map[string]map[string]bool{}
	for off := 24; off+16 <= len(b); {
		incl := int(binary.LittleEndian.Uint32(b[off+8:]))
		if off+16+incl > len(b) {
			break
		}
		frame := b[off+16 : off+16+incl]
		off += 16 + incl
		if len(frame) < 14+20+8 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
			continue
		}
		ihl := int(frame[14]&0x0f) * 4
		if len(frame) < 14+ihl+8 {
			continue
		}
		m, err := dhcpv4.FromBytes(frame[14+ihl+8:])
		if err != nil || m.MessageType() != dhcpv4.MessageTypeOffer {
			continue
		}
		mac := m.ClientHWAddr.String()
		if sets[mac] == nil {
			sets[mac] = map[string]bool{}
		}
		sets[mac][m.ServerIdentifier().String()] = true
	}
	out := map[string][]string{}
	for mac, s := range sets {
		for srv := range s {
			out[mac] = append(out[mac], srv)
		}
		sort.Strings(out[mac])
	}
	return out, nil
}
