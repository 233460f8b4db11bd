package qemu

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/assets"
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
			vm := l.StartVM(t, cfg)
			res := wait(t, vm, n, assets.MarkerLinux, ovmfNetBootFailed)
			vm.Stop()
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
