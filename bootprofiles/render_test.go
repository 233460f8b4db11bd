package bootprofiles

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/nodes"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

func goldenInput(p nodes.Profile, fw Firmware) Input {
	return Input{
		Node: nodes.Node{Name: "umu20", MAC: "00:18:f3:4e:5d:39", IP: netip.MustParseAddr("192.168.1.20"),
			Cluster: "linux", Event: 42},
		Cluster: nodes.Cluster{Name: "linux", Profile: p.Name},
		Profile: p,
		Event: nodes.Event{ID: 42, Time: time.Date(2026, 11, 21, 15, 0, 0, 0, time.UTC), Actor: "alice", Channel: "ssh",
			Origin: "10.0.0.5", Action: nodes.ActionMove, Nodes: []string{"umu20"}, Target: "linux", Reason: "nightly\nconversion"},
		NFSRoot: nodes.NFSRoot{Name: "krg", Server: "192.168.1.1", Export: "/srv/nfsroot/krg", Kernel: "krg/vmlinuz",
			Initrd: "krg/initrd.img", Options: "vers=3,tcp,nolock"},
		HTTPBase: "http://192.168.1.1:8080",
		Firmware: fw,
	}
}

var linuxProfile = nodes.Profile{Name: "sl63", Kind: nodes.KindLinux, Kernel: "linux/vmlinuz",
	Initrd: "linux/initrd.gz", Append: "console=ttyS0,115200 panic=-1"}

// ipxeGolden are the cases that also have an iPXE script golden file.
var ipxeGolden = map[string]bool{"linux": true, "localdisk": true, "localdisk-chain": true, "nfsroot": true, "template": true}

func TestRenderGolden(t *testing.T) {
	httpProfile := linuxProfile
	httpProfile.Name, httpProfile.HTTP = "sl63-http", true
	httpBoot := linuxProfile
	httpBoot.Name, httpBoot.UEFIBoot = "sl63-uefihttp", nodes.UEFIBootHTTP
	cases := []struct {
		name string
		p    nodes.Profile
		// noHTTP clears the HTTP base, as when --http-listen is "".
		noHTTP bool
		// signed: the boot root holds the signed chain.
		signed bool
	}{
		{"linux", linuxProfile, false, false},
		{"linux-http", httpProfile, false, false},
		{"linux-http-disabled", httpProfile, true, false},
		{"localdisk", nodes.Profile{Name: "win", Kind: nodes.KindLocalDisk}, false, false},
		{"localdisk-chain", nodes.Profile{Name: "win", Kind: nodes.KindLocalDisk, LocalBoot: "chain", ChainPartition: 2,
			UEFILocalBoot: "chainload"}, false, false},
		{"nfsroot", nodes.Profile{Name: "lab", Kind: nodes.KindNFSRoot, NFSRoot: "krg", Append: "quiet"}, false, false},
		{"template", nodes.Profile{Name: "site", Kind: nodes.KindTemplate,
			TemplateBIOS: "DEFAULT site\nLABEL site\n  KERNEL {{file .Profile.Kernel}}\n  APPEND host={{.Node.Name}} fw={{.Firmware}}",
			TemplateUEFI: "linux {{file .Profile.Kernel}} host={{.Node.Name}} ip={{.Node.IP}}\nboot\n",
			Kernel:       "site/vmlinuz"}, false, false},
		{"template-missing", nodes.Profile{Name: "site", Kind: nodes.KindTemplate, TemplateUEFI: "exit\n"}, false, false},
		// The signed chain: the default once installed; its GRUB has no
		// http module, so an HTTP profile stays on TFTP (with a note).
		{"linux-signed", linuxProfile, false, true},
		{"linux-http-signed", httpProfile, false, true},
		// Native UEFI HTTP boot: everything over HTTP for UEFI (self-built
		// GRUB even with the signed chain installed); BIOS unchanged.
		{"linux-uefihttp", httpBoot, false, true},
	}
	for _, c := range cases {
		for _, fw := range []Firmware{BIOS, UEFI, IPXE} {
			if fw == IPXE && !ipxeGolden[c.name] {
				// The iPXE script knows no chain and is always on HTTP:
				// the variants would repeat "linux".
				continue
			}
			name := c.name + "-" + string(fw)
			t.Run(name, func(t *testing.T) {
				in := goldenInput(c.p, fw)
				if c.noHTTP {
					in.HTTPBase = ""
				}
				in.Loaders.SignedX64 = c.signed
				got, err := Render(in)
				if err != nil {
					t.Fatal(err)
				}
				checkGolden(t, name, got)
			})
		}
	}
	for _, fw := range []Firmware{BIOS, UEFI, IPXE} {
		t.Run("unknown-"+string(fw), func(t *testing.T) {
			checkGolden(t, "unknown-"+string(fw), RenderUnknown(fw, "10.0.0.99"))
		})
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "testdata", "golden", name+".cfg")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run 'go test ./bootprofiles -update' to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
	body := string(got)
	if strings.HasSuffix(name, "-ipxe") {
		// iPXE takes a script only with its magic line first.
		var ok bool
		if body, ok = strings.CutPrefix(body, "#!ipxe\n"); !ok {
			t.Errorf("%s does not start with #!ipxe", name)
		}
	}
	if !strings.HasPrefix(body, "# node-switch: ") {
		t.Errorf("%s does not start with the node-switch header comment", name)
	}
}

// Properties every rendering must keep whatever the golden files say.
func TestRenderProperties(t *testing.T) {
	cases := []struct {
		name    string
		p       nodes.Profile
		fw      Firmware
		want    []string
		notWant []string
		wantErr string
	}{
		{name: "header names node cluster profile event", p: linuxProfile, fw: BIOS,
			want: []string{"node umu20", "cluster linux", "profile sl63", "logbook event 42", "alice", `nightly\nconversion`}},
		{name: "reason newline cannot inject a directive", p: linuxProfile, fw: BIOS, notWant: []string{"\nconversion"}},
		{name: "pxelinux kernel ignores its directory prefix", p: linuxProfile, fw: BIOS,
			want: []string{"KERNEL ::linux/vmlinuz", "INITRD ::linux/initrd.gz"}},
		{name: "grub kernel from tftp root", p: linuxProfile, fw: UEFI, want: []string{"linux /linux/vmlinuz console=ttyS0", "initrd /linux/initrd.gz"}},
		{name: "http bios uses a URL", p: nodes.Profile{Name: "h", Kind: nodes.KindLinux, Kernel: "/k", Initrd: "a,b", HTTP: true}, fw: BIOS,
			want: []string{"KERNEL http://192.168.1.1:8080/k", "INITRD http://192.168.1.1:8080/a,http://192.168.1.1:8080/b"}},
		{name: "http uefi uses grub's http device", p: nodes.Profile{Name: "h", Kind: nodes.KindLinux, Kernel: "k", HTTP: true}, fw: UEFI,
			want: []string{"insmod http", "linux (http,192.168.1.1:8080)/k"}},
		{name: "nfsroot command line", p: nodes.Profile{Name: "lab", Kind: nodes.KindNFSRoot, NFSRoot: "krg"}, fw: BIOS,
			want: []string{"root=/dev/nfs nfsroot=192.168.1.1:/srv/nfsroot/krg,vers=3,tcp,nolock ip=dhcp", "KERNEL ::krg/vmlinuz"}},
		{name: "localdisk bios default is LOCALBOOT", p: nodes.Profile{Name: "w", Kind: nodes.KindLocalDisk}, fw: BIOS,
			want: []string{"LOCALBOOT 0"}, notWant: []string{"KERNEL"}},
		{name: "localdisk bios chain", p: nodes.Profile{Name: "w", Kind: nodes.KindLocalDisk, LocalBoot: "chain"}, fw: BIOS,
			want: []string{"COM32 chain.c32", "APPEND hd0\n"}},
		{name: "localdisk uefi none exits", p: nodes.Profile{Name: "w", Kind: nodes.KindLocalDisk, UEFILocalBoot: "none"}, fw: UEFI,
			want: []string{"\nexit\n"}, notWant: []string{"linux "}},
		{name: "localdisk uefi chainload", p: nodes.Profile{Name: "w", Kind: nodes.KindLocalDisk, UEFILocalBoot: "chainload"}, fw: UEFI,
			want: []string{"chainloader /EFI/Microsoft/Boot/bootmgfw.efi"}},
		{name: "linux without kernel", p: nodes.Profile{Name: "x", Kind: nodes.KindLinux}, fw: BIOS, wantErr: "no kernel"},
		{name: "append with newline refused", p: nodes.Profile{Name: "x", Kind: nodes.KindLinux, Kernel: "k", Append: "a\nLOCALBOOT 0"},
			fw: BIOS, wantErr: "line break"},
		{name: "bad template", p: nodes.Profile{Name: "t", Kind: nodes.KindTemplate, TemplateBIOS: "{{.Nope}}"}, fw: BIOS, wantErr: "template"},
		{name: "template without this firmware boots local disk", p: nodes.Profile{Name: "t", Kind: nodes.KindTemplate, TemplateBIOS: "x"},
			fw: UEFI, want: []string{"no uefi template", "\nexit\n"}},
		{name: "bad uefi local method", p: nodes.Profile{Name: "w", Kind: nodes.KindLocalDisk, UEFILocalBoot: "bogus"}, fw: UEFI, wantErr: "bogus"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Render(goldenInput(c.p, c.fw))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, c.wantErr)
				}
				if !strings.Contains(err.Error(), "umu20") {
					t.Errorf("error %q does not name the node", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(string(got), w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(string(got), w) {
					t.Errorf("unexpected %q in:\n%s", w, got)
				}
			}
		})
	}
}

func TestRenderMissingEvent(t *testing.T) {
	in := goldenInput(linuxProfile, BIOS)
	in.Event = nodes.Event{}
	got, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "# logbook event 42: not found\n") {
		t.Errorf("header does not say the event is missing:\n%s", got)
	}
}

func TestBootFile(t *testing.T) {
	cases := []struct {
		name     string
		p        nodes.Profile
		arch     string
		ipxe     bool
		want     string
		wantNone bool
	}{
		{"linux bios", linuxProfile, nodes.BootBIOS, false, "pxelinux.0", false},
		{"linux uefi", linuxProfile, nodes.BootUEFI, false, "grubx64.efi", false},
		{"http bios uses lpxelinux", nodes.Profile{Kind: nodes.KindLinux, HTTP: true}, nodes.BootBIOS, false, "lpxelinux.0", false},
		{"http uefi stays grub", nodes.Profile{Kind: nodes.KindLinux, HTTP: true}, nodes.BootUEFI, false, "grubx64.efi", false},
		{"localdisk uefi default sends none", nodes.Profile{Kind: nodes.KindLocalDisk}, nodes.BootUEFI, false, "", true},
		{"localdisk uefi chainload uses grub", nodes.Profile{Kind: nodes.KindLocalDisk, UEFILocalBoot: "chainload"}, nodes.BootUEFI, false, "grubx64.efi", false},
		{"localdisk bios", nodes.Profile{Kind: nodes.KindLocalDisk}, nodes.BootBIOS, false, "pxelinux.0", false},
		{"profile override", nodes.Profile{Kind: nodes.KindLinux, BootFiles: map[string]string{"bios": "um64_linux/pxelinux.0"}}, nodes.BootBIOS, false, "um64_linux/pxelinux.0", false},
		{"explicit none", nodes.Profile{Kind: nodes.KindLinux, BootFiles: map[string]string{"uefi": ""}}, nodes.BootUEFI, false, "", true},
		{"ipxe override", nodes.Profile{Kind: nodes.KindLinux, BootFiles: map[string]string{"ipxe": "boot.ipxe"}}, nodes.BootBIOS, true, "boot.ipxe", false},
	}
	for _, c := range cases {
		got, ok := BootFile(c.p, c.arch, c.ipxe)
		if got != c.want || ok == c.wantNone {
			t.Errorf("%s: BootFile = %q, %v; want %q, none=%v", c.name, got, ok, c.want, c.wantNone)
		}
	}
}

// An iPXE script loads over HTTP only: with the endpoint off it is an
// error naming the fix, never a script that cannot boot.
func TestRenderIPXENeedsHTTP(t *testing.T) {
	in := goldenInput(linuxProfile, IPXE)
	in.HTTPBase = ""
	if _, err := Render(in); err == nil || !strings.Contains(err.Error(), "--http-listen") {
		t.Fatalf("iPXE script without HTTP: err %v, want one naming --http-listen", err)
	}
	in = goldenInput(nodes.Profile{Name: "win", Kind: nodes.KindLocalDisk}, IPXE)
	in.HTTPBase = ""
	if b, err := Render(in); err != nil || !strings.HasPrefix(string(b), "#!ipxe\n") {
		t.Fatalf("local disk needs no HTTP: %q, %v", b, err)
	}
}

// Per-architecture kernels (issue 13, ARM64). The node's architecture is
// what its last DHCP request said (Node.Firmware); until that is recorded
// a GRUB config of a profile with an ARM64 kernel lets GRUB choose.
func TestRenderARM64(t *testing.T) {
	mixed := linuxProfile
	mixed.KernelARM64, mixed.InitrdARM64 = "arm64/vmlinuz", "arm64/initrd.gz"
	arm64Only := nodes.Profile{Name: "a64", Kind: nodes.KindLinux, KernelARM64: "arm64/vmlinuz"}
	nfs := nodes.Profile{Name: "lab", Kind: nodes.KindNFSRoot, NFSRoot: "krg", KernelARM64: "arm64/vmlinuz", InitrdARM64: "arm64/initrd.gz"}
	cases := []struct {
		name     string
		p        nodes.Profile
		firmware string // the node's recorded firmware
		fw       Firmware
		signed   bool
		want     []string
		notWant  []string
		wantErr  string
	}{
		{name: "arm64 node gets the arm64 kernel", p: mixed, firmware: "arm64", fw: UEFI,
			want:    []string{"linux /arm64/vmlinuz console=ttyS0", "initrd /arm64/initrd.gz", "# ARM64 node"},
			notWant: []string{"linux/vmlinuz", "grub_cpu"}},
		{name: "arm64 node: self-built chain even with the signed x86 chain", p: mixed, firmware: "arm64", fw: UEFI, signed: true,
			want: []string{"# UEFI chain: self-built"}, notWant: []string{"chain: signed"}},
		{name: "arm64 node without an arm64 kernel is refused", p: linuxProfile, firmware: "arm64", fw: UEFI,
			wantErr: "no ARM64 kernel: node umu20 is ARM64 UEFI (firmware arm64): set one with 'profile set sl63 --kernel-arm64 FILE"},
		{name: "arm64 iPXE script", p: mixed, firmware: "arm64-ipxe", fw: IPXE,
			want: []string{"kernel http://192.168.1.1:8080/arm64/vmlinuz", "initrd --name initrd0 http://192.168.1.1:8080/arm64/initrd.gz"}},
		{name: "arm64 http boot", p: mixed, firmware: "arm64-http", fw: UEFI, want: []string{"linux /arm64/vmlinuz"}},
		{name: "x86 node of a mixed profile: GRUB chooses", p: mixed, firmware: "uefi", fw: UEFI,
			want: []string{"if [ \"$grub_cpu\" = \"arm64\" ]; then\n  linux /arm64/vmlinuz console=ttyS0,115200 panic=-1\n  initrd /arm64/initrd.gz\nelse\n  linux /linux/vmlinuz console=ttyS0,115200 panic=-1\n  initrd /linux/initrd.gz\nfi\nboot\n"}},
		{name: "unknown firmware: GRUB chooses", p: mixed, firmware: "", fw: UEFI, want: []string{"$grub_cpu"}},
		{name: "arm64-only profile, x86 GRUB returns to the firmware", p: arm64Only, firmware: "", fw: UEFI,
			want: []string{"has only an ARM64 kernel", "else\n  echo", "  exit\nfi\n"}},
		{name: "bios is never arm64", p: mixed, firmware: "arm64", fw: BIOS, want: []string{"KERNEL ::linux/vmlinuz"}, notWant: []string{"arm64"}},
		{name: "x86 ipxe of a mixed profile", p: mixed, firmware: "uefi-ipxe", fw: IPXE, want: []string{"kernel http://192.168.1.1:8080/linux/vmlinuz"}},
		{name: "nfsroot arm64 node", p: nfs, firmware: "arm64", fw: UEFI,
			want: []string{"linux /arm64/vmlinuz root=/dev/nfs nfsroot=192.168.1.1:/srv/nfsroot/krg", "initrd /arm64/initrd.gz"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := goldenInput(c.p, c.fw)
			in.Node.Firmware = c.firmware
			in.Loaders.SignedX64 = c.signed
			got, err := Render(in)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(string(got), w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(string(got), w) {
					t.Errorf("unexpected %q in:\n%s", w, got)
				}
			}
		})
	}
}
