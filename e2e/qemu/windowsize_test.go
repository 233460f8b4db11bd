package qemu

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/assets"
	"github.com/node-switch/node-switch/e2e/netlab"
)

// BenchEnv switches on the QEMU measurements that only e2e/bench/run.sh
// needs; CI's suite proves the same boots once and has no use for repeats.
const BenchEnv = "NODE_SWITCH_E2E_BENCH"

// tftpSentRE picks serve's debug line for one finished transfer, and
// logAttrRE its key=value attributes.
var (
	tftpSentRE = regexp.MustCompile(`(?m)^.*msg="tftp sent".*$`)
	logAttrRE  = regexp.MustCompile(`(\w+)=("[^"]*"|\S*)`)
)

// tftpSent is every transfer serve logged as finished, each as its
// attributes.
func tftpSent(log string) []map[string]string {
	var out []map[string]string
	for _, line := range tftpSentRE.FindAllString(log, -1) {
		attrs := map[string]string{}
		for _, m := range logAttrRE.FindAllStringSubmatch(line, -1) {
			attrs[m[1]] = strings.Trim(m[2], `"`)
		}
		out = append(out, attrs)
	}
	return out
}

// windowNegotiation reads the capture from start on: the windowsize each
// RRQ to ServerIP asked for, the one the server's OACK to that client port
// granted, and which files got an OACK at all (were served), by file.
func windowNegotiation(t *testing.T, pcap string, start time.Time) (asked, granted map[string]int, oacked map[string]bool) {
	t.Helper()
	// tcpdump -U writes each packet as it comes; the last ones may still
	// be on their way to the file.
	time.Sleep(500 * time.Millisecond)
	packets, err := netlab.ReadUDP(pcap)
	if err != nil {
		t.Fatal(err)
	}
	asked, granted, oacked = map[string]int{}, map[string]int{}, map[string]bool{}
	files := map[netip.AddrPort]string{} // client port -> file it asked for
	server := netip.MustParseAddr(ServerIP)
	for _, p := range packets {
		if p.At.Before(start) || len(p.Payload) < 2 {
			continue
		}
		op := binary.BigEndian.Uint16(p.Payload)
		switch {
		case op == tftpRRQ && p.Dst == netip.AddrPortFrom(server, 69):
			file, opts := tftpOptions(p.Payload[2:])
			files[p.Src] = file
			if w, ok := opts["windowsize"]; ok {
				asked[file], _ = strconv.Atoi(w)
			}
		case op == tftpOACK && p.Src.Addr() == server:
			// An OACK is options only: an empty file and mode before them.
			_, opts := tftpOptions(append([]byte("\x00\x00"), p.Payload[2:]...))
			file := files[p.Dst]
			if file == "" {
				continue
			}
			oacked[file] = true
			if w, ok := opts["windowsize"]; ok {
				granted[file], _ = strconv.Atoi(w)
			}
		}
	}
	return asked, granted, oacked
}

// tftpOptions splits an RRQ's body (file, mode, then option/value pairs,
// each NUL-terminated) into the file and its options, names lower-cased.
func tftpOptions(b []byte) (string, map[string]string) {
	f := strings.Split(string(b), "\x00")
	opts := map[string]string{}
	for i := 2; i+1 < len(f); i += 2 {
		opts[strings.ToLower(f[i])] = f[i+1]
	}
	return f[0], opts
}

// loggedWindow is the window serve logged for its last finished transfer
// of file to the client at ip (0 when it logged none).
func loggedWindow(log, ip, file string) int {
	w := 0
	for _, tr := range tftpSent(log) {
		if (tr["client"] == ip || strings.HasPrefix(tr["client"], ip+":")) && strings.TrimPrefix(tr["file"], "/") == strings.TrimPrefix(file, "/") {
			w, _ = strconv.Atoi(tr["window"])
		}
	}
	return w
}

// TestUEFIWindowsize times scenario 3 (OVMF → shim/GRUB → kernel + initrd
// over TFTP → marker) with RFC 7440 windowsize granted (the default: OVMF
// asks for 4 when it loads the boot loader) and refused (--tftp-window 1,
// every block its own round trip), alternating, and prints each boot's
// time and what the server logged for every transfer to that node. It
// reports; it fails only when a boot fails or the windows are not
// what the server was told to grant.
func TestUEFIWindowsize(t *testing.T) {
	if os.Getenv(BenchEnv) == "" {
		t.Skipf("a measurement for e2e/bench/run.sh: set %s=1 to run it", BenchEnv)
	}
	a := getAssets(t)
	runs := max(envCount(t, RunsEnv, 2), 1)
	l, n := newNodeSwitchLab(t, a)
	// The capture shows what OVMF asked for (windowsize in its RRQ) and
	// what the server granted (its OACK).
	pcap := l.Capture()
	if pcap == "" {
		t.Skip("needs tcpdump to see the windowsize OVMF asks for")
	}
	sides := []struct {
		name  string
		flags []string
		// windowed says whether some transfer (OVMF's loader; GRUB never
		// asks) must have a window above 1, or none may.
		windowed bool
		times    []time.Duration
	}{
		{name: "windowsize granted", windowed: true},
		{name: "windowsize refused", flags: []string{"--tftp-window", "1"}},
	}
	var report []string
	for i := 1; i <= runs; i++ {
		for s := range sides {
			side := &sides[s]
			n.Serve(side.flags...)
			cfg := uefiNode.vm(true, "")
			cfg.Name = fmt.Sprintf("window-%d-%d", s, i)
			start := time.Now()
			vm := l.StartVM(t, cfg)
			res := wait(t, vm, n, assets.MarkerLinux, ovmfNetBootFailed)
			vm.Stop()
			asked, granted, oacked := windowNegotiation(t, pcap, start)
			side.times = append(side.times, res.Elapsed)
			report = append(report, fmt.Sprintf("%s, boot %d: %.1fs", side.name, i, res.Elapsed.Seconds()))
			sent, maxWindow := 0, 0
			for _, tr := range tftpSent(n.Log()) {
				if tr["client"] != uefiNode.IP && !strings.HasPrefix(tr["client"], uefiNode.IP+":") {
					continue
				}
				sent++
				w, _ := strconv.Atoi(tr["window"])
				maxWindow = max(maxWindow, w)
				report = append(report, fmt.Sprintf("    %-22s %10s  %5s datagrams, blksize %s, window %s, %s resent",
					tr["file"], tr["duration"], tr["datagrams"], tr["blksize"], tr["window"], tr["retransmits"]))
			}
			if side.windowed != (maxWindow > 1) {
				t.Errorf("%s: largest window of the boot's transfers %d, want windowed=%v", side.name, maxWindow, side.windowed)
			}
			// OVMF asks for a window when it loads the boot loader; the
			// measurement is of granting what it asked, so the window
			// granted (OACK) and used (serve's log) must be exactly that,
			// or 1 when the server was told to refuse.
			served := 0
			for file, w := range asked {
				if !oacked[file] {
					continue // not served: shim asks for optional files that are not there
				}
				served++
				want := w
				if !side.windowed {
					want = 1
				}
				if g, ok := granted[file]; !ok && side.windowed || ok && g != want {
					t.Errorf("%s: %s: asked windowsize %d, the OACK granted %d (present %v), want %d", side.name, file, w, g, ok, want)
				}
				if side.windowed && w <= 1 {
					t.Errorf("%s: %s: OVMF asked windowsize %d: no window to measure", side.name, file, w)
				}
				if logged := loggedWindow(n.Log(), uefiNode.IP, file); logged != want {
					t.Errorf("%s: %s: serve logged window %d, want %d", side.name, file, logged, want)
				}
			}
			if served == 0 {
				t.Errorf("%s: no file the server sent was asked for with a windowsize: there was nothing to grant or refuse", side.name)
			}
			if sent == 0 {
				t.Errorf("%s: serve logged no finished transfer to %s:\n%s", side.name, uefiNode.IP, tail(n.Log(), 3000))
			}
			n.StopServe()
		}
	}
	granted, refused := median(sides[0].times), median(sides[1].times)
	t.Logf("UEFI PXE boot to the Linux marker, %d boots each (QEMU start -> marker):\n%s\n"+
		"  windowsize granted: median %.2fs  runs %s\n  windowsize refused: median %.2fs  runs %s\n"+
		"  ratio granted/refused = %.3f",
		runs, strings.Join(report, "\n"), granted.Seconds(), secs(sides[0].times),
		refused.Seconds(), secs(sides[1].times), granted.Seconds()/refused.Seconds())
}
