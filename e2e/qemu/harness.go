// Package qemu boots real firmware (SeaBIOS + iPXE, OVMF) in QEMU against a
// boot server in a network namespace, and watches the serial console for the
// marker the booted system prints. It is the harness of the real-firmware
// scenarios; the server under test is node-switch, the reference is dnsmasq.
//
// Topology, all inside one namespace the test creates and removes: bridge
// br0 (10.99.0.1/24, fd99::1/64) with one tap per VM; QEMU, the servers and
// any helper run there too, so no frame reaches a real network.
//
// Run as root (CI does), with the packages RequireQEMU names installed:
//
//	go test -v -timeout 30m ./e2e/qemu/
//	go test -v -timeout 30m -run 'TestScenarios/1-' ./e2e/qemu/   # scenario 1 only
//
// Environment: NODE_SWITCH_E2E_CACHE (asset cache, default e2e/.cache),
// NODE_SWITCH_E2E_LOGS (keep serial consoles, server logs and a pcap per
// lab), NODE_SWITCH_E2E_BIN (test a prebuilt binary), NODE_SWITCH_E2E_RUNS
// (boots per server in the dnsmasq comparison, default 3).
package qemu

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
)

// Addresses of the lab network.
const (
	ServerIP  = "10.99.0.1"
	PrefixLen = 24
	Bridge    = "br0"
	serverIP6 = "fd99::1/64"
)

// Firmware files from Debian's ovmf and ipxe-qemu packages.
const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	// efi-e1000.rom is the combined BIOS+EFI iPXE ROM QEMU uses for e1000
	// by default; naming it makes the dependency on ipxe-qemu explicit.
	ipxeE1000ROM = "/usr/lib/ipxe/qemu/efi-e1000.rom"
)

// BootTimeout bounds one boot to its marker. It is a hang detector, not a
// performance limit: software emulation on a busy 2-core runner has been
// seen to take 3x the quiet-machine time.
var BootTimeout = 6 * time.Minute

// Lab is a namespace with the boot network and a place for logs.
type Lab struct {
	T   testing.TB
	Net *netlab.Lab
	NS  *netlab.NS
	// Dir keeps serial logs, server logs and firmware variables; it is
	// the test's temp dir, so failures can point at files there.
	Dir string
	// sockDir is short: a unix socket path must fit in 108 bytes.
	sockDir string

	mu   sync.Mutex
	taps int
	pcap string // the capture, once one runs
}

// BIOSNeeds are the programs and files ("path=debian-package", as
// netlab.Require takes them) that one BIOS machine booting the marker
// kernel needs: QEMU with SeaBIOS and iPXE, the busybox the initramfs is
// made of, and the tools that fetch the Debian kernel. The demo checks
// the same list.
var BIOSNeeds = []string{"qemu-system-x86_64=qemu-system-x86", "/usr/share/seabios/bios-256k.bin=seabios",
	ipxeE1000ROM + "=ipxe-qemu", "busybox=busybox-static", "apt-get=apt", "dpkg-deb=dpkg"}

// RequireQEMU skips the test unless it can run QEMU scenarios here.
func RequireQEMU(t testing.TB) {
	t.Helper()
	netlab.RequireRoot(t)
	netlab.Require(t, append(BIOSNeeds, ovmfCode+"=ovmf", ovmfVars+"=ovmf",
		"dnsmasq=dnsmasq-base", "ss=iproute2", "tcpdump")...)
}

// LogsEnv names a directory where each lab keeps its serial consoles,
// server logs and captures after the test (CI uploads it); by default they
// go to the test's temp dir and vanish with it.
const LogsEnv = "NODE_SWITCH_E2E_LOGS"

func logDir(t testing.TB) string {
	base := os.Getenv(LogsEnv)
	if base == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(base, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("logs in %s", dir)
	return dir
}

// NewLab creates the namespace and bridge.
func NewLab(t testing.TB) *Lab {
	t.Helper()
	RequireQEMU(t)
	l := &Lab{T: t, Net: netlab.New(t), Dir: logDir(t)}
	sock, err := os.MkdirTemp("", "nsq")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sock) })
	l.sockDir = sock
	l.NS = l.Net.Namespace("pxe")
	l.NS.Bridge(Bridge, fmt.Sprintf("%s/%d", ServerIP, PrefixLen))
	// nodad: the address must be usable at once for the RA sender.
	l.NS.MustRun("ip", "addr", "add", serverIP6, "dev", Bridge, "nodad")
	if os.Getenv(LogsEnv) != "" {
		l.Capture()
	}
	return l
}

// Capture records the boot traffic (headers only) of the lab to a pcap
// next to the serial logs, the timeline of a slow boot, and returns its
// path ("" without tcpdump). A lab has one capture: later calls return it.
func (l *Lab) Capture() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pcap != "" {
		return l.pcap
	}
	if _, err := exec.LookPath("tcpdump"); err != nil {
		l.T.Logf("no tcpdump: no packet capture in %s", l.Dir)
		return ""
	}
	l.pcap = filepath.Join(l.Dir, "boot.pcap")
	p := l.NS.Start(nil, "tcpdump", "-i", Bridge, "-n", "-s", "128", "-U", "-w", l.pcap,
		"udp or icmp6 or tcp")
	netlab.WaitFor(30*time.Second, func() bool { return strings.Contains(p.Output(), "listening on") })
	return l.pcap
}

// StartRA sends IPv6 router advertisements on the bridge. iPXE waits about
// 13 s for one before it moves on to TFTP; every server compared gets the
// same RA sender so their boot times differ only by their own behaviour.
// dnsmasq here does RAs only: no DHCPv4 (no v4 range), no DNS (port 0).
// --user=root: dropping to nobody would change credentials, which clears
// the parent-death signal that kills it if the test binary dies.
func (l *Lab) StartRA() *netlab.Proc {
	l.T.Helper()
	p := l.NS.Start(nil, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--user=root",
		"--interface="+Bridge, "--bind-interfaces", "--enable-ra", "--dhcp-range=fd99::,ra-only",
		"--pid-file="+filepath.Join(l.Dir, "ra.pid"), "--log-facility=-")
	if !netlab.WaitFor(20*time.Second, func() bool { return strings.Contains(p.Output(), "router advertisement on") || p.Exited() }) || p.Exited() {
		l.T.Fatalf("RA sender (dnsmasq) did not start: %s", p.Output())
	}
	return p
}

// WaitUDP waits until proc (which may be nil) listens on each UDP port in
// the lab namespace: the readiness signal for DHCP (67) and TFTP (69)
// servers, whatever they log.
func (l *Lab) WaitUDP(proc *netlab.Proc, ports ...int) error { return waitUDPIn(l.NS, proc, ports...) }

func waitUDPIn(ns *netlab.NS, proc *netlab.Proc, ports ...int) error {
	ok := netlab.WaitFor(60*time.Second, func() bool {
		if proc != nil && proc.Exited() {
			return false
		}
		out, err := ns.Run("ss", "-Hlun")
		if err != nil {
			return false
		}
		for _, p := range ports {
			if !regexp.MustCompile(fmt.Sprintf(`[:*]%d\s`, p)).MatchString(out) {
				return false
			}
		}
		return true
	})
	if proc != nil && proc.Exited() {
		return fmt.Errorf("server exited before listening on UDP %v: %s", ports, tail(proc.Output(), 3000))
	}
	if !ok {
		return fmt.Errorf("nothing listening on UDP %v in %s after 60s", ports, ns.Name)
	}
	return nil
}

// VMConfig describes one machine.
type VMConfig struct {
	Name string // for file names and messages
	UEFI bool
	MAC  string
	// UUID is the SMBIOS UUID (DHCP option 97, pxelinux.cfg/<uuid>).
	UUID string
	// Disk is a raw image attached as the second boot entry. It is opened
	// with snapshot=on: the cached image is never written.
	Disk string
	// MemMiB defaults to 512.
	MemMiB int
	// BMCPort, when set, gives the VM an IPMI BMC outside it: QEMU's
	// ipmi-bmc-extern on a KCS interface, connecting to 127.0.0.1:BMCPort
	// (OpenIPMI's ipmi_sim, which then powers, resets and stops the VM).
	// Such a VM is started by its BMC (see PrepareVM), and its serial log
	// is appended to across power cycles.
	BMCPort int
	// Extra arguments go at the end of QEMU's command line (firmware
	// settings such as -fw_cfg).
	Extra []string
	// SecureBoot (with UEFI) runs Debian's Secure Boot OVMF on q35 with
	// SMM and Microsoft's keys enrolled: Secure Boot enforcing.
	SecureBoot bool
	// Arch is "" (x86-64) or ArchARM64: qemu-system-aarch64's virt
	// machine (Cortex-A57, TCG) with AAVMF, always UEFI, its disk on
	// virtio-blk (virt has no IDE).
	Arch string
}

// ArchARM64 is VMConfig.Arch of an ARM64 UEFI machine.
const ArchARM64 = "aarch64"

// AAVMF, Debian's qemu-efi-aarch64: the ARM64 UEFI firmware and its
// variable store template.
const (
	aavmfCode = "/usr/share/AAVMF/AAVMF_CODE.fd"
	aavmfVars = "/usr/share/AAVMF/AAVMF_VARS.fd"
)

// ARM64Needs are what an ARM64 machine needs beyond RequireQEMU's list.
var ARM64Needs = []string{"qemu-system-aarch64=qemu-system-arm", aavmfCode + "=qemu-efi-aarch64", aavmfVars + "=qemu-efi-aarch64"}

// Debian's ovmf Secure Boot build and the variable store with Microsoft's
// keys enrolled (Secure Boot on).
const (
	ovmfCodeMS = "/usr/share/OVMF/OVMF_CODE_4M.ms.fd"
	ovmfVarsMS = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
)

// VM is a running QEMU.
type VM struct {
	cfg    VMConfig
	lab    *Lab
	proc   *netlab.Proc
	Serial string // path of the serial console capture
	mon    string

	mu     sync.Mutex
	t0     time.Time
	offset int64 // serial bytes before the current boot
	pos    int64 // serial bytes already scanned in this boot
	buf    []byte
}

// StartVM creates a tap on the bridge and starts QEMU on it. BIOS machines
// get SeaBIOS with the iPXE ROM on an e1000; UEFI machines get OVMF with a
// virtio NIC and no option ROM (romfile=), so OVMF's own PXE client runs,
// as on most real UEFI servers.
// t is the (sub)test the VM belongs to: failures are reported there.
func (l *Lab) StartVM(t testing.TB, cfg VMConfig) *VM {
	t.Helper()
	vm, args := l.PrepareVM(t, cfg)
	prog := "qemu-system-x86_64"
	if cfg.Arch == ArchARM64 {
		prog = "qemu-system-aarch64"
	}
	vm.proc = l.NS.Start(nil, prog, args...)
	return vm
}

// PrepareVM creates the VM's tap and returns the VM, to watch its console,
// and QEMU's arguments, for whoever starts it (a BMC powering it on).
func (l *Lab) PrepareVM(t testing.TB, cfg VMConfig) (*VM, []string) {
	t.Helper()
	l.mu.Lock()
	l.taps++
	tap := fmt.Sprintf("tap%d", l.taps)
	l.mu.Unlock()
	l.NS.MustRun("ip", "tuntap", "add", "dev", tap, "mode", "tap")
	l.NS.Enslave(tap, Bridge)

	vm := &VM{cfg: cfg, lab: l,
		Serial: filepath.Join(l.Dir, cfg.Name+".serial.log"),
		mon:    filepath.Join(l.sockDir, cfg.Name+".mon")}
	vars := ""
	if cfg.UEFI || cfg.Arch == ArchARM64 {
		varsFile := ovmfVars
		if cfg.SecureBoot {
			varsFile = ovmfVarsMS
		}
		if cfg.Arch == ArchARM64 {
			varsFile = aavmfVars
		}
		vars = filepath.Join(l.Dir, cfg.Name+".vars.fd")
		data, err := os.ReadFile(varsFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vars, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := QEMUArgs(cfg, tap, "file:"+vm.Serial, vm.mon, vars)
	vm.t0 = time.Now()
	return vm, args
}

// Mark makes later waits look only at what the console prints from now on,
// and times them from now: for a reboot made by something else (a BMC).
func (vm *VM) Mark() {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if fi, err := os.Stat(vm.Serial); err == nil {
		vm.offset, vm.pos, vm.buf = fi.Size(), 0, nil
	}
	vm.t0 = time.Now()
}

// QEMUArgs is the QEMU command line of machine cfg on tap (see StartVM for
// the firmware choices). serial is QEMU's -serial argument ("file:PATH",
// "stdio"), monitor the path of the human monitor's unix socket, vars the
// UEFI machine's own copy of OVMF_VARS (unused for BIOS).
func QEMUArgs(cfg VMConfig, tap, serial, monitor, vars string) []string {
	mem := cfg.MemMiB
	if mem == 0 {
		mem = 512
	}
	serialArgs := []string{"-serial", serial}
	if path, ok := strings.CutPrefix(serial, "file:"); ok && cfg.BMCPort != 0 {
		// Appended to: the BMC stops and starts QEMU, and the console of
		// every boot must stay in the one log the test watches.
		serialArgs = []string{"-chardev", "file,id=ser0,path=" + path + ",append=on", "-serial", "chardev:ser0",
			"-chardev", fmt.Sprintf("socket,id=ipmi0,host=127.0.0.1,port=%d,reconnect=1", cfg.BMCPort),
			"-device", "ipmi-bmc-extern,id=bmc0,chardev=ipmi0", "-device", "isa-ipmi-kcs,bmc=bmc0"}
	}
	args := []string{"-accel", "tcg", "-m", fmt.Sprint(mem), "-smp", "1", "-nographic", "-vga", "none"}
	args = append(args, serialArgs...)
	if cfg.Arch == ArchARM64 {
		return append(append(args, "-M", "virt", "-cpu", "cortex-a57",
			"-monitor", "unix:"+monitor+",server=on,wait=off",
			"-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no",
			"-drive", "if=pflash,format=raw,readonly=on,file="+aavmfCode,
			"-drive", "if=pflash,format=raw,file="+vars,
			"-device", "virtio-net-pci,netdev=n0,mac="+cfg.MAC+",romfile=,bootindex=1"),
			armDisk(cfg)...)
	}
	args = append(args,
		"-monitor", "unix:"+monitor+",server=on,wait=off",
		"-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no",
		// The stand-in Windows MBR writes here to end the VM.
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
	)
	if cfg.UUID != "" {
		args = append(args, "-uuid", cfg.UUID)
	}
	if cfg.UEFI {
		code := ovmfCode
		if cfg.SecureBoot {
			code = ovmfCodeMS
			// The SMM build needs q35 with SMM; "secure" keeps the
			// variable store out of the guest's reach.
			args = append(args, "-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on")
		}
		args = append(args,
			"-drive", "if=pflash,format=raw,readonly=on,file="+code,
			"-drive", "if=pflash,format=raw,file="+vars,
			"-device", "virtio-net-pci,netdev=n0,mac="+cfg.MAC+",romfile=,bootindex=1")
	} else {
		args = append(args, "-device", "e1000,netdev=n0,mac="+cfg.MAC+",romfile="+ipxeE1000ROM+",bootindex=1")
	}
	if cfg.Disk != "" {
		args = append(args, "-drive", "file="+cfg.Disk+",format=raw,if=none,id=d0,snapshot=on",
			"-device", "ide-hd,drive=d0,bootindex=2")
	}
	args = append(args, cfg.Extra...)
	return args
}

// armDisk attaches an ARM64 machine's disk, with its extra arguments.
func armDisk(cfg VMConfig) []string {
	var args []string
	if cfg.Disk != "" {
		args = append(args, "-drive", "file="+cfg.Disk+",format=raw,if=none,id=d0,snapshot=on",
			"-device", "virtio-blk-pci,drive=d0,bootindex=2")
	}
	return append(args, cfg.Extra...)
}

// BootResult is what a wait for a marker saw.
type BootResult struct {
	Elapsed time.Duration // since QEMU start or the last Reset
	Line    string        // the serial line holding the marker
}

// WaitMarker waits for a serial line containing marker in the current boot.
// It fails fast if QEMU exits or a console line matches one of failMarkers
// (regular expressions).
func (vm *VM) WaitMarker(marker string, failMarkers ...string) (BootResult, error) {
	deadline := time.Now().Add(BootTimeout)
	var fail []*regexp.Regexp
	for _, fm := range failMarkers {
		re, err := regexp.Compile(fm)
		if err != nil {
			return BootResult{}, fmt.Errorf("fail marker %q: %w", fm, err)
		}
		fail = append(fail, re)
	}
	for {
		// A VM its BMC started may stop and start again: only the console
		// and the deadline end the wait.
		exited := vm.proc != nil && vm.proc.Exited()
		line, failed := vm.scan(marker, fail)
		if line != "" {
			return BootResult{Elapsed: time.Since(vm.t0), Line: line}, nil
		}
		if failed != "" {
			return BootResult{}, fmt.Errorf("%s: console says %q instead of %q", vm.cfg.Name, failed, marker)
		}
		if exited {
			return BootResult{}, fmt.Errorf("%s: QEMU exited without %q on the console: %s", vm.cfg.Name, marker, strings.TrimSpace(vm.proc.Output()))
		}
		if time.Now().After(deadline) {
			return BootResult{}, fmt.Errorf("%s: no %q on the console after %s", vm.cfg.Name, marker, BootTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// scan reads what the console wrote since the last scan and looks for
// complete lines holding the marker or a failure marker.
func (vm *VM) scan(marker string, failMarkers []*regexp.Regexp) (line, failed string) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	f, err := os.Open(vm.Serial)
	if err != nil {
		return "", ""
	}
	defer f.Close()
	if _, err := f.Seek(vm.offset+vm.pos, 0); err != nil {
		return "", ""
	}
	chunk := make([]byte, 64<<10)
	for {
		n, _ := f.Read(chunk)
		if n == 0 {
			break
		}
		vm.buf = append(vm.buf, chunk[:n]...)
		vm.pos += int64(n)
	}
	for {
		i := bytes.IndexByte(vm.buf, '\n')
		if i < 0 {
			return "", ""
		}
		l := string(bytes.TrimRight(vm.buf[:i], "\r"))
		vm.buf = vm.buf[i+1:]
		if strings.Contains(l, marker) {
			return CleanLine(l), ""
		}
		for _, fm := range failMarkers {
			if fm.MatchString(l) {
				return "", CleanLine(l)
			}
		}
	}
}

// ansiRE matches CSI sequences and the full reset (ESC c) SeaBIOS starts with.
var ansiRE = regexp.MustCompile(`\x1b(\[[0-9;?]*[A-Za-z]|c)`)

// CleanLine drops the terminal escapes OVMF and iPXE sprinkle over their
// consoles.
func CleanLine(s string) string { return strings.TrimSpace(ansiRE.ReplaceAllString(s, "")) }

// Reset presses the reset button: the same machine (MAC, disk, firmware
// variables) boots again, as after an operator's reboot. Markers are then
// looked for only in what the console prints after the reset.
func (vm *VM) Reset() error {
	vm.mu.Lock()
	fi, err := os.Stat(vm.Serial)
	if err == nil {
		vm.offset, vm.pos, vm.buf = fi.Size(), 0, nil
	}
	vm.mu.Unlock()
	if err := vm.monitor("system_reset"); err != nil {
		return err
	}
	vm.mu.Lock()
	vm.t0 = time.Now()
	vm.mu.Unlock()
	return nil
}

// monitor sends one command to the QEMU human monitor.
func (vm *VM) monitor(cmd string) error {
	if err := Monitor(vm.mon, cmd); err != nil {
		return fmt.Errorf("%s: %w", vm.cfg.Name, err)
	}
	return nil
}

// Monitor sends one command to the QEMU human monitor listening on the unix
// socket sock, and returns once QEMU has taken it.
func Monitor(sock, cmd string) error {
	c, err := net.DialTimeout("unix", sock, 10*time.Second)
	if err != nil {
		return fmt.Errorf("QEMU monitor: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(cmd + "\n")); err != nil {
		return fmt.Errorf("QEMU monitor %q: %w", cmd, err)
	}
	// Read the prompt echo so the command is processed before we close.
	b := make([]byte, 4096)
	var got []byte
	for !bytes.Contains(got, []byte(cmd)) {
		n, err := c.Read(b)
		if err != nil {
			return fmt.Errorf("QEMU monitor %q: %w", cmd, err)
		}
		got = append(got, b[:n]...)
	}
	return nil
}

// CPU is the CPU time (user and system) QEMU has used so far: a boot's
// own cost, which its wall time on a busy machine is not.
func (vm *VM) CPU() time.Duration {
	if vm.proc == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", vm.proc.Cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// utime and stime are the 14th and 15th fields, in clock ticks
	// (USER_HZ, 100 on Linux); the command name before them may hold
	// spaces. ip netns exec execs QEMU, so the pid is QEMU's.
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}

// Stop ends the VM.
func (vm *VM) Stop() {
	if vm.proc != nil {
		vm.proc.Stop()
	}
}

// Console returns the tail of everything the serial console printed, with
// terminal escapes removed, for failure messages.
func (vm *VM) Console(n int) string {
	data, _ := os.ReadFile(vm.Serial)
	return tail(ansiRE.ReplaceAllString(string(data), ""), n)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
