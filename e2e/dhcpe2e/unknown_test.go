package dhcpe2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

const (
	knownBase  = "02:7c:00:00:00:00" // perfdhcp -R knownNodes walks up from here
	knownNodes = 50
	floodBase  = "02:7d:00:00:00:00"
	floodMACs  = 10000
)

// TestUnknownMACsSeenNeverAnswered: busybox udhcpc from an unreserved MAC,
// asking as UEFI PXE firmware, gets no answer and is listed by "node
// unknown --json" with what it said. Then perfdhcp sends DISCOVERs from
// 10,000 spoofed MACs: the list stops at its cap, the cached inventory is
// never reread for it, and reserved nodes are answered during the flood.
// Known-node DORA latency (perfdhcp, 50 reserved MACs at 25/s) before and
// during the flood and the server's CPU per flood packet are logged (-v).
func TestUnknownMACsSeenNeverAnswered(t *testing.T) {
	netlab.Require(t, "perfdhcp=kea-admin", "busybox=busybox-static")
	seg := newSegment(t, "10.78.0.1/24")
	var reserved []nodes.Node
	for i := range knownNodes {
		reserved = append(reserved, node(fmt.Sprintf("k%02d", i), fmt.Sprintf("02:7c:00:00:00:%02x", i), fmt.Sprintf("10.78.0.%d", 10+i), "linux"))
	}
	st := inventory(t, reserved...)
	stranger := seg.client(t, "cx", "02:7b:00:00:00:99")
	good := seg.client(t, "ok", "02:7c:00:00:00:05")
	perf := seg.client(t, "kn", "02:7b:00:00:01:00")
	perf.Addr("eth0", "10.78.0.200/24") // perfdhcp sends as a relay from this address
	flooder := seg.client(t, "fl", "02:7b:00:00:02:00")
	flooder.Addr("eth0", "10.78.0.201/24")
	const max = 1000
	srv := serve(t, seg.srv, st.Path(), "br0", "--log-level", "info", "--dhcp-unknown-max", strconv.Itoa(max))
	pid := srv.Cmd.Process.Pid // "ip netns exec" execs node-switch

	if l, ok := udhcpc(t, stranger, "-t", "2", "-T", "1", "-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007", "-x", "hostname:stray"); ok {
		t.Fatalf("an unreserved MAC got %+v", l)
	}
	// Known-node latency without a flood, while the sightings are flushed.
	quiet := knownDORA(t, perf)
	var got []map[string]any
	if !netlab.WaitFor(10*time.Second, func() bool { got = unknownJSON(t, st.Path()); return len(got) > 0 }) {
		t.Fatalf("the unreserved MAC never appeared in node unknown --json:\n%s", srv.Output())
	}
	want := map[string]any{"mac": "02:7b:00:00:00:99", "firmware": "uefi", "vendor_class": "PXEClient:Arch:00007:UNDI:003016",
		"interface": "br0", "relay": nil, "hostname": "stray"}
	for k, v := range want {
		if got[0][k] != v {
			t.Errorf("node unknown: %s = %v, want %v (all: %v)", k, got[0][k], v, got[0])
		}
	}
	if n, _ := got[0]["times_seen"].(float64); n < 2 {
		t.Errorf("times_seen %v, want at least 2 (udhcpc retries)", got[0]["times_seen"])
	}
	if len(got) != 1 {
		t.Errorf("perfdhcp's reserved MACs were listed as unknown: %v", got)
	}

	cpu0 := cpuTicks(t, pid)
	flood := flooder.Start(nil, "perfdhcp", "-4", "-r", "2500", "-n", strconv.Itoa(floodMACs), "-p", "8", "-R", strconv.Itoa(floodMACs),
		"-b", "mac="+floodBase, "-l", "eth0")
	time.Sleep(500 * time.Millisecond) // let the flood get going
	during := knownDORA(t, perf)
	if l, ok := udhcpc(t, good); !ok || l.IP != "10.78.0.15" {
		t.Errorf("a reserved node got %+v ok=%v during the flood", l, ok)
	}
	flood.Wait(30 * time.Second)
	cpu1 := cpuTicks(t, pid)
	sent := perfSent(flood.Output())
	if sent < floodMACs/2 {
		t.Fatalf("perfdhcp sent only %d DISCOVERs:\n%s", sent, flood.Output())
	}
	if !netlab.WaitFor(10*time.Second, func() bool { return len(unknownJSON(t, st.Path())) == max }) {
		t.Fatalf("after %d spoofed MACs node unknown lists %d, want the cap %d", sent, len(unknownJSON(t, st.Path())), max)
	}
	srv.Stop()
	out := srv.Output()
	if m := regexp.MustCompile(`reloads=(\d+)`).FindStringSubmatch(out); m == nil || m[1] != "1" {
		t.Errorf("the DHCP cache was reread after its first load (want reloads=1):\n%s", lastLines(out, 5))
	}
	if len(unknownJSON(t, st.Path())) != max {
		t.Errorf("the last flush grew the list past its cap %d", max)
	}
	hz := 100.0 // USER_HZ, fixed at 100 on Linux
	t.Logf("known-node DORA, 50 reserved MACs at 25/s: quiet %s; during a %d-MAC flood %s", quiet, sent, during)
	t.Logf("server CPU during the flood: %.1f µs per spoofed DISCOVER (%d ticks for %d sent)",
		float64(cpu1-cpu0)/hz*1e6/float64(sent), cpu1-cpu0, sent)
	if quiet.acks == 0 || during.acks == 0 {
		t.Errorf("perfdhcp got no ACK for reserved nodes: quiet %s, during the flood %s", quiet, during)
	}
}

// dora is what perfdhcp measured for reserved nodes.
type dora struct {
	sent, acks     int
	offer, ack     string // average delays, ms
	perfdhcpOutput string
}

func (d dora) String() string {
	return fmt.Sprintf("%d/%d exchanges completed, avg DISCOVER→OFFER %s ms, REQUEST→ACK %s ms", d.acks, d.sent, d.offer, d.ack)
}

// knownDORA runs 3 s of perfdhcp over the reserved MACs at 25 exchanges/s:
// each node asks about twice, well inside the per-MAC rate limit.
func knownDORA(t *testing.T, ns *netlab.NS) dora {
	t.Helper()
	out, _ := ns.Run("perfdhcp", "-4", "-r", "25", "-p", "3", "-R", strconv.Itoa(knownNodes), "-b", "mac="+knownBase, "-l", "eth0")
	d := dora{sent: perfSent(out), perfdhcpOutput: out}
	if m := regexp.MustCompile(`received packets: (\d+)`).FindAllStringSubmatch(out, -1); len(m) >= 2 {
		d.acks, _ = strconv.Atoi(m[1][1])
	}
	if m := regexp.MustCompile(`avg delay: ([0-9.]+) ms`).FindAllStringSubmatch(out, -1); len(m) >= 2 {
		d.offer, d.ack = m[0][1], m[1][1]
	}
	return d
}

// perfSent is the number of DISCOVERs perfdhcp reports sending.
func perfSent(out string) int {
	m := regexp.MustCompile(`sent packets: (\d+)`).FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func unknownJSON(t *testing.T, db string) []map[string]any {
	t.Helper()
	b, err := exec.Command(netlab.Binary(t), "--db", db, "node", "unknown", "--json").Output()
	if err != nil {
		t.Fatalf("node unknown --json: %v", err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("node unknown --json: %v\n%s", err, b)
	}
	return got
}

// cpuTicks is the user + system time the process has used, in ticks.
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
