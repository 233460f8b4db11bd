package qemu

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/assets"
)

// bootAssets are built once per test binary and shared by every scenario.
type bootAssets struct {
	Kernel    *assets.Kernel
	Initrd    string // marker initramfs
	Diskless  string // initramfs with NIC + NFS modules
	BIOSDisk  string
	ESPDisk   string
	BuildTime time.Duration
}

var (
	assetsOnce sync.Once
	assetsVal  bootAssets
	assetsErr  error
)

func getAssets(t *testing.T) bootAssets {
	t.Helper()
	// Skip (no root, no QEMU) before spending a minute on downloads.
	RequireQEMU(t)
	assetsOnce.Do(func() {
		start := time.Now()
		a := &assetsVal
		if a.Kernel, assetsErr = assets.DebianKernel(); assetsErr != nil {
			return
		}
		if a.Initrd, assetsErr = assets.Initramfs(nil); assetsErr != nil {
			return
		}
		if a.Diskless, assetsErr = assets.Initramfs(a.Kernel); assetsErr != nil {
			return
		}
		if a.BIOSDisk, assetsErr = assets.BIOSDisk(); assetsErr != nil {
			return
		}
		if a.ESPDisk, assetsErr = assets.ESPDisk(); assetsErr != nil {
			return
		}
		a.BuildTime = time.Since(start)
	})
	if assetsErr != nil {
		t.Fatalf("boot assets: %v", assetsErr)
	}
	return assetsVal
}

// Files from Debian's pxelinux and syslinux-common packages, for the
// reference servers (node-switch fills its own boot root).
const (
	pxelinuxBin = "/usr/lib/PXELINUX/pxelinux.0"
	ldlinuxC32  = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
)

// referenceTFTPRoot builds a TFTP root for dnsmasq: pxelinux, the kernel,
// the marker initramfs and one pxelinux config (written to cfgName).
func referenceTFTPRoot(t *testing.T, a bootAssets, dir, cfgName, cfg string) {
	t.Helper()
	for src, dst := range map[string]string{pxelinuxBin: "pxelinux.0", ldlinuxC32: "ldlinux.c32",
		a.Kernel.Vmlinuz: "vmlinuz", a.Initrd: "initrd.gz"} {
		copyFile(t, src, filepath.Join(dir, dst))
	}
	p := filepath.Join(dir, cfgName)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

func pxelinuxLinuxConfig(marker string) string {
	return fmt.Sprintf("DEFAULT linux\nPROMPT 0\nTIMEOUT 1\nLABEL linux\n  KERNEL vmlinuz\n  INITRD initrd.gz\n  APPEND console=ttyS0,115200 nsw.marker=%s\n", marker)
}

// pxelinuxMACName is pxelinux's per-MAC config name: 01 (Ethernet) and the
// MAC with dashes.
func pxelinuxMACName(mac string) string {
	return "pxelinux.cfg/01-" + strings.ReplaceAll(strings.ToLower(mac), ":", "-")
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// bootOnce starts a VM, waits for marker, stops the VM and returns the time.
func bootOnce(t *testing.T, l *Lab, cfg VMConfig, marker string) time.Duration {
	t.Helper()
	vm := l.StartVM(t, cfg)
	defer vm.Stop()
	res, err := vm.WaitMarker(assets.Marker+marker, "NODE-SWITCH-FAILED")
	if err != nil {
		t.Fatalf("%v\nserial console (%s):\n%s", err, vm.Serial, vm.Console(2500))
	}
	// A boot needs about the same QEMU CPU whoever serves it: wall time
	// far above it is a starved VM, not a slow server.
	cpu := vm.CPU()
	t.Logf("%s: %q after %.1fs (QEMU CPU %.1fs, %.0f%% of one CPU)", cfg.Name, res.Line, res.Elapsed.Seconds(),
		cpu.Seconds(), 100*cpu.Seconds()/res.Elapsed.Seconds())
	return res.Elapsed
}
