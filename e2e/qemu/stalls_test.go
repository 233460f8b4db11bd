package qemu

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/assets"
	"github.com/node-switch/node-switch/e2e/netlab"
)

// Environment of TestBootStallsUnderLoad.
const (
	// StallBootsEnv is how many boots each server gets; unset, the test
	// is skipped (it takes minutes: e2e/bench/run.sh runs it).
	StallBootsEnv = "NODE_SWITCH_E2E_STALL_BOOTS"
	// StallLoadEnv is how many busy loops load the machine meanwhile
	// (default: one per CPU).
	StallLoadEnv = "NODE_SWITCH_E2E_STALL_LOAD"
)

// TestBootStallsUnderLoad boots scenario 1 (BIOS: SeaBIOS + iPXE ->
// pxelinux -> kernel + initrd over TFTP -> marker) on a machine loaded on
// purpose, against node-switch with its adaptive retransmit timer, against
// node-switch with the fixed 100 ms timer it replaced
// (--tftp-fixed-timeout), and against dnsmasq serving the same files. The
// three boot at the same time, round after round, so each sees the same
// load (the other two VMs are part of it). From each lab's capture it
// reports, per boot, the TFTP transfers' resends, errors and longest
// silence (the stall), and fails when node-switch's adaptive timer leaves
// a transfer silent longer than its own worst case.
func TestBootStallsUnderLoad(t *testing.T) {
	boots := envCount(t, StallBootsEnv, 0)
	if boots == 0 {
		t.Skipf("set %s=N to boot N times per server under load (minutes; e2e/bench/run.sh does)", StallBootsEnv)
	}
	a := getAssets(t)
	adaptiveLab, adaptive := newNodeSwitchLab(t, a)
	adaptive.Serve()
	fixedLab, fixed := newNodeSwitchLab(t, a)
	fixed.Serve("--tftp-fixed-timeout")
	sides := []*stallSide{
		{name: "node-switch", short: "adaptive", lab: adaptiveLab},
		{name: "node-switch --tftp-fixed-timeout", short: "fixed", lab: fixedLab},
		{name: "dnsmasq", short: "dnsmasq", lab: dnsmasqTwin(t, adaptiveLab, adaptive)},
	}
	for _, s := range sides {
		if s.pcap = s.lab.Capture(); s.pcap == "" {
			t.Skip("needs tcpdump to find the stalls")
		}
	}
	load := envCount(t, StallLoadEnv, runtime.NumCPU())
	busyLoops(t, load)
	t.Logf("%d busy loops on %d CPUs; load average %s", load, runtime.NumCPU(), loadAvg())

	for i := 1; i <= boots; i++ {
		// The VMs start together and are waited for side by side (not as
		// parallel subtests: -parallel would hold some back on a small
		// machine).
		vms := make([]*VM, len(sides))
		for j, s := range sides {
			cfg := benchNode.vm(false, "")
			cfg.Name = fmt.Sprintf("stall-%s-%d", s.short, i)
			vms[j] = s.lab.StartVM(t, cfg)
		}
		results := make([]BootResult, len(sides))
		errs := make([]error, len(sides))
		var wg sync.WaitGroup
		for j, vm := range vms {
			wg.Go(func() { results[j], errs[j] = vm.WaitMarker(assets.Marker+assets.MarkerLinux, "NODE-SWITCH-FAILED") })
		}
		wg.Wait()
		for j, s := range sides {
			cpu := vms[j].CPU()
			vms[j].Stop()
			if errs[j] != nil {
				t.Fatalf("round %d, %s: %v\nserial console (%s):\n%s", i, s.name, errs[j], vms[j].Serial, vms[j].Console(2500))
			}
			s.boots = append(s.boots, s.analyse(t, vms[j].t0, results[j].Elapsed, cpu))
		}
		t.Logf("after round %d: load average %s", i, loadAvg())
	}

	var report strings.Builder
	fmt.Fprintf(&report, "scenario 1 under load (%d busy loops + 3 VMs on %d CPUs, load average %s), %d boots each:\n",
		load, runtime.NumCPU(), loadAvg(), boots)
	for _, s := range sides {
		fmt.Fprintf(&report, "  %-33s boot s:      %s\n  %-33s QEMU CPU s:  %s\n  %-33s max stall s: %s  (resent DATA %d, ERROR packets %d)\n",
			s.name, s.column(func(b stallBoot) time.Duration { return b.took }),
			"", s.column(func(b stallBoot) time.Duration { return b.cpu }), "",
			s.column(func(b stallBoot) time.Duration { return b.stall }), s.sum(func(b stallBoot) int { return b.resent }),
			s.sum(func(b stallBoot) int { return b.errors }))
	}
	t.Log(report.String())
	// The adaptive timer doubles up to a 4 s ceiling: a transfer silent
	// longer than twice that waited on something other than a lost packet
	// to a client that is still there.
	for _, b := range sides[0].boots {
		if b.stall > 2*4*time.Second {
			t.Errorf("node-switch: a transfer was silent for %.1f s: %s", b.stall.Seconds(), b.where)
		}
	}
}

// stallSide is one server of the comparison and what its boots showed.
type stallSide struct {
	name  string
	short string // in file names
	lab   *Lab
	pcap  string
	boots []stallBoot
}

type stallBoot struct {
	// took is QEMU start to marker, cpu the CPU time QEMU had for it.
	took, cpu      time.Duration
	stall          time.Duration
	where          string
	resent, errors int
}

// analyse reads the TFTP transfers of the boot that started at start and
// took d (QEMU using cpu of it) from the side's capture, and logs where the
// time went.
func (s *stallSide) analyse(t *testing.T, start time.Time, d, cpu time.Duration) stallBoot {
	t.Helper()
	// tcpdump -U writes each packet as it comes; the last ones may still
	// be on their way to the file.
	time.Sleep(500 * time.Millisecond)
	packets, err := netlab.ReadUDP(s.pcap)
	if err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
	var in []netlab.UDPPacket
	var dhcp time.Time
	for _, p := range packets {
		if !p.At.Before(start.Add(-time.Second)) && p.At.Before(start.Add(d+time.Second)) {
			in = append(in, p)
			if dhcp.IsZero() && p.Dst.Port() == 67 {
				dhcp = p.At
			}
		}
	}
	b := stallBoot{took: d, cpu: cpu}
	var lines []string
	var tftpEnd time.Time
	transfers := tftpTransfers(in, netip.MustParseAddr(ServerIP))
	// Scenario 1 loads pxelinux, its config, kernel and initrd over TFTP:
	// a boot whose capture holds no transfer measured nothing, and its
	// "no stall" would pass whatever the server did.
	if len(transfers) == 0 {
		t.Errorf("%s: the capture %s holds no TFTP transfer of the boot that started at %s: no stall was measured",
			s.name, s.pcap, start.Format(time.TimeOnly))
	}
	for _, tr := range transfers {
		b.resent += tr.Resent
		b.errors += len(tr.Errors)
		if tr.Stall > b.stall {
			b.stall = tr.Stall
			b.where = fmt.Sprintf("%s, between %s and %s", tr.File, tr.Before, tr.After)
		}
		if tr.End.After(tftpEnd) {
			tftpEnd = tr.End
		}
		lines = append(lines, fmt.Sprintf("  +%6.2fs %-40.40s %6.2fs  requests %d  resent %3d  stall %5.2fs (%s -> %s)  %.80s",
			tr.Start.Sub(start).Seconds(), tr.File, tr.End.Sub(tr.Start).Seconds(), tr.Requests, tr.Resent,
			tr.Stall.Seconds(), tr.Before, tr.After, strings.Join(tr.Errors, "; ")))
	}
	since := func(at time.Time) float64 {
		if at.IsZero() {
			return -1
		}
		return at.Sub(start).Seconds()
	}
	var firstRRQ time.Time
	if len(transfers) > 0 {
		firstRRQ = transfers[0].Start
	}
	t.Logf("%s: marker after %.1f s, QEMU CPU %.1f s; first DHCP +%.1f s, first RRQ +%.1f s, last TFTP packet +%.1f s; TFTP transfers:\n%s",
		s.name, d.Seconds(), cpu.Seconds(), since(dhcp), since(firstRRQ), since(tftpEnd), strings.Join(lines, "\n"))
	return b
}

func (s *stallSide) column(f func(stallBoot) time.Duration) string {
	var out []string
	for _, b := range s.boots {
		out = append(out, fmt.Sprintf("%7.2f", f(b).Seconds()))
	}
	return strings.Join(out, " ")
}

func (s *stallSide) sum(f func(stallBoot) int) int {
	n := 0
	for _, b := range s.boots {
		n += f(b)
	}
	return n
}

// envCount reads a non-negative count from the environment.
func envCount(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a count", name, v)
	}
	return n
}

// busyLoops keeps n shell loops spinning at nice 0 until the test ends:
// the CPU contention a busy head node or CI runner gives the VMs.
func busyLoops(t *testing.T, n int) {
	t.Helper()
	for range n {
		cmd := exec.Command("busybox", "sh", "-c", "while :; do :; done")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("busy loop: %v", err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
