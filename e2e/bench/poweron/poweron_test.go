// Package poweron measures the moment a boot server exists for: the whole
// cluster powered on at once. N simulated PXE clients each do what a BIOS
// node does, DHCP DISCOVER/OFFER/REQUEST/ACK with its own MAC, pxelinux.0
// over TFTP from the next-server, its per-node pxelinux config, then the
// kernel and initrd it names, against node-switch and against dnsmasq
// (same nodes, same files) in one invocation:
//
//	sudo go test -run '^$' -bench PowerOn -benchtime 1x ./e2e/bench/poweron/
//	POWERON_N="200 500 1000" KERNEL_MB=1 INITRD_MB=4 (the defaults)
//	POWERON_PROFILE=FILE (serve's CPU profile of each storm, FILE.N200 ...)
//
// The wire is a plain veth (no delay, no loss): every row is CPU-bound, the
// clients and the server sharing the machine's CPUs. A client holds its
// address on the client namespace's interface from the start (the
// simulation's shortcut: a real node takes it from the ACK), so TFTP comes
// from the address DHCP gave it. Reported per run: time until every node
// has its kernel and initrd, p50/p99 per node, failures, the server's CPU
// seconds and peak RSS.
package poweron

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pin/tftp/v3"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

const srvIP = "10.66.0.1"

func mac(i int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x66, 0, 0, byte(i >> 8), byte(i)}
}
func ip(i int) string { return fmt.Sprintf("10.66.%d.%d", 1+i/250, 1+i%250) }

// TestMain doubles as the fleet of clients, run inside the client
// namespace by re-executing the test binary.
func TestMain(m *testing.M) {
	if n := os.Getenv("POWERON_CLIENTS"); n != "" {
		count, _ := strconv.Atoi(n)
		os.Exit(fleet(count, os.Getenv("POWERON_IFACE")))
	}
	os.Exit(m.Run())
}

// fleet powers on n nodes at once and prints one summary line.
func fleet(n int, iface string) int {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptString(int(fd), syscall.SOL_SOCKET, syscall.SO_BINDTODEVICE, iface)
		})
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:68")
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	conn := pc.(*net.UDPConn)
	var mu sync.Mutex
	waiting := map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4{}
	go func() {
		buf := make([]byte, 1500)
		for {
			k, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			m, err := dhcpv4.FromBytes(buf[:k])
			if err != nil {
				continue
			}
			mu.Lock()
			ch := waiting[m.TransactionID]
			mu.Unlock()
			if ch != nil {
				select {
				case ch <- m:
				default:
				}
			}
		}
	}()
	bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
	// exchange sends req until a reply of the wanted type comes back.
	exchange := func(req *dhcpv4.DHCPv4, want dhcpv4.MessageType) (*dhcpv4.DHCPv4, error) {
		ch := make(chan *dhcpv4.DHCPv4, 4)
		mu.Lock()
		waiting[req.TransactionID] = ch
		mu.Unlock()
		defer func() { mu.Lock(); delete(waiting, req.TransactionID); mu.Unlock() }()
		// PXE ROMs wait 4, 8, 16, 32 s; the benchmark is less patient.
		for try, wait := 0, time.Second; try < 6; try, wait = try+1, wait*2 {
			if _, err := conn.WriteToUDP(req.ToBytes(), bcast); err != nil {
				return nil, err
			}
			timer := time.NewTimer(wait)
			for done := false; !done; {
				select {
				case m := <-ch:
					if m.MessageType() == want {
						timer.Stop()
						return m, nil
					}
				case <-timer.C:
					done = true
				}
			}
		}
		return nil, fmt.Errorf("no %s", want)
	}
	boot := func(i int) error {
		mods := []dhcpv4.Modifier{dhcpv4.WithHwAddr(mac(i)), dhcpv4.WithBroadcast(true),
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
			dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC))}
		disc, err := dhcpv4.NewDiscovery(mac(i), mods...)
		if err != nil {
			return err
		}
		offer, err := exchange(disc, dhcpv4.MessageTypeOffer)
		if err != nil {
			return fmt.Errorf("discover: %w", err)
		}
		req, err := dhcpv4.NewRequestFromOffer(offer, mods...)
		if err != nil {
			return err
		}
		ack, err := exchange(req, dhcpv4.MessageTypeAck)
		if err != nil {
			return fmt.Errorf("request: %w", err)
		}
		next := ack.ServerIPAddr
		if next == nil || next.IsUnspecified() {
			next = ack.ServerIdentifier()
		}
		// get fetches name; only what keep asks for is kept in memory
		// (a thousand kernels would not fit).
		get := func(name string, keep bool) ([]byte, error) {
			c, err := tftp.NewClient(net.JoinHostPort(next.String(), "69"))
			if err != nil {
				return nil, err
			}
			if err := c.SetLocalAddr(ack.YourIPAddr.String()); err != nil {
				return nil, err
			}
			c.SetBlockSize(1468)
			c.SetTimeout(time.Second)
			c.SetRetries(10)
			wt, err := c.Receive(name, "octet")
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			var b bytes.Buffer
			var w io.Writer = &b
			if !keep {
				w = io.Discard
			}
			if _, err := wt.WriteTo(w); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			return b.Bytes(), nil
		}
		if _, err := get(ack.BootFileName, false); err != nil {
			return err
		}
		cfg, err := get("pxelinux.cfg/01-"+strings.ReplaceAll(mac(i).String(), ":", "-"), true)
		if err != nil {
			return err
		}
		var files []string
		for _, line := range strings.Split(string(cfg), "\n") {
			if f := strings.Fields(line); len(f) == 2 && (f[0] == "KERNEL" || f[0] == "INITRD") {
				files = append(files, strings.TrimPrefix(f[1], "::"))
			}
		}
		if len(files) != 2 {
			return fmt.Errorf("config names %v, want a kernel and an initrd:\n%s", files, cfg)
		}
		for _, f := range files {
			if _, err := get(f, false); err != nil {
				return err
			}
		}
		return nil
	}
	start := time.Now()
	times := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i-1] = boot(i)
			times[i-1] = time.Since(start)
		}()
	}
	wg.Wait()
	all := time.Since(start)
	var ok []time.Duration
	failed := 0
	for i, err := range errs {
		if err != nil {
			failed++
			if failed <= 3 {
				fmt.Fprintf(os.Stderr, "node %d: %v\n", i+1, err)
			}
			continue
		}
		ok = append(ok, times[i])
	}
	slices.Sort(ok)
	pct := func(p float64) float64 {
		if len(ok) == 0 {
			return 0
		}
		return ok[min(len(ok)-1, int(p*float64(len(ok))))].Seconds()
	}
	fmt.Printf("all_s=%.2f p50_s=%.2f p99_s=%.2f failed=%d\n", all.Seconds(), pct(0.5), pct(0.99), failed)
	return 0
}

func BenchmarkPowerOn(b *testing.B) {
	netlab.Require(b, "dnsmasq=dnsmasq-base", "/usr/lib/PXELINUX/pxelinux.0=pxelinux",
		"/usr/lib/syslinux/modules/bios/ldlinux.c32=syslinux-common", "grub-mkimage=grub-common",
		"/usr/lib/grub/x86_64-efi/efinet.mod=grub-efi-amd64-bin")
	counts := []int{200, 500, 1000}
	if v := os.Getenv("POWERON_N"); v != "" {
		counts = nil
		for _, f := range strings.Fields(v) {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 || n > 2000 {
				b.Fatalf("POWERON_N: %q: want counts of 1 to 2000", f)
			}
			counts = append(counts, n)
		}
	}
	sizeMB := func(env string, def int) int {
		if v, err := strconv.Atoi(os.Getenv(env)); err == nil && v > 0 {
			return v
		}
		return def
	}
	kernelMB, initrdMB := sizeMB("KERNEL_MB", 1), sizeMB("INITRD_MB", 4)
	for _, n := range counts {
		for _, server := range []string{"node-switch", "dnsmasq"} {
			b.Run(fmt.Sprintf("%s/N=%d", server, n), func(b *testing.B) {
				for range b.N {
					r := powerOn(b, server, n, kernelMB, initrdMB)
					b.Logf("%s N=%d: %s server_cpu_s=%.2f server_peak_rss_MiB=%.1f", server, n, r.line, r.cpu, r.rssMiB)
					for _, kv := range strings.Fields(r.line) {
						if k, v, ok := strings.Cut(kv, "="); ok {
							if f, err := strconv.ParseFloat(v, 64); err == nil {
								b.ReportMetric(f, k)
							}
						}
					}
					b.ReportMetric(r.cpu, "server_cpu_s")
					b.ReportMetric(r.rssMiB, "server_rss_MiB")
					b.ReportMetric(0, "ns/op")
				}
			})
		}
	}
}

type result struct {
	line        string
	cpu, rssMiB float64
}

// profile, from POWERON_PROFILE, is where serve's CPU profiles go (FILE.N200
// ...), taken over 5 s from the start of each node-switch storm.
var profile = os.Getenv("POWERON_PROFILE")

func powerOn(b *testing.B, server string, n, kernelMB, initrdMB int) result {
	bin := netlab.Binary(b)
	lab := netlab.New(b)
	dir := b.TempDir()
	os.Chmod(dir, 0o755) // dnsmasq reads the boot root as nobody
	root := filepath.Join(dir, "boot")
	if out, err := exec.Command(bin, "bootroot", "init", root).CombinedOutput(); err != nil {
		b.Fatalf("bootroot init: %v\n%s", err, out)
	}
	must(b, os.MkdirAll(filepath.Join(root, "linux"), 0o755))
	must(b, os.WriteFile(filepath.Join(root, "linux", "vmlinuz"), make([]byte, kernelMB<<20), 0o644))
	must(b, os.WriteFile(filepath.Join(root, "linux", "initrd.gz"), make([]byte, initrdMB<<20), 0o644))

	srv, cli := lab.Namespace("srv"), lab.Namespace("cli")
	lab.Veth(srv, "veth0", cli, "veth1")
	srv.Addr("veth0", srvIP+"/16")
	var batch strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&batch, "addr add %s/16 dev veth1\n", ip(i))
	}
	bf := filepath.Join(dir, "addrs")
	must(b, os.WriteFile(bf, []byte(batch.String()), 0o644))
	cli.MustRun("ip", "-batch", bf)
	// A thousand neighbours overflow the default table of 1,024.
	for _, ns := range []*netlab.NS{srv, cli} {
		ns.Run("sysctl", "-qw", "net.ipv4.neigh.default.gc_thresh3=8192", "net.ipv4.neigh.default.gc_thresh2=4096")
	}

	var proc *netlab.Proc
	switch server {
	case "node-switch":
		db := filepath.Join(dir, "inventory.db")
		st, err := nodes.Open(db)
		must(b, err)
		inv := nodes.Inventory{
			Profiles: []nodes.Profile{{Name: "linux", Kind: nodes.KindLinux, Kernel: "linux/vmlinuz", Initrd: "linux/initrd.gz"}},
			Clusters: []nodes.Cluster{{Name: "linux", Profile: "linux"}},
		}
		for i := 1; i <= n; i++ {
			inv.Nodes = append(inv.Nodes, nodes.Node{Name: fmt.Sprintf("n%d", i), MAC: mac(i).String(),
				IP: netip.MustParseAddr(ip(i)), Cluster: "linux"})
		}
		_, err = st.Import(context.Background(), nodes.Actor{Name: "bench", Channel: nodes.ChannelCLI}, inv, "bench")
		must(b, err)
		st.Close()
		args := []string{"--db", db, "serve", "--interface", "veth0", "--boot-root", root,
			"--tftp-listen", ":69", "--http-listen", "", "--ssh-listen", ""}
		if profile != "" {
			args = append(args, "--debug-listen", "127.0.0.1:6060")
		}
		proc = srv.Start(nil, bin, args...)
		if !netlab.WaitFor(30*time.Second, func() bool {
			return proc.Exited() || strings.Contains(proc.Output(), "tftp listening") && strings.Contains(proc.Output(), "dhcp listening")
		}) || proc.Exited() {
			b.Fatalf("serve did not come up:\n%s", proc.Output())
		}
	case "dnsmasq":
		var hosts strings.Builder
		must(b, os.MkdirAll(filepath.Join(root, "pxelinux.cfg"), 0o755))
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&hosts, "%s,%s\n", mac(i), ip(i))
			cfg := "DEFAULT linux\nLABEL linux\n  KERNEL ::linux/vmlinuz\n  INITRD ::linux/initrd.gz\n"
			must(b, os.WriteFile(filepath.Join(root, "pxelinux.cfg", "01-"+strings.ReplaceAll(mac(i).String(), ":", "-")), []byte(cfg), 0o644))
		}
		hf := filepath.Join(dir, "hosts")
		must(b, os.WriteFile(hf, []byte(hosts.String()), 0o644))
		proc = srv.Start(nil, "dnsmasq", "--no-daemon", "--port=0", "--interface=veth0", "--bind-interfaces",
			"--dhcp-range=10.66.0.0,static,255.255.0.0", "--dhcp-hostsfile="+hf, "--dhcp-boot=pxelinux.0,,"+srvIP,
			"--enable-tftp", "--tftp-root="+root, "--tftp-max=4000", "--dhcp-leasefile="+filepath.Join(dir, "leases"),
			"--log-facility="+filepath.Join(dir, "dnsmasq.log"), "--conf-file=/dev/null")
		time.Sleep(time.Second)
		if proc.Exited() {
			b.Fatalf("dnsmasq exited:\n%s", proc.Output())
		}
	}
	pid := proc.Cmd.Process.Pid
	cpu0 := cpuSeconds(b, pid)
	self, err := os.Executable()
	must(b, err)
	cmd := cli.Command(self)
	cmd.Env = append(os.Environ(), "POWERON_CLIENTS="+strconv.Itoa(n), "POWERON_IFACE=veth1")
	if server == "node-switch" && profile != "" {
		// A CPU profile of serve over the first seconds of the storm.
		pprof := srv.Start(nil, "curl", "-sS", "-o", fmt.Sprintf("%s.N%d", profile, n),
			"http://127.0.0.1:6060/debug/pprof/profile?seconds=5")
		defer pprof.Wait(30 * time.Second)
	}
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("clients: %v\n%s", err, out)
	}
	line := ""
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "all_s=") {
			line = sc.Text()
		}
	}
	if line == "" {
		b.Fatalf("clients said: %s", out)
	}
	return result{line: line, cpu: cpuSeconds(b, pid) - cpu0, rssMiB: peakRSS(b, pid)}
}

// cpuSeconds is a process's user plus system time (clock ticks of 1/100 s).
func cpuSeconds(b *testing.B, pid int) float64 {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	must(b, err)
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100
}

func peakRSS(b *testing.B, pid int) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(b, err)
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func must(b testing.TB, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
