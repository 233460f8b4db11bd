package assets

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Marker is the prefix every stand-in OS prints on the serial console; the
// tests match "NODE-SWITCH-MARKER: <WHAT>". Firmware, boot loaders and the
// kernel never print it themselves (it is never part of a command line).
const Marker = "NODE-SWITCH-MARKER: "

// Markers the stand-ins print.
const (
	MarkerLinux       = "LINUX"        // marker initramfs, unless nsw.marker= says otherwise
	MarkerWindowsBIOS = "WINDOWS-BIOS" // MBR of the BIOS disk image
	MarkerWindowsUEFI = "WINDOWS-UEFI" // the ESP's boot manager stand-ins
)

// NFSMarkerFile is the file on an NFS root whose first line the diskless
// initramfs prints after the marker prefix: proof the root really mounted.
const NFSMarkerFile = "etc/node-switch-marker"

// initScript is /init of both initramfs images. Without nfsroot= on the
// kernel command line it prints the marker at once (nsw.marker=WORD picks
// the word, for the WDS stand-in's "installer"); with it, it does what a
// diskless node's initramfs does: load the NIC and NFS modules, DHCP, mount
// the root read-only, and print the marker file found there. It never powers
// off: a test resets the same VM after a move, or stops it.
const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
say() { echo "$*" > /dev/ttyS0; }
marker=` + MarkerLinux + `
nfsroot=
for w in $(cat /proc/cmdline); do
	case "$w" in
	nsw.marker=*) marker="${w#nsw.marker=}" ;;
	nfsroot=*) nfsroot="${w#nfsroot=}" ;;
	esac
done
if [ -z "$nfsroot" ]; then
	say "` + Marker + `$marker uptime=$(cut -d' ' -f1 /proc/uptime) cmdline=$(cat /proc/cmdline)"
else
	for m in $(cat /modules/order 2>/dev/null); do insmod /modules/$m.ko || say "insmod $m failed"; done
	ip link set lo up
	ifc=
	for i in $(seq 100); do
		for n in $(ls /sys/class/net); do [ "$n" != lo ] && ifc=$n && break; done
		[ -n "$ifc" ] && break
		sleep 0.1
	done
	ip link set "$ifc" up
	udhcpc -i "$ifc" -n -q -t 10 -T 2 -s /udhcpc.script || say "NODE-SWITCH-FAILED: no DHCP answer on $ifc"
	server="${nfsroot%%:*}"; rest="${nfsroot#*:}"; export="${rest%%,*}"; opts="${rest#"$export"}"; opts="${opts#,}"
	mkdir -p /root
	if mount -t nfs -o "ro,nolock,addr=$server,mountproto=tcp,${opts:-vers=3,proto=tcp}" "$server:$export" /root; then
		say "` + Marker + `$(head -n1 /root/` + NFSMarkerFile + `) nfsroot=$nfsroot init=$(ls /root/sbin/init)"
	else
		say "NODE-SWITCH-FAILED: mount $server:$export: $(dmesg | tail -n 5)"
	fi
fi
while :; do sleep 3600; done
`

// udhcpcScript configures the address busybox udhcpc obtained.
const udhcpcScript = `#!/bin/busybox sh
case "$1" in
bound|renew)
	ip addr add "$ip/${mask:-24}" dev "$interface"
	for r in $router; do ip route add default via "$r" dev "$interface"; break; done
	;;
esac
`

// Initramfs builds (or finds in the cache) a gzip'd busybox initramfs. With
// kernel == nil it is the small marker image; with a kernel it also carries
// that kernel's diskless modules and can mount an NFS root. It returns the
// path of the cached image.
func Initramfs(kernel *Kernel) (string, error) {
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return "", fmt.Errorf("initramfs: %w (apt-get install busybox-static)", err)
	}
	if !isStaticELF(busybox) {
		return "", fmt.Errorf("initramfs: /bin/busybox is not the static build (apt-get install busybox-static)")
	}
	return initramfs(kernel, busybox, initScript, "")
}

// initramfs builds the image from a static busybox and an init script;
// tag tells images of other architectures apart in the cache.
func initramfs(kernel *Kernel, busybox []byte, init, tag string) (string, error) {
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	entries := []cpioEntry{
		{Name: "bin", Mode: modeDir | 0o755},
		{Name: "dev", Mode: modeDir | 0o755},
		{Name: "dev/console", Mode: modeChr | 0o600, Major: 5, Minor: 1},
		{Name: "proc", Mode: modeDir | 0o755},
		{Name: "sys", Mode: modeDir | 0o755},
		{Name: "root", Mode: modeDir | 0o755},
		{Name: "bin/busybox", Mode: modeReg | 0o755, Data: busybox},
		{Name: "init", Mode: modeReg | 0o755, Data: []byte(init)},
		{Name: "udhcpc.script", Mode: modeReg | 0o755, Data: []byte(udhcpcScript)},
	}
	name := "marker" + tag
	if kernel != nil {
		name = "diskless-" + kernel.Version
		entries = append(entries, cpioEntry{Name: "modules", Mode: modeDir | 0o755})
		var order []string
		for _, m := range kernel.Modules {
			data, err := os.ReadFile(m)
			if err != nil {
				return "", fmt.Errorf("initramfs: %w", err)
			}
			base := strings.TrimSuffix(filepath.Base(m), ".ko")
			order = append(order, base)
			entries = append(entries, cpioEntry{Name: "modules/" + base + ".ko", Mode: modeReg | 0o644, Data: data})
		}
		entries = append(entries, cpioEntry{Name: "modules/order", Mode: modeReg | 0o644, Data: []byte(strings.Join(order, "\n") + "\n")})
	}
	archive := newcArchive(entries)
	path := filepath.Join(dir, "initramfs-"+name+"-"+contentKey(archive)+".gz")
	if exists(path) {
		return path, nil
	}
	var gz bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	w.Write(archive)
	if err := w.Close(); err != nil {
		return "", err
	}
	if err := writeFileAtomic(path, gz.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("initramfs %s: %w", path, err)
	}
	return path, nil
}

// isStaticELF reports whether data is an executable needing no program
// interpreter (ld.so), which an initramfs without libc cannot provide.
func isStaticELF(data []byte) bool {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return false
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}
