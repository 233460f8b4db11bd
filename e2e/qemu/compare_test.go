package qemu

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/assets"
	"github.com/node-switch/node-switch/e2e/netlab"
)

// RunsEnv sets how many boots per server the comparison makes (default 3).
const RunsEnv = "NODE_SWITCH_E2E_RUNS"

// TestBootTimeVsDnsmasq times scenario 1 (BIOS, SeaBIOS + iPXE ->
// pxelinux -> kernel + initrd -> marker) against node-switch and against
// dnsmasq, alternating, and prints the medians and their ratio (goal: no
// more than 1.05). Both labs have the same link conditions (a bridge, the
// same RA sender) and dnsmasq serves the very bytes node-switch served: its
// boot loaders, kernel, initramfs, and the per-node pxelinux config fetched
// from node-switch over TFTP. It reports; it never fails on timing.
func TestBootTimeVsDnsmasq(t *testing.T) {
	a := getAssets(t)
	runs := envCount(t, RunsEnv, 3)
	if runs < 1 {
		t.Fatalf("%s=0: want a positive number of runs", RunsEnv)
	}
	nsLab, n := newNodeSwitchLab(t, a)
	n.Serve()
	refLab := dnsmasqTwin(t, nsLab, n)
	// A time means something only if that server served the boot over
	// TFTP: each lab's capture must show the boot's transfers.
	for _, l := range []*Lab{nsLab, refLab} {
		if l.Capture() == "" {
			t.Skip("needs tcpdump to check which server served each boot")
		}
	}

	var nsTimes, refTimes []time.Duration
	for i := 1; i <= runs; i++ {
		// Alternate so both servers see the machine in the same state.
		for _, side := range []struct {
			lab   *Lab
			name  string
			times *[]time.Duration
		}{{nsLab, "node-switch", &nsTimes}, {refLab, "dnsmasq", &refTimes}} {
			cfg := benchNode.vm(false, "")
			cfg.Name = fmt.Sprintf("bench-%s-%d", side.name, i)
			start := time.Now()
			d := bootOnce(t, side.lab, cfg, assets.MarkerLinux)
			*side.times = append(*side.times, d)
			if files := tftpFilesSince(t, side.lab.Capture(), start); len(files) < 3 {
				t.Errorf("%s, boot %d: the capture shows TFTP reads of %q from %s, want pxelinux, its config, kernel and initrd: this time is not of that server's boot",
					side.name, i, files, ServerIP)
			}
		}
	}
	mn, mr := median(nsTimes), median(refTimes)
	t.Logf("scenario 1 boot time, %d runs each (QEMU start -> marker):\n"+
		"  node-switch: median %.2fs  runs %s\n  dnsmasq:     median %.2fs  runs %s\n"+
		"  ratio node-switch/dnsmasq = %.3f (goal <= 1.05)",
		runs, mn.Seconds(), secs(nsTimes), mr.Seconds(), secs(refTimes), mn.Seconds()/mr.Seconds())
}

// tftpFilesSince lists the files clients read from ServerIP over TFTP in
// the capture at pcap since start.
func tftpFilesSince(t *testing.T, pcap string, start time.Time) []string {
	t.Helper()
	// tcpdump -U writes each packet as it comes; the last ones may still
	// be on their way to the file.
	time.Sleep(500 * time.Millisecond)
	packets, err := netlab.ReadUDP(pcap)
	if err != nil {
		t.Fatal(err)
	}
	var in []netlab.UDPPacket
	for _, p := range packets {
		if !p.At.Before(start) {
			in = append(in, p)
		}
	}
	var files []string
	for _, tr := range tftpTransfers(in, netip.MustParseAddr(ServerIP)) {
		files = append(files, tr.File)
	}
	return files
}

// dnsmasqTwin starts a lab where dnsmasq serves benchNode what node-switch
// n serves it: the same loaders, kernel and initramfs, and the per-node
// pxelinux config fetched from n over TFTP (busybox's client runs in n's
// lab namespace like a node would). n must be serving.
func dnsmasqTwin(t *testing.T, nsLab *Lab, n *NodeSwitch) *Lab {
	t.Helper()
	cfgName := pxelinuxMACName(benchNode.MAC)
	root := filepath.Join(nsLab.Dir, "dnsmasq-root")
	must(t, os.MkdirAll(filepath.Join(root, "pxelinux.cfg"), 0o755))
	if out, err := nsLab.NS.Run("busybox", "tftp", "-g", "-r", cfgName, "-l", filepath.Join(root, cfgName), ServerIP); err != nil {
		t.Fatalf("fetch %s from node-switch: %v\n%s", cfgName, err, out)
	}
	for _, f := range []string{"pxelinux.0", "ldlinux.c32", "vmlinuz", "initrd.gz"} {
		copyFile(t, filepath.Join(n.BootRoot, f), filepath.Join(root, f))
	}
	cfg, _ := os.ReadFile(filepath.Join(root, cfgName))
	t.Logf("config served to %s (and copied for dnsmasq):\n%s", benchNode.Name, cfg)

	refLab := NewLab(t)
	refLab.StartRA()
	refLab.StartDnsmasq(t, refLab.NS, DnsmasqConfig{Name: "bench", Interface: Bridge, TFTPRoot: root,
		Hosts: []Host{{benchNode.MAC, benchNode.IP}}, BootBIOS: "pxelinux.0", NoProxyDHCPWait: true})
	return refLab
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func secs(ds []time.Duration) string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%.2f", d.Seconds()))
	}
	return strings.Join(out, " ")
}
