package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/node-switch/node-switch/e2e/assets"
	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/e2e/qemu"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/ops"
)

// The demo's VM is umu20, the first of the source system's Linux nodes, with
// its real MAC; the clusters are the names the import maps UM64's two
// pxelinux directories to.
const (
	demoNode    = "umu20"
	demoLinux   = "linux"
	demoWindows = "windows"
	// demoAppend puts the kernel's console, and so the marker, on the
	// serial line the demo shows; quiet keeps the kernel's own messages
	// from burying it.
	demoAppend = "console=ttyS0,115200 quiet"
	demoTap    = "tap0"
)

// demoQEMUMissing names the Debian packages to install before the demo can
// boot a VM; the list is the e2e suite's own for one BIOS machine.
func demoQEMUMissing() []string {
	return netlab.Missing(append(qemu.BIOSNeeds, "ip=iproute2")...)
}

// demoBIOSLoaders reports whether the boot root has what a BIOS machine
// loads from it before the kernel, filling it again if not (the loaders
// may have been installed since the inventory was made).
func demoBIOSLoaders(stderr io.Writer, boot string, sub func(...string) error) bool {
	have := func() bool {
		for _, f := range []string{"pxelinux.0", "ldlinux.c32"} {
			if _, err := os.Stat(filepath.Join(boot, f)); err != nil {
				return false
			}
		}
		return true
	}
	if have() {
		return true
	}
	if err := sub("bootroot", "init", boot); err != nil {
		fmt.Fprintf(stderr, "note: boot root not filled: %v\n", err)
	}
	return have()
}

// demoVM is the one machine of the demo and what it needs to switch it.
type demoVM struct {
	out     io.Writer
	c       *cli.Context
	st      *nodes.Store
	ops     *ops.Ops
	actor   nodes.Actor
	mac     string
	disk    string
	sockDir string
	netns   string // the demo's network namespace

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current QEMU has ended
	tapUp   bool
	want    string      // the marker awaited, "" for none
	got     chan string // the console line holding a marker while want is set
	console *prefixWriter
	closed  sync.Once
}

// prepareDemoVM fetches or builds the boot assets (a Debian kernel, the
// marker initramfs, a stand-in Windows disk), puts the kernel and initramfs
// in the boot root and points the Linux cluster's profile at them.
func prepareDemoVM(c *cli.Context, dir, boot, db, hooksDir string, sub func(...string) error) (*demoVM, error) {
	out := envOf(c).Stdout
	if os.Getenv(assets.CacheEnv) == "" {
		// The assets package defaults to the source tree's e2e/.cache,
		// which an installed binary does not have.
		os.Setenv(assets.CacheEnv, filepath.Join(dir, "cache"))
	}
	fmt.Fprintf(out, "boot assets for the VM: a Debian kernel (the first run fetches it with apt-get download,\n"+
		"about 70 MB; set %s to share a cache), a marker initramfs, a stand-in Windows disk\n", assets.CacheEnv)
	k, err := assets.DebianKernelTo(&prefixWriter{w: out, prefix: "  "})
	if err != nil {
		return nil, fmt.Errorf("demo: boot assets: %w", err)
	}
	initrd, err := assets.Initramfs(nil)
	if err != nil {
		return nil, fmt.Errorf("demo: boot assets: %w", err)
	}
	disk, err := assets.BIOSDisk()
	if err != nil {
		return nil, fmt.Errorf("demo: boot assets: %w", err)
	}
	fmt.Fprintf(out, "  kernel %s, initramfs %s, disk %s\n", k.Version, initrd, disk)
	for src, dst := range map[string]string{k.Vmlinuz: "vmlinuz", initrd: "initrd.gz"} {
		if err := copyFile(src, filepath.Join(boot, dst)); err != nil {
			return nil, fmt.Errorf("demo: boot root: %w", err)
		}
	}

	st, err := nodes.Open(db)
	if err != nil {
		return nil, err
	}
	vm := &demoVM{out: out, c: c, st: st, disk: disk}
	if err := vm.setUp(c, boot, hooksDir, sub); err != nil {
		vm.close()
		return nil, fmt.Errorf("demo: %w", err)
	}
	return vm, nil
}

func (vm *demoVM) setUp(c *cli.Context, boot, hooksDir string, sub func(...string) error) error {
	ctx := c.Context
	cl, err := vm.st.Cluster(ctx, demoLinux)
	if err != nil {
		return err
	}
	p, err := vm.st.Profile(ctx, cl.Profile)
	if err != nil {
		return err
	}
	if p.Kernel != "vmlinuz" || p.Initrd != "initrd.gz" || p.Append != demoAppend {
		// The imported profile names no kernel: the source system's
		// lived in its pxelinux directory, which the import cannot see.
		if err := sub("profile", "set", cl.Profile, "--kernel", "vmlinuz", "--initrd", "initrd.gz",
			"--append", demoAppend, "--boot-root", boot, "--reason", "demo: boot the Debian kernel and a marker initramfs"); err != nil {
			return err
		}
	}
	n, err := vm.st.Node(ctx, demoNode)
	if err != nil {
		return err
	}
	vm.mac = n.MAC
	if vm.ops, err = ops.New(vm.st, ops.Settings{HooksDir: hooksDir, BootRoot: boot}); err != nil {
		return err
	}
	vm.actor = actorOf(c)
	vm.actor.Name = "node-switch demo"
	if vm.sockDir, err = os.MkdirTemp("", "nsdemo"); err != nil {
		return err
	}
	vm.console = &prefixWriter{w: vm.out, prefix: "vm| ", clean: cleanConsole, onLine: vm.onLine}
	return nil
}

// cleanConsole keeps what a terminal would show of one console line: the
// text after its last carriage return, without escape sequences.
func cleanConsole(line string) string {
	parts := strings.Split(line, "\r")
	for i := len(parts) - 1; i >= 0; i-- {
		if s := qemu.CleanLine(parts[i]); s != "" {
			return s
		}
	}
	return ""
}

// showSwitch is the demo proper: umu20 boots Linux through node-switch, is
// moved to the Windows cluster through the operations layer, is reset, and
// boots its local disk.
func (vm *demoVM) showSwitch(ctx context.Context) error {
	if err := vm.startFromLinux(ctx); err != nil {
		return err
	}
	fmt.Fprintf(vm.out, "\n== powering on %s (MAC %s): SeaBIOS, its iPXE ROM, DHCP from node-switch, the iPXE script it renders, kernel over HTTP, Linux\n"+
		"   (iPXE first waits ~15 s for an IPv6 router that this network does not have)\n", demoNode, vm.mac)
	linux := assets.Marker + assets.MarkerLinux
	got := vm.expect(linux)
	if err := vm.powerOn(); err != nil {
		return err
	}
	if err := vm.await(ctx, linux, got, "Linux"); err != nil {
		return err
	}
	fmt.Fprintf(vm.out, "\n== %s runs Linux. The switch: move %s --to %s, through the operations layer as the demo\n", demoNode, demoNode, demoWindows)
	rep, err := vm.ops.Move(ctx, ops.MoveRequest{To: demoWindows,
		Request: ops.Request{Actor: vm.actor, Range: demoNode, Reason: "demo: switch " + demoNode + " to Windows"}})
	if err != nil {
		return err
	}
	if err := vm.printChange(rep); err != nil {
		return err
	}
	fmt.Fprintf(vm.out, "== resetting %s: its next boot asks node-switch again and is told to boot its local disk\n", demoNode)
	disk := assets.Marker + assets.MarkerWindowsBIOS
	got = vm.expect(disk)
	if err := vm.reset(); err != nil {
		return err
	}
	if err := vm.await(ctx, disk, got, "its local disk"); err != nil {
		return err
	}
	fmt.Fprintf(vm.out, "\n== %s booted its local disk (the stand-in Windows): the move took effect at its next boot,\n"+
		"   with no restart of node-switch and no config file written.\n", demoNode)
	return nil
}

// startFromLinux puts umu20 back in the Linux cluster (an earlier demo, or
// the operator, may have moved or masked it), so the switch can be shown.
func (vm *demoVM) startFromLinux(ctx context.Context) error {
	n, err := vm.st.Node(ctx, demoNode)
	if err != nil {
		return err
	}
	req := ops.Request{Actor: vm.actor, Range: demoNode, Reason: "demo: start " + demoNode + " in Linux"}
	if n.Masked {
		rep, err := vm.ops.Mask(ctx, ops.MaskRequest{Request: req, Mask: false})
		if err != nil {
			return err
		}
		if err := vm.printChange(rep); err != nil {
			return err
		}
	}
	if n.Cluster != demoLinux {
		rep, err := vm.ops.Move(ctx, ops.MoveRequest{Request: req, To: demoLinux})
		if err != nil {
			return err
		}
		return vm.printChange(rep)
	}
	return nil
}

// expect starts looking for a marker in what the console prints from now on.
func (vm *demoVM) expect(marker string) <-chan string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	vm.want, vm.got = marker, make(chan string, 1)
	return vm.got
}

// onLine hands the awaited marker's line over; any other system's marker
// is handed over too, so a wrong boot fails at once instead of timing out.
func (vm *demoVM) onLine(line string) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.want != "" && (strings.Contains(line, assets.Marker) || strings.Contains(line, "NODE-SWITCH-FAILED")) {
		vm.got <- line
		vm.want = ""
	}
}

// await waits for the marker expect was asked for. The boot timeout is a
// hang detector: software emulation on a busy machine is slow, not stuck.
func (vm *demoVM) await(ctx context.Context, marker string, got <-chan string, what string) error {
	vm.mu.Lock()
	exited := vm.exited
	vm.mu.Unlock()
	check := func(line string) error {
		if !strings.Contains(line, marker) {
			return fmt.Errorf("%s should have booted %s, but its console says %q", demoNode, what, line)
		}
		return nil
	}
	select {
	case line := <-got:
		return check(line)
	case <-exited:
		// Its last words are printed before QEMU counts as ended.
		select {
		case line := <-got:
			return check(line)
		default:
			return fmt.Errorf("%s: QEMU ended before %s booted", demoNode, what)
		}
	case <-time.After(qemu.BootTimeout):
		return fmt.Errorf("%s did not boot %s within %s", demoNode, what, qemu.BootTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// powerOn starts QEMU in the demo's namespace, its NIC on the bridge where
// node-switch serves. The stand-in Windows powers the VM off once it has
// shown it booted, so powering on again starts a new QEMU.
func (vm *demoVM) powerOn() error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if !vm.tapUp {
		for _, args := range [][]string{
			{"-n", vm.netns, "tuntap", "add", "dev", demoTap, "mode", "tap"},
			{"-n", vm.netns, "link", "set", demoTap, "master", "br0", "up"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
		vm.tapUp = true
	}
	// TCG, as in the e2e suite: KVM inside a virtual machine (nested) has
	// been seen to stop iPXE with an emulation failure.
	cfg := qemu.VMConfig{Name: demoNode, MAC: vm.mac, Disk: vm.disk}
	args := qemu.QEMUArgs(cfg, demoTap, "stdio", vm.monitorPath(), "")
	cmd := exec.Command("ip", append([]string{"netns", "exec", vm.netns, "qemu-system-x86_64"}, args...)...)
	// Standard input stays /dev/null: QEMU would put a terminal into raw
	// mode, and Ctrl-C must reach the demo.
	cmd.Stdout, cmd.Stderr = vm.console, vm.console
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start QEMU: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	vm.cmd, vm.exited = cmd, exited
	return nil
}

func (vm *demoVM) monitorPath() string { return filepath.Join(vm.sockDir, "monitor") }

func (vm *demoVM) running() bool {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.exited == nil {
		return false
	}
	select {
	case <-vm.exited:
		return false
	default:
		return true
	}
}

// reset presses the VM's reset button, or powers it on if it is off.
func (vm *demoVM) reset() error {
	if !vm.running() {
		return vm.powerOn()
	}
	return qemu.Monitor(vm.monitorPath(), "system_reset")
}

// resetOnEnter lets the operator watch the effect of their own moves.
func (vm *demoVM) resetOnEnter(ctx context.Context, in io.Reader) {
	if in == nil {
		return
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() && ctx.Err() == nil {
		vm.expect("")
		if err := vm.reset(); err != nil {
			fmt.Fprintf(vm.out, "demo: reset %s: %v\n", demoNode, err)
		}
	}
}

// stop ends QEMU: SIGTERM, then SIGKILL after a grace period.
func (vm *demoVM) stop() {
	vm.mu.Lock()
	cmd, exited := vm.cmd, vm.exited
	vm.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// close stops QEMU and releases the inventory and the monitor's directory.
func (vm *demoVM) close() {
	vm.closed.Do(func() {
		vm.stop()
		vm.st.Close()
		if vm.sockDir != "" {
			os.RemoveAll(vm.sockDir)
		}
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return out.Close()
}
