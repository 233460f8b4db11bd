package qemu

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/assets"
	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

// The lab's machines. Every VM has its own MAC so a failure's logs point at
// one machine; the UUIDs give pxelinux a <uuid> name to ask for first.
var (
	biosNode  = labNode{"bios01", "52:54:00:99:00:11", "10.99.0.11", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e111"}
	uefiNode  = labNode{"uefi01", "52:54:00:99:00:13", "10.99.0.13", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e113"}
	wdsNode   = labNode{"bios05", "52:54:00:99:00:15", "10.99.0.15", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e115"}
	httpBIOS  = labNode{"bios21", "52:54:00:99:00:21", "10.99.0.21", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e121"}
	httpUEFI  = labNode{"uefi23", "52:54:00:99:00:23", "10.99.0.23", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e123"}
	labPC     = labNode{"labpc31", "52:54:00:99:00:31", "10.99.0.31", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e131"}
	benchNode = labNode{"bench41", "52:54:00:99:00:41", "10.99.0.41", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e141"}
	siteNode  = labNode{"umu51", "52:54:00:99:00:51", "10.99.0.51", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e151"}
	onceNode  = labNode{"once52", "52:54:00:99:00:52", "10.99.0.52", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e152"}
)

type labNode struct{ Name, MAC, IP, UUID string }

func (n labNode) vm(uefi bool, disk string) VMConfig {
	return VMConfig{Name: n.Name, UEFI: uefi, MAC: n.MAC, UUID: n.UUID, Disk: disk}
}

// consoleAppend is the kernel command line of the Linux profiles: the
// serial console is where the marker is read.
const consoleAppend = "console=ttyS0,115200"

// ovmfNetBootFailed is what OVMF prints when its network boot entry gives up;
// for a node that must boot Linux from the network there is no point in
// watching it try PXE over IPv6 and HTTP boot for minutes.
const ovmfNetBootFailed = `failed to load Boot[0-9A-F]+ "UEFI PXEv4`

// uefiLocalBootMethod is what scenario 4 uses: GRUB chainloads the Windows
// boot manager on the disk's ESP, the method that proves the Windows loader
// (not just any fallback) was reached.
const uefiLocalBootMethod = "chainload"

// newNodeSwitchLab is the common setup: lab, RA sender, a boot root filled
// by "node-switch bootroot init" plus the test kernel and initramfs images,
// and an inventory made with the CLI as an operator would.
func newNodeSwitchLab(t *testing.T, a bootAssets) (*Lab, *NodeSwitch) {
	t.Helper()
	l := NewLab(t)
	l.StartRA()
	n := l.NewNodeSwitch()
	n.MustCLI(t, "bootroot", "init", n.BootRoot)
	copyFile(t, a.Kernel.Vmlinuz, filepath.Join(n.BootRoot, "vmlinuz"))
	copyFile(t, a.Initrd, filepath.Join(n.BootRoot, "initrd.gz"))
	copyFile(t, a.Diskless, filepath.Join(n.BootRoot, "diskless.gz"))

	n.MustCLI(t, "subnet", "set", fmt.Sprintf("10.99.0.0/%d", PrefixLen), "--router", ServerIP)
	n.MustCLI(t, "profile", "add", "linux", "--kind", "linux", "--kernel", "vmlinuz", "--initrd", "initrd.gz", "--append", consoleAppend, "--boot-root", n.BootRoot)
	// The signed GRUB (the default chain once installed) has no http module.
	// --boot-file ipxe=lpxelinux.0: scenario 6's BIOS node (SeaBIOS's
	// iPXE ROM) keeps proving lpxelinux instead of getting an iPXE script.
	n.MustCLI(t, "profile", "add", "linux-http", "--kind", "linux", "--http", "--uefi-chain", "self-built", "--boot-file", "ipxe=lpxelinux.0",
		"--kernel", "vmlinuz", "--initrd", "initrd.gz", "--append", consoleAppend, "--boot-root", n.BootRoot)
	n.MustCLI(t, "profile", "add", "windows", "--kind", "localdisk", "--local-boot", "localboot", "--uefi-local-boot", uefiLocalBootMethod)
	n.MustCLI(t, "cluster", "add", "linux", "--profile", "linux")
	n.MustCLI(t, "cluster", "add", "linux-http", "--profile", "linux-http")
	n.MustCLI(t, "cluster", "add", "windows", "--profile", "windows")
	for _, nd := range []labNode{biosNode, uefiNode, wdsNode, labPC, benchNode} {
		n.MustCLI(t, "node", "add", nd.Name, "--mac", nd.MAC, "--ip", nd.IP, "--cluster", "linux")
	}
	for _, nd := range []labNode{httpBIOS, httpUEFI} {
		n.MustCLI(t, "node", "add", nd.Name, "--mac", nd.MAC, "--ip", nd.IP, "--cluster", "linux-http")
	}
	return l, n
}

// wait waits for a marker and fails the (sub)test with the console and the
// server log when it does not come.
func wait(t *testing.T, vm *VM, n *NodeSwitch, marker string, failMarkers ...string) BootResult {
	t.Helper()
	res, err := vm.WaitMarker(assets.Marker+marker, append([]string{"NODE-SWITCH-FAILED", assets.Marker}, failMarkers...)...)
	// Another system's marker is a fail marker: WaitMarker returns it as
	// an error, so a wrong boot cannot pass as this one.
	if err != nil {
		t.Fatalf("%v\n--- serial console (%s):\n%s\n--- node-switch log:\n%s", err, vm.Serial, vm.Console(3000), tail(n.Log(), 4000))
	}
	return res
}

// TestScenarios is issue 4's real-firmware suite: BIOS and UEFI nodes
// boot Linux or their local disk by their cluster, a move takes effect on
// the next reboot of the same machine, and a masked node is left to the
// Windows head's deployment server. Then the HTTP variants (issue 7) and
// the diskless NFS-root boot (issue 5).
func TestScenarios(t *testing.T) {
	a := getAssets(t)
	l, n := newNodeSwitchLab(t, a)
	n.Serve()
	var summary []string
	record := func(name string, d time.Duration) {
		summary = append(summary, fmt.Sprintf("%-28s %6.1fs", name, d.Seconds()))
		t.Logf("%s: %.1fs", name, d.Seconds())
	}
	defer func() { t.Logf("scenario times (QEMU start or reset -> marker):\n%s", strings.Join(summary, "\n")) }()

	var biosVM *VM
	biosOK := t.Run("1-bios-linux", func(t *testing.T) {
		biosVM = l.StartVM(t, biosNode.vm(false, a.BIOSDisk))
		res := wait(t, biosVM, n, assets.MarkerLinux)
		record("1 BIOS linux", res.Elapsed)
	})
	t.Run("2-bios-move-to-localdisk", func(t *testing.T) {
		if biosVM == nil || !biosOK {
			t.Skip("needs the VM of scenario 1")
		}
		defer biosVM.Stop()
		n.MustCLI(t, "move", biosNode.Name, "--to", "windows", "--reason", "e2e scenario 2")
		if err := biosVM.Reset(); err != nil {
			t.Fatal(err)
		}
		res := wait(t, biosVM, n, assets.MarkerWindowsBIOS)
		record("2 BIOS move+reboot->disk", res.Elapsed)
	})

	var uefiVM *VM
	uefiOK := t.Run("3-uefi-linux", func(t *testing.T) {
		uefiVM = l.StartVM(t, uefiNode.vm(true, a.ESPDisk))
		res := wait(t, uefiVM, n, assets.MarkerLinux, ovmfNetBootFailed)
		record("3 UEFI linux", res.Elapsed)
	})
	t.Run("4-uefi-move-to-localdisk", func(t *testing.T) {
		if uefiVM == nil || !uefiOK {
			t.Skip("needs the VM of scenario 3")
		}
		defer uefiVM.Stop()
		n.MustCLI(t, "move", uefiNode.Name, "--to", "windows", "--reason", "e2e scenario 4")
		if err := uefiVM.Reset(); err != nil {
			t.Fatal(err)
		}
		res := wait(t, uefiVM, n, assets.MarkerWindowsUEFI)
		if uefiLocalBootMethod == "chainload" && !strings.Contains(res.Line, "loader=bootmgfw.efi") {
			t.Errorf("chainload method booted %q, want the Windows boot manager bootmgfw.efi", res.Line)
		}
		record("4 UEFI move+reboot->ESP", res.Elapsed)
	})

	t.Run("5-masked-wds", func(t *testing.T) {
		d := maskedScenario(t, l, n, a)
		record("5 masked -> WDS installer", d)
	})

	// The HTTP variants need the HTTP endpoint: restart the daemon with it.
	// It keeps no state, so this is also a restart test.
	n.StopServe()
	n.Serve("--http-listen", ":8080")
	for _, tc := range []struct {
		name string
		node labNode
		uefi bool
	}{{"6-bios-linux-http", httpBIOS, false}, {"7-uefi-linux-http", httpUEFI, true}} {
		t.Run(tc.name, func(t *testing.T) {
			vm := l.StartVM(t, tc.node.vm(tc.uefi, ""))
			defer vm.Stop()
			res := wait(t, vm, n, assets.MarkerLinux, ovmfNetBootFailed)
			// The kernel's BOOT_IMAGE says where the loader fetched it.
			if !strings.Contains(res.Line, "http") {
				t.Errorf("kernel not loaded over HTTP: %q", res.Line)
			}
			record(tc.name[2:], res.Elapsed)
		})
	}

	t.Run("8-diskless-nfsroot", func(t *testing.T) {
		d := disklessScenario(t, l, n, a)
		record("8 diskless NFS root", d)
	})

	t.Run("9-bios-site-files-import", func(t *testing.T) {
		linux, disk := siteFilesScenario(t, l, n, a)
		record("9 site's own default", linux)
		record("9 move+reboot->site LOCALBOOT", disk)
	})
	t.Run("10-bios-boot-once", func(t *testing.T) {
		once, home := bootOnceScenario(t, l, n, a)
		record("10 boot once -> installer", once)
		record("10 reset -> home cluster", home)
	})
}

// siteFilesScenario is issue 12's migration: the source system's TFTP root
// (one directory per dhcpd group, each with pxelinux.0 and its own
// pxelinux.cfg/default naming files relative to that directory) and its
// dhcpd.conf are imported as they are. The node then boots the site's own
// Linux config with real pxelinux, and after a move to the other group the
// other group's config, LOCALBOOT to the disk.
func siteFilesScenario(t *testing.T, l *Lab, n *NodeSwitch, a bootAssets) (linux, disk time.Duration) {
	const marker = "SITE-LINUX"
	root := n.BootRoot
	// The kernel names exist only under um64_linux/: the boot proves
	// pxelinux resolved them against its own directory, as at the site.
	copyFile(t, pxelinuxBin, filepath.Join(root, "um64_linux", "pxelinux.0"))
	copyFile(t, pxelinuxBin, filepath.Join(root, "um64_win", "pxelinux.0"))
	copyFile(t, a.Kernel.Vmlinuz, filepath.Join(root, "um64_linux", "sl63-vmlinuz"))
	copyFile(t, a.Initrd, filepath.Join(root, "um64_linux", "sl63-initrd.gz"))
	must(t, os.MkdirAll(filepath.Join(root, "um64_linux", "pxelinux.cfg"), 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "um64_win", "pxelinux.cfg"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "um64_linux", "pxelinux.cfg", "default"), []byte(
		"DEFAULT sl63\nPROMPT 0\nTIMEOUT 1\nLABEL sl63\n  KERNEL sl63-vmlinuz\n  INITRD sl63-initrd.gz\n  APPEND "+consoleAppend+" nsw.marker="+marker+"\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "um64_win", "pxelinux.cfg", "default"), []byte(
		"DEFAULT local\nPROMPT 0\nTIMEOUT 1\nLABEL local\n  LOCALBOOT 0\n"), 0o644))
	conf := filepath.Join(l.Dir, "site-dhcpd.conf")
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf(`group {
filename "um64_win/pxelinux.0";
}
group {
filename "um64_linux/pxelinux.0";
host %s {hardware ethernet %s;
fixed-address %s; }
}
`, siteNode.Name, strings.ToUpper(siteNode.MAC), siteNode.IP)), 0o644))
	out := n.MustCLI(t, "import", "dhcpd", conf, "--boot-root", root)
	if !strings.Contains(out, "cluster um64_linux: found um64_linux/pxelinux.cfg/default") {
		t.Fatalf("import did not find the site's config:\n%s", out)
	}

	vm := l.StartVM(t, siteNode.vm(false, a.BIOSDisk))
	defer vm.Stop()
	res := wait(t, vm, n, marker)
	if !strings.Contains(res.Line, "sl63-vmlinuz") {
		t.Errorf("booted %q, want the site's um64_linux/sl63-vmlinuz", res.Line)
	}
	linux = res.Elapsed
	n.MustCLI(t, "move", siteNode.Name, "--to", "um64_win", "--boot-root", root, "--reason", "e2e scenario 9")
	if err := vm.Reset(); err != nil {
		t.Fatal(err)
	}
	return linux, wait(t, vm, n, assets.MarkerWindowsBIOS).Elapsed
}

// bootOnceScenario is issue 12's boot once: a linux node is sent to the
// installer cluster for one boot; that boot's config fetch ends the once
// and the reset after it boots the node's own cluster, both in the
// logbook.
func bootOnceScenario(t *testing.T, l *Lab, n *NodeSwitch, a bootAssets) (once, home time.Duration) {
	const marker = "INSTALLER-ONCE"
	n.MustCLI(t, "profile", "add", "installer", "--kind", "linux", "--kernel", "vmlinuz", "--initrd", "initrd.gz",
		"--append", consoleAppend+" nsw.marker="+marker, "--boot-root", n.BootRoot)
	n.MustCLI(t, "cluster", "add", "installer", "--profile", "installer")
	n.MustCLI(t, "node", "add", onceNode.Name, "--mac", onceNode.MAC, "--ip", onceNode.IP, "--cluster", "linux")
	n.MustCLI(t, "move", onceNode.Name, "--to", "installer", "--once", "--reason", "e2e scenario 10")

	vm := l.StartVM(t, onceNode.vm(false, ""))
	defer vm.Stop()
	once = wait(t, vm, n, marker).Elapsed
	var ns []struct {
		OnceCluster *string `json:"once_cluster"`
	}
	must(t, json.Unmarshal([]byte(n.MustCLI(t, "node", "list", onceNode.Name, "--json")), &ns))
	if len(ns) != 1 || ns[0].OnceCluster != nil {
		t.Fatalf("after the once boot the node still has a once pending: %+v", ns)
	}
	must(t, vm.Reset())
	home = wait(t, vm, n, assets.MarkerLinux).Elapsed

	var evs []nodes.Event
	must(t, json.Unmarshal([]byte(n.MustCLI(t, "log", onceNode.Name, "--json")), &evs))
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%s %s %s->%s", e.Action, e.Channel, e.Source, e.Target))
	}
	// With the HTTP endpoint on, the BIOS node's iPXE ROM gets the iPXE
	// script over HTTP: its fetch is the one that ends the once.
	want := []string{"node-add cli ->linux", "move-once cli linux->installer", "boot-once-used http linux->installer"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("logbook of %s:\n%s\nwant\n%s", onceNode.Name, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	return once, home
}

// maskedScenario: a masked node gets nothing from node-switch (no DHCP
// answer, no TFTP) while a second server, dnsmasq standing in for Windows
// Deployment Services on the same wire, boots it into its installer. This is
// the source system's reinstall path end to end.
func maskedScenario(t *testing.T, l *Lab, n *NodeSwitch, a bootAssets) time.Duration {
	wds := l.Net.Namespace("wds")
	l.Net.Veth(l.NS, "vwds", wds, "eth0")
	l.NS.Enslave("vwds", Bridge)
	wds.Addr("eth0", fmt.Sprintf("10.99.0.2/%d", PrefixLen))
	root := filepath.Join(l.Dir, "wds")
	referenceTFTPRoot(t, a, root, "pxelinux.cfg/default", pxelinuxLinuxConfig("INSTALLER"))
	// WDS answers any PXE client from its own pool; node-switch's
	// reservation for this node must not compete with it.
	srv := l.StartDnsmasq(t, wds, DnsmasqConfig{Name: "wds", Interface: "eth0", TFTPRoot: root,
		Range: "10.99.0.100,10.99.0.150", BootBIOS: "pxelinux.0", NoProxyDHCPWait: true})
	defer srv.Stop()

	n.MustCLI(t, "mask", wdsNode.Name, "--reason", "reinstall Windows via WDS (e2e scenario 5)")
	// Everything node-switch sends over IPv4 UDP on the wire during the
	// boot: must be nothing at all.
	capture := l.NS.Start(nil, "tcpdump", "-i", Bridge, "-n", "-l", "-U", "-e",
		"ip and udp and src host "+ServerIP)
	if !netlab.WaitFor(30*time.Second, func() bool { return strings.Contains(capture.Output(), "listening on") }) {
		t.Fatalf("tcpdump did not start: %s", capture.Output())
	}
	vm := l.StartVM(t, wdsNode.vm(false, a.BIOSDisk))
	defer vm.Stop()
	res := wait(t, vm, n, "INSTALLER")
	capture.Stop()
	var leaked []string
	for _, line := range strings.Split(capture.Output(), "\n") {
		if strings.Contains(line, " > ") {
			leaked = append(leaked, line)
		}
	}
	if len(leaked) > 0 {
		t.Errorf("node-switch sent %d packets while its only client was masked:\n%s", len(leaked), strings.Join(leaked, "\n"))
	}
	return res.Elapsed
}

// disklessScenario is the thesis's lab boot: the lab PC moves to the
// diskless cluster, boots kernel + initramfs from node-switch over TFTP,
// mounts its root over NFSv3 from nfs-ganesha and prints a token read from
// a file on that root.
func disklessScenario(t *testing.T, l *Lab, n *NodeSwitch, a bootAssets) time.Duration {
	export := filepath.Join(l.Dir, "nfsroot")
	token := randomToken()
	for _, d := range []string{"sbin", "etc", "lib/modules/" + a.Kernel.Version} {
		if err := os.MkdirAll(filepath.Join(export, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must(t, os.WriteFile(filepath.Join(export, "sbin/init"), []byte("#!/bin/sh\nexec /bin/sh\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(export, assets.NFSMarkerFile), []byte("DISKLESS-"+token+"\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(export, "etc/hostname"), []byte(labPC.Name+"\n"), 0o644))
	l.NS.StartGanesha(netlab.GaneshaExport{Path: export})

	n.MustCLI(t, "nfsroot", "add", "lab", "--server", ServerIP, "--export", export,
		"--kernel", "vmlinuz", "--initrd", "diskless.gz", "--kernel-version", a.Kernel.Version)
	// The check runs from the head node's own network namespace in real
	// life; here the server is inside the lab, so run it there.
	if out, err := l.NS.Run(n.Bin, "--db", n.DB, "nfsroot", "check", "lab"); err != nil {
		t.Fatalf("nfsroot check of a good root failed: %v\n%s", err, out)
	}
	n.MustCLI(t, "profile", "add", "diskless", "--kind", "nfsroot", "--nfsroot", "lab", "--append", consoleAppend)
	n.MustCLI(t, "cluster", "add", "lab-night", "--profile", "diskless")
	n.MustCLI(t, "move", labPC.Name, "--to", "lab-night", "--reason", "nightly lab conversion (e2e)")

	vm := l.StartVM(t, labPC.vm(false, ""))
	defer vm.Stop()
	res := wait(t, vm, n, "DISKLESS-"+token)
	return res.Elapsed
}

func randomToken() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
