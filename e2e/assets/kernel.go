package assets

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Kernel is a Debian kernel unpacked into the cache: the image the network
// boot loads and the modules (with their dependencies) a diskless initramfs
// must load itself, because Debian builds NIC drivers and NFS as modules.
type Kernel struct {
	Version string // e.g. 6.1.0-56-amd64
	Vmlinuz string
	// Modules are .ko paths in load order: every module after the ones it
	// depends on.
	Modules []string
}

// DisklessModules are what an initramfs needs to mount its root over NFSv3
// with the NICs QEMU emulates (e1000 for SeaBIOS+iPXE, virtio for OVMF).
var DisklessModules = []string{"e1000", "virtio_pci", "virtio_net", "nfsv3"}

var kernelPkgRE = regexp.MustCompile(`Depends: (linux-image-([0-9][^\s]*))`)

// DebianKernel returns the kernel linux-image-amd64 points at, downloaded
// with apt-get download (no install: the test machine's /boot stays
// untouched) and cached by version.
func DebianKernel() (*Kernel, error) { return DebianKernelTo(nil) }

// DebianKernelTo is DebianKernel telling progress, when not nil, what it
// fetches and apt-get's own output: a first run downloads a package of
// about 70 MB, which a person waiting should not mistake for a hang.
func DebianKernelTo(progress io.Writer) (*Kernel, error) {
	if progress == nil {
		progress = io.Discard
	}
	dir, err := CacheDir()
	if err != nil {
		return nil, err
	}
	unlock, err := lockCache(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	pkg, version, err := kernelPackage(dir)
	if err != nil {
		return nil, err
	}
	kdir := filepath.Join(dir, "kernel-"+version)
	orderFile := filepath.Join(kdir, "modules.order")
	if k, err := loadKernel(kdir, version); err == nil {
		return k, nil
	}
	if err := os.MkdirAll(kdir, 0o755); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "kernel: apt-get download %s (once; cached in %s)\n", pkg, dir)
	deb, err := downloadDeb(kdir, pkg, progress)
	if err != nil {
		return nil, err
	}
	defer os.Remove(deb)

	fmt.Fprintf(progress, "kernel: extracting vmlinuz and the diskless modules from %s\n", filepath.Base(deb))
	// Pass 1 learns every module's dependencies, pass 2 extracts only the
	// closure: the package holds ~4000 modules and ~400 MB we never need.
	deps := map[string][]string{}
	err = walkDeb(deb, func(name string, r io.Reader) error {
		if !strings.HasSuffix(name, ".ko") {
			return nil
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		d, err := ModuleDepends(data)
		if err != nil {
			return fmt.Errorf("module %s: %w", name, err)
		}
		deps[moduleName(name)] = d
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Base(deb), err)
	}
	order, err := LoadOrder(deps, DisklessModules)
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", version, err)
	}
	want := map[string]bool{}
	for _, m := range order {
		want[m] = true
	}
	var gotKernel bool
	err = walkDeb(deb, func(name string, r io.Reader) error {
		var dst string
		switch {
		case name == "./boot/vmlinuz-"+version:
			dst, gotKernel = filepath.Join(kdir, "vmlinuz"), true
		case strings.HasSuffix(name, ".ko") && want[moduleName(name)]:
			dst = filepath.Join(kdir, moduleName(name)+".ko")
		default:
			return nil
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		return writeFileAtomic(dst, data, 0o644)
	})
	if err != nil {
		return nil, fmt.Errorf("extract %s: %w", filepath.Base(deb), err)
	}
	if !gotKernel {
		return nil, fmt.Errorf("%s has no ./boot/vmlinuz-%s", filepath.Base(deb), version)
	}
	// Written last: its presence means the directory is complete.
	if err := writeFileAtomic(orderFile, []byte(strings.Join(order, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	return loadKernel(kdir, version)
}

// kernelPackage asks apt which kernel linux-image-amd64 depends on. Without
// apt's lists (no apt-get update yet) it falls back to a cached kernel.
func kernelPackage(cache string) (pkg, version string, err error) {
	out, aptErr := exec.Command("apt-cache", "depends", "linux-image-amd64").CombinedOutput()
	if m := kernelPkgRE.FindStringSubmatch(string(out)); m != nil {
		return m[1], m[2], nil
	}
	cached, _ := filepath.Glob(filepath.Join(cache, "kernel-*", "modules.order"))
	if len(cached) > 0 {
		sort.Strings(cached)
		v := strings.TrimPrefix(filepath.Base(filepath.Dir(cached[len(cached)-1])), "kernel-")
		return "linux-image-" + v, v, nil
	}
	return "", "", fmt.Errorf("cannot tell which Debian kernel to fetch: apt-cache depends linux-image-amd64: %v: %s (run apt-get update)", aptErr, bytes.TrimSpace(out))
}

func loadKernel(kdir, version string) (*Kernel, error) {
	order, err := os.ReadFile(filepath.Join(kdir, "modules.order"))
	if err != nil {
		return nil, err
	}
	k := &Kernel{Version: version, Vmlinuz: filepath.Join(kdir, "vmlinuz")}
	if !exists(k.Vmlinuz) {
		return nil, fmt.Errorf("kernel cache %s: no vmlinuz", kdir)
	}
	for _, m := range strings.Fields(string(order)) {
		p := filepath.Join(kdir, m+".ko")
		if !exists(p) {
			return nil, fmt.Errorf("kernel cache %s: no %s.ko", kdir, m)
		}
		k.Modules = append(k.Modules, p)
	}
	return k, nil
}

func downloadDeb(dir, pkg string, progress io.Writer) (string, error) {
	cmd := exec.Command("apt-get", "download", pkg)
	cmd.Dir = dir
	var out bytes.Buffer
	// One writer for both, so exec copies them in one goroutine.
	w := io.MultiWriter(&out, progress)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("apt-get download %s: %v: %s", pkg, err, bytes.TrimSpace(out.Bytes()))
	}
	// pkg may name an architecture (busybox-static:arm64); the file does not.
	base, _, _ := strings.Cut(pkg, ":")
	debs, _ := filepath.Glob(filepath.Join(dir, base+"_*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("apt-get download %s: expected one .deb in %s, found %d", pkg, dir, len(debs))
	}
	return debs[0], nil
}

// walkDeb streams the package's data archive (dpkg-deb knows its
// compression) and calls fn for each regular file.
func walkDeb(deb string, fn func(name string, r io.Reader) error) error {
	cmd := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("dpkg-deb: %w", err)
	}
	tr := tar.NewReader(out)
	var walkErr error
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			walkErr = err
			break
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if err := fn(h.Name, tr); err != nil {
			walkErr = err
			break
		}
	}
	io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil && walkErr == nil {
		walkErr = fmt.Errorf("dpkg-deb --fsys-tarfile: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return walkErr
}

// moduleName is the kernel's name for a module file: basename without .ko,
// dashes as underscores (as the depends= lists spell them).
func moduleName(file string) string {
	return strings.ReplaceAll(strings.TrimSuffix(path.Base(file), ".ko"), "-", "_")
}

// ModuleDepends reads the depends= entry of a module's .modinfo section, the
// same data depmod uses; no kmod tools are needed on the test machine.
func ModuleDepends(ko []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, err
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, errors.New("no .modinfo section")
	}
	data, err := sec.Data()
	if err != nil {
		return nil, err
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			var out []string
			for _, d := range strings.Split(string(v), ",") {
				if d != "" {
					out = append(out, d)
				}
			}
			return out, nil
		}
	}
	return nil, nil
}

// LoadOrder returns roots and everything they depend on, each module after
// its dependencies (insmod needs their symbols first). Roots keep their
// given order where dependencies allow.
func LoadOrder(deps map[string][]string, roots []string) ([]string, error) {
	var (
		order []string
		state = map[string]int{} // 1 visiting, 2 done
		visit func(m string, chain []string) error
	)
	visit = func(m string, chain []string) error {
		switch state[m] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("module dependency cycle: %s", strings.Join(append(chain, m), " -> "))
		}
		d, ok := deps[m]
		if !ok {
			if len(chain) == 0 {
				return fmt.Errorf("module %s is not in the kernel package (built in, or renamed?)", m)
			}
			return fmt.Errorf("module %s (needed by %s) is not in the kernel package", m, chain[len(chain)-1])
		}
		state[m] = 1
		for _, dep := range d {
			if err := visit(dep, append(chain, m)); err != nil {
				return err
			}
		}
		state[m] = 2
		order = append(order, m)
		return nil
	}
	for _, r := range roots {
		if err := visit(r, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}
