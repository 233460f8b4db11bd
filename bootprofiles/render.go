package bootprofiles

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/node-switch/node-switch/nodes"
)

// Firmware is the boot loader family a rendered config is for: pxelinux
// (BIOS) reads one syntax, GRUB (UEFI) another.
type Firmware string

const (
	BIOS Firmware = "bios" // pxelinux / lpxelinux
	UEFI Firmware = "uefi" // GRUB EFI network image
	// IPXE is a client already running iPXE (the NIC's ROM, or ipxe.efi),
	// BIOS or UEFI: it reads an "#!ipxe" script and loads over HTTP.
	IPXE Firmware = "ipxe"
)

// ParseFirmware validates a firmware name given by an operator.
func ParseFirmware(s string) (Firmware, error) {
	switch Firmware(s) {
	case BIOS, UEFI, IPXE:
		return Firmware(s), nil
	}
	return "", fmt.Errorf("unknown firmware %q (want bios, uefi or ipxe)", s)
}

// Input is everything a rendered config depends on. Render is a pure
// function of it, so the TFTP server, the HTTP server and `node-switch
// render` print the same bytes for the same inventory.
type Input struct {
	Node    nodes.Node
	Cluster nodes.Cluster
	Profile nodes.Profile
	// Event is the logbook entry named by Node.Event; a zero ID means it
	// could not be read (the header says so instead of failing the boot).
	Event nodes.Event
	// NFSRoot is the catalog entry of a profile of kind nfsroot.
	NFSRoot nodes.NFSRoot
	// HTTPBase is "http://<server>:<port>" as the node reaches the HTTP
	// endpoint; empty when it is disabled. Profiles with HTTP set need it.
	HTTPBase string
	Firmware Firmware
	// Loaders is what the boot root holds: with the signed chain there,
	// a profile naming no UEFI chain is served the signed one.
	Loaders Loaders
}

// ARM64 says whether the node is ARM64 UEFI: what its last DHCP request
// said (option 93 = 11 or 19, recorded as nodes.Node.Firmware "arm64...").
func (in Input) ARM64() bool {
	return in.Firmware != BIOS && strings.HasPrefix(in.Node.Firmware, nodes.BootARM64)
}

// chain is the UEFI chain the node runs ("" for BIOS).
func (in Input) chain() string {
	if in.Firmware != UEFI {
		return ""
	}
	if in.ARM64() {
		// No signed ARM64 chain is installed (Debian's shim-signed:arm64
		// cannot be installed beside the amd64 one): grubaa64.efi.
		return nodes.UEFIChainSelfBuilt
	}
	return UEFIChain(in.Profile, in.Loaders)
}

// useHTTP says whether files are named by HTTP URLs: the profile asks for
// it, the endpoint is on, and the loader can: Debian's signed GRUB has no
// http module (and under Secure Boot loads none), so it stays on TFTP.
func (in Input) useHTTP() bool {
	return in.wantHTTP() && in.HTTPBase != "" && in.chain() != nodes.UEFIChainSigned
}

// wantHTTP: the profile loads kernels over HTTP, or its UEFI nodes boot
// natively over HTTP (no TFTP at all: the config names HTTP URLs too).
func (in Input) wantHTTP() bool {
	return in.Profile.HTTP || (in.Firmware == UEFI && in.Profile.UEFIBoot == nodes.UEFIBootHTTP)
}

// Render returns the boot loader configuration node in.Node is served:
// pxelinux syntax for BIOS, GRUB script for UEFI.
func Render(in Input) ([]byte, error) {
	if in.Firmware != BIOS && in.Firmware != UEFI && in.Firmware != IPXE {
		return nil, fmt.Errorf("render %s: unknown firmware %q", in.Node.Name, in.Firmware)
	}
	if err := checkFields(in.Profile, in.NFSRoot); err != nil {
		return nil, fmt.Errorf("render %s: profile %s: %w", in.Node.Name, in.Profile.Name, err)
	}
	if in.Firmware == IPXE && in.HTTPBase == "" && (in.Profile.Kind == nodes.KindLinux || in.Profile.Kind == nodes.KindNFSRoot) {
		return nil, fmt.Errorf("render %s: profile %s: an iPXE script loads kernel and initrd over HTTP, and the HTTP endpoint is disabled (serve --http-listen)", in.Node.Name, in.Profile.Name)
	}
	var b bytes.Buffer
	header(&b, in)
	var err error
	switch in.Profile.Kind {
	case nodes.KindLinux:
		err = renderKernel(&b, in, in.Profile.Kernel, in.Profile.Initrd, in.Profile.Append)
	case nodes.KindNFSRoot:
		err = renderNFSRoot(&b, in)
	case nodes.KindLocalDisk:
		err = renderLocalDisk(&b, in)
	case nodes.KindTemplate:
		err = renderTemplate(&b, in)
	case nodes.KindFiles:
		err = fmt.Errorf("%w: the first of %s present under the boot root", ErrSiteFiles, strings.Join(SiteConfigNames(in.Profile, in.Node, in.Firmware), ", "))
	default:
		err = fmt.Errorf("unknown profile kind %q", in.Profile.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("render %s: profile %s: %w", in.Node.Name, in.Profile.Name, err)
	}
	return b.Bytes(), nil
}

// RenderUnknown is what a machine the inventory does not know gets when its
// boot loader falls back to the default config: its own local disk. A
// default must never boot anything that could harm a disk (an installer, a
// diskless image that formats scratch space).
func RenderUnknown(fw Firmware, who string) []byte {
	var b bytes.Buffer
	if fw == IPXE {
		b.WriteString(ipxeMagic)
	}
	fmt.Fprintf(&b, "# node-switch: %s is not in the inventory: booting its local disk\n", oneLine(who))
	plainLocal(&b, fw, "unknown machine")
	return b.Bytes()
}

// plainLocal is the safest config there is: back to the local disk (BIOS)
// or to the firmware's next boot entry (UEFI).
func plainLocal(b *bytes.Buffer, fw Firmware, why string) {
	if fw == IPXE {
		fmt.Fprintf(b, "echo node-switch: %s, returning to the firmware's next boot device\n", ipxeText(why))
		b.WriteString("exit\n")
		return
	}
	if fw == UEFI {
		b.WriteString("set timeout=0\n")
		fmt.Fprintf(b, "echo \"node-switch: %s, returning to the firmware's next boot entry\"\n", why)
		b.WriteString("exit\n")
		return
	}
	b.WriteString("DEFAULT local\nPROMPT 0\nTIMEOUT 1\n")
	fmt.Fprintf(b, "SAY node-switch: %s, booting the local disk\n", why)
	b.WriteString("LABEL local\n  LOCALBOOT 0\n")
}

// header names node, cluster, profile and the logbook event, so a config
// read off the wire (or by `render`) explains why it looks the way it does.
func header(b *bytes.Buffer, in Input) {
	n := in.Node
	if in.Firmware == IPXE {
		// iPXE takes a file for a script only when this is its first line.
		b.WriteString(ipxeMagic)
	}
	fmt.Fprintf(b, "# node-switch: node %s (mac %s, ip %s), cluster %s, profile %s (%s, %s)\n",
		n.Name, n.MAC, n.IP, in.Cluster.Name, in.Profile.Name, in.Profile.Kind, in.Firmware)
	defer chainNote(b, in)
	id := n.Event
	if n.OnceCluster != "" {
		fmt.Fprintf(b, "# boot once: this boot only, later boots go to cluster %s\n", n.Cluster)
		id = n.OnceEvent
	}
	e := in.Event
	if e.ID == 0 {
		fmt.Fprintf(b, "# logbook event %d: not found\n", id)
		return
	}
	fmt.Fprintf(b, "# logbook event %d: %s by %s via %s", e.ID, e.Action, oneLine(e.Actor), e.Channel)
	if e.Origin != "" {
		fmt.Fprintf(b, " from %s", oneLine(e.Origin))
	}
	fmt.Fprintf(b, " at %s", e.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
	if e.Reason != "" {
		fmt.Fprintf(b, ": %s", oneLine(e.Reason))
	}
	b.WriteString("\n")
}

// chainNote says which UEFI loader chain read the config, the one fact a
// Secure Boot failure turns on.
func chainNote(b *bytes.Buffer, in Input) {
	switch in.chain() {
	case nodes.UEFIChainSigned:
		b.WriteString("# UEFI chain: signed (shim -> the distribution's signed GRUB; Secure Boot needs a signed kernel)\n")
	case nodes.UEFIChainSelfBuilt:
		if in.Profile.UEFIBoot == nodes.UEFIBootHTTP {
			b.WriteString("# UEFI chain: self-built, by native UEFI HTTP boot (unsigned GRUB image over HTTP: Secure Boot must be off)\n")
			return
		}
		b.WriteString("# UEFI chain: self-built (unsigned GRUB image: Secure Boot must be off)\n")
	}
}

// ipxeInitrdName is the name iPXE gives a script's i-th initrd.
func ipxeInitrdName(i int) string { return fmt.Sprintf("initrd%d", i) }

// ipxeMagic is the first line of every iPXE script.
const ipxeMagic = "#!ipxe\n"

// ipxeText keeps text inside an iPXE echo: iPXE expands ${...} settings.
func ipxeText(s string) string { return strings.ReplaceAll(oneLine(s), "$", "") }

// oneLine keeps free text (reasons, actors) inside its comment line: a
// newline in a reason must not become a boot loader directive. The text
// was checked when it entered the inventory (nodes.CheckText), but text
// stored before that check, or written around it, is still escaped here,
// by the same rule the CLI's printers use.
func oneLine(s string) string { return nodes.Escape(s) }

// checkFields refuses values that would break out of their line in the
// rendered file; everything else is passed through as the operator wrote it.
func checkFields(p nodes.Profile, nr nodes.NFSRoot) error {
	for _, f := range []struct{ name, v string }{
		{"kernel", p.Kernel}, {"initrd", p.Initrd}, {"append", p.Append},
		{"ARM64 kernel", p.KernelARM64}, {"ARM64 initrd", p.InitrdARM64},
		{"nfsroot kernel", nr.Kernel}, {"nfsroot initrd", nr.Initrd},
		{"nfsroot server", nr.Server}, {"nfsroot export", nr.Export}, {"nfsroot options", nr.Options},
	} {
		if strings.ContainsAny(f.v, "\r\n") {
			return fmt.Errorf("%s %q contains a line break", f.name, f.v)
		}
	}
	return nil
}

// splitFiles accepts several initrds separated by commas or spaces.
func splitFiles(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}

// fileRef is how the boot loader names a file under the boot root. Over
// TFTP pxelinux gets "::path", which suppresses its own directory prefix
// (a node booted from "um64_linux/pxelinux.0" would otherwise ask for
// "um64_linux/<kernel>"); GRUB's root is already the TFTP server, so an
// absolute path is enough. Over HTTP both get a full URL.
func fileRef(in Input, p string) string {
	p = strings.TrimLeft(p, "/")
	if in.Firmware == IPXE {
		// iPXE is only ever given a script with the HTTP endpoint on.
		return strings.TrimSuffix(in.HTTPBase, "/") + "/" + p
	}
	if in.useHTTP() {
		if in.Firmware == UEFI {
			// GRUB names HTTP as a device: (http,host:port)/path.
			host := strings.TrimPrefix(strings.TrimPrefix(in.HTTPBase, "http://"), "https://")
			return "(http," + strings.TrimSuffix(host, "/") + ")/" + p
		}
		return strings.TrimSuffix(in.HTTPBase, "/") + "/" + p
	}
	if in.Firmware == UEFI {
		return "/" + p
	}
	return "::" + p
}

func httpNote(b *bytes.Buffer, in Input) {
	switch {
	case in.wantHTTP() && in.HTTPBase == "":
		b.WriteString("# profile asks for HTTP but the HTTP endpoint is disabled: using TFTP\n")
	case in.wantHTTP() && !in.useHTTP():
		b.WriteString("# profile asks for HTTP but the signed GRUB has no http module: using TFTP\n")
	}
}

// ErrNoARM64Kernel is an ARM64 node whose profile has no ARM64 kernel: it
// is refused its config rather than sent an x86-64 kernel it cannot run.
var ErrNoARM64Kernel = errors.New("no ARM64 kernel")

// renderKernel renders the kernel boot. kernel and initrd are the x86
// ones; an ARM64 node gets the profile's KernelARM64/InitrdARM64 instead.
// The node's architecture is what its last DHCP request said, recorded a
// few seconds later (the DHCP server batches sightings): so a GRUB config
// for a node not (yet) known as ARM64, of a profile with an ARM64 kernel,
// lets GRUB choose by its own $grub_cpu.
func renderKernel(b *bytes.Buffer, in Input, kernel, initrd, appendLine string) error {
	karm, iarm := in.Profile.KernelARM64, in.Profile.InitrdARM64
	switch {
	case in.ARM64() && karm == "":
		return fmt.Errorf("%w: node %s is ARM64 UEFI (firmware %s): set one with 'profile set %s --kernel-arm64 FILE --initrd-arm64 FILE'",
			ErrNoARM64Kernel, in.Node.Name, in.Node.Firmware, in.Profile.Name)
	case in.ARM64():
		b.WriteString("# ARM64 node: the profile's ARM64 kernel\n")
		kernel, initrd = karm, iarm
	case in.Firmware == UEFI && karm != "":
		httpNote(b, in)
		grubHead(b, in)
		b.WriteString("if [ \"$grub_cpu\" = \"arm64\" ]; then\n")
		grubLinux(b, in, "  ", karm, iarm, appendLine)
		b.WriteString("else\n")
		if kernel == "" {
			fmt.Fprintf(b, "  echo \"node-switch: profile %s has only an ARM64 kernel, returning to the firmware\"\n  exit\n", in.Profile.Name)
		} else {
			grubLinux(b, in, "  ", kernel, initrd, appendLine)
		}
		b.WriteString("fi\nboot\n")
		return nil
	}
	if kernel == "" {
		return fmt.Errorf("no kernel (set one with 'profile set %s --kernel FILE')", in.Profile.Name)
	}
	httpNote(b, in)
	initrds := splitFiles(initrd)
	label := in.Profile.Name
	if in.Firmware == IPXE {
		fmt.Fprintf(b, "echo node-switch: %s boots %s (cluster %s)\n", in.Node.Name, ipxeText(label), in.Cluster.Name)
		// Under UEFI, iPXE (Debian 12's) boots the kernel through its EFI
		// stub, which loads only the initrds its command line names
		// (initrd=NAME, read from iPXE's image list): so each initrd gets
		// a name of its own, named on the command line. A BIOS kernel
		// ignores them, as it does pxelinux's initrd=.
		fmt.Fprintf(b, "kernel %s", fileRef(in, kernel))
		for i := range initrds {
			fmt.Fprintf(b, " initrd=%s", ipxeInitrdName(i))
		}
		if appendLine != "" {
			b.WriteString(" " + appendLine)
		}
		b.WriteString(" || goto failed\n")
		for i, f := range initrds {
			fmt.Fprintf(b, "initrd --name %s %s || goto failed\n", ipxeInitrdName(i), fileRef(in, f))
		}
		b.WriteString("boot || goto failed\n")
		// A kernel that cannot be fetched must not leave the node at an
		// iPXE prompt: back to the firmware, which tries its next device.
		b.WriteString(":failed\necho node-switch: boot failed, returning to the firmware\nexit 1\n")
		return nil
	}
	if in.Firmware == UEFI {
		grubHead(b, in)
		grubLinux(b, in, "", kernel, initrd, appendLine)
		b.WriteString("boot\n")
		return nil
	}
	fmt.Fprintf(b, "DEFAULT %s\nPROMPT 0\nTIMEOUT 1\n", label)
	fmt.Fprintf(b, "SAY node-switch: %s boots %s (cluster %s)\n", in.Node.Name, label, in.Cluster.Name)
	fmt.Fprintf(b, "LABEL %s\n", label)
	fmt.Fprintf(b, "  KERNEL %s\n", fileRef(in, kernel))
	if len(initrds) > 0 {
		refs := make([]string, len(initrds))
		for i, f := range initrds {
			refs[i] = fileRef(in, f)
		}
		fmt.Fprintf(b, "  INITRD %s\n", strings.Join(refs, ","))
	}
	if appendLine != "" {
		fmt.Fprintf(b, "  APPEND %s\n", appendLine)
	}
	return nil
}

// grubHead starts a GRUB kernel boot.
func grubHead(b *bytes.Buffer, in Input) {
	if in.useHTTP() {
		b.WriteString("insmod http\n")
	}
	b.WriteString("set timeout=0\n")
	fmt.Fprintf(b, "echo \"node-switch: %s boots %s (cluster %s)\"\n", in.Node.Name, in.Profile.Name, in.Cluster.Name)
}

// grubLinux is GRUB's linux and initrd lines.
func grubLinux(b *bytes.Buffer, in Input, indent, kernel, initrd, appendLine string) {
	fmt.Fprintf(b, "%slinux %s", indent, fileRef(in, kernel))
	if appendLine != "" {
		b.WriteString(" " + appendLine)
	}
	b.WriteString("\n")
	if initrds := splitFiles(initrd); len(initrds) > 0 {
		b.WriteString(indent + "initrd")
		for _, f := range initrds {
			b.WriteString(" " + fileRef(in, f))
		}
		b.WriteString("\n")
	}
}

// DefaultNFSOptions are the nfsroot= mount options of a catalog entry that
// names none: NFSv3 over TCP, what the catalog's check verifies.
const DefaultNFSOptions = "vers=3,tcp"

// NFSRootAppend is the kernel command line that mounts the catalog entry's
// export as the root filesystem with the entry's options (address by DHCP).
func NFSRootAppend(nr nodes.NFSRoot) string {
	opts := nr.Options
	if opts == "" {
		opts = DefaultNFSOptions
	}
	return fmt.Sprintf("root=/dev/nfs nfsroot=%s:%s,%s ip=dhcp", nr.Server, nr.Export, opts)
}

func renderNFSRoot(b *bytes.Buffer, in Input) error {
	nr := in.NFSRoot
	if nr.Name == "" || nr.Server == "" || nr.Export == "" {
		return fmt.Errorf("NFS root %q is not in the catalog or has no server/export", in.Profile.NFSRoot)
	}
	kernel, initrd := nr.Kernel, nr.Initrd
	if in.Profile.Kernel != "" {
		kernel = in.Profile.Kernel
	}
	if in.Profile.Initrd != "" {
		initrd = in.Profile.Initrd
	}
	appendLine := NFSRootAppend(nr)
	if in.Profile.Append != "" {
		appendLine += " " + in.Profile.Append
	}
	fmt.Fprintf(b, "# NFS root %s: %s:%s\n", nr.Name, nr.Server, nr.Export)
	return renderKernel(b, in, kernel, initrd, appendLine)
}

func renderLocalDisk(b *bytes.Buffer, in Input) error {
	p := in.Profile
	if in.Firmware == IPXE {
		// "exit" hands the machine back to the firmware, which boots its
		// next device (LOCALBOOT 0's way); sanboot boots the first disk
		// itself (chain.c32's way), for firmware that hangs on a return.
		sanboot := p.LocalBoot == "chain"
		if p.LocalBoot != "" && p.LocalBoot != "localboot" && p.LocalBoot != "chain" {
			return fmt.Errorf("unknown BIOS local boot method %q", p.LocalBoot)
		}
		// The same script serves iPXE ROMs and ipxe.efi. Under UEFI
		// (${platform} efi) iPXE cannot sanboot a local disk (Debian 12's
		// iPXE hooks only SAN drives), and a plain "exit" returns
		// EFI_SUCCESS, which EDK2's boot manager answers with its menu:
		// "exit 1" returns an error, so the firmware tries its next boot
		// entry, the disk.
		if sanboot {
			fmt.Fprintf(b, "echo node-switch: %s boots its local disk (cluster %s): first disk (UEFI: firmware's next boot entry)\n", in.Node.Name, in.Cluster.Name)
			b.WriteString("iseq ${platform} efi && goto efi ||\n")
			b.WriteString("sanboot --no-describe --drive 0x80 || exit\n")
		} else {
			fmt.Fprintf(b, "echo node-switch: %s boots its local disk (cluster %s): firmware's next boot device\n", in.Node.Name, in.Cluster.Name)
			b.WriteString("iseq ${platform} efi && goto efi ||\n")
			b.WriteString("exit\n")
		}
		b.WriteString(":efi\nexit 1\n")
		return nil
	}
	if in.Firmware == UEFI {
		b.WriteString("set timeout=0\n")
		switch p.UEFILocalBoot {
		case "chainload":
			fmt.Fprintf(b, "echo \"node-switch: %s boots its local disk (cluster %s): Windows Boot Manager\"\n", in.Node.Name, in.Cluster.Name)
			b.WriteString("insmod part_gpt\ninsmod fat\ninsmod chain\n")
			b.WriteString("search --no-floppy --file --set=root /EFI/Microsoft/Boot/bootmgfw.efi\n")
			b.WriteString("chainloader /EFI/Microsoft/Boot/bootmgfw.efi\n")
			b.WriteString("boot\n")
			// If the chainload fails the firmware's next entry is the
			// safest place to land.
			b.WriteString("exit\n")
		case "", "none", "exit":
			// "none" normally sends no boot file at all; a node that
			// still loaded GRUB (a stale DHCP answer, a boot file set by
			// hand) gets the same as "exit". GRUB 2.06 (Debian 12) can
			// only exit with EFI_SUCCESS, which EDK2 firmware answers
			// with its boot menu rather than its next boot entry: so the
			// disk's removable-media loader, the file the firmware's own
			// disk entry starts, is chainloaded first, and exit is left
			// for a machine without one.
			fmt.Fprintf(b, "echo \"node-switch: %s boots its local disk (cluster %s): the disk's EFI/BOOT loader, else the firmware's next boot entry\"\n", in.Node.Name, in.Cluster.Name)
			b.WriteString("insmod part_gpt\ninsmod part_msdos\ninsmod fat\ninsmod chain\n")
			b.WriteString("set nsw_loader=/EFI/BOOT/BOOTX64.EFI\n")
			b.WriteString("if [ \"$grub_cpu\" = \"arm64\" ]; then set nsw_loader=/EFI/BOOT/BOOTAA64.EFI; fi\n")
			b.WriteString("if search --no-floppy --file --set=root $nsw_loader; then\n")
			b.WriteString("  chainloader $nsw_loader\n  boot\nfi\n")
			b.WriteString("exit\n")
		default:
			return fmt.Errorf("unknown UEFI local boot method %q", p.UEFILocalBoot)
		}
		return nil
	}
	b.WriteString("DEFAULT local\nPROMPT 0\nTIMEOUT 1\n")
	fmt.Fprintf(b, "SAY node-switch: %s boots its local disk (cluster %s)\n", in.Node.Name, in.Cluster.Name)
	b.WriteString("LABEL local\n")
	switch p.LocalBoot {
	case "", "localboot":
		b.WriteString("  LOCALBOOT 0\n")
	case "chain":
		b.WriteString("  COM32 chain.c32\n")
		if p.ChainPartition > 0 {
			fmt.Fprintf(b, "  APPEND hd0 %d\n", p.ChainPartition)
		} else {
			b.WriteString("  APPEND hd0\n")
		}
	default:
		return fmt.Errorf("unknown BIOS local boot method %q", p.LocalBoot)
	}
	return nil
}

// TemplateData is what a site template sees. Kernel/Initrd/File turn a
// path under the boot root into the reference the boot loader needs (TFTP
// or HTTP per the profile), so templates need not know the transport.
type TemplateData struct {
	Input
	Firmware string
}

// flatten is the Input a template sees: a copy whose free text (the
// logbook entry's reason, actor, origin and result, the mask reason, the
// descriptions, the NFS root's check output) has its control characters
// escaped, so no template can emit a line break or an escape sequence from
// free text, whatever was stored. Names, addresses and paths are left
// alone: the inventory keeps them plain, and checkFields refuses a line
// break in a path before a template runs.
func flatten(in Input) Input {
	e := &in.Event
	e.Actor, e.Origin, e.Reason, e.Result = oneLine(e.Actor), oneLine(e.Origin), oneLine(e.Reason), oneLine(e.Result)
	e.Channel, e.Source, e.Target = oneLine(e.Channel), oneLine(e.Source), oneLine(e.Target)
	in.Node.MaskReason, in.Node.Firmware = oneLine(in.Node.MaskReason), oneLine(in.Node.Firmware)
	in.Cluster.Description = oneLine(in.Cluster.Description)
	in.Profile.Description = oneLine(in.Profile.Description)
	in.NFSRoot.CheckResult = oneLine(in.NFSRoot.CheckResult)
	return in
}

func renderTemplate(b *bytes.Buffer, in Input) error {
	src := in.Profile.TemplateBIOS
	switch in.Firmware {
	case UEFI:
		src = in.Profile.TemplateUEFI
	case IPXE:
		// Templates are pxelinux or GRUB text; IPXEScript names no
		// script for them, so only a client asking by name lands here.
		src = ""
	}
	if src == "" {
		// A template profile without a template for this firmware must
		// still boot something harmless.
		fmt.Fprintf(b, "# profile %s has no %s template: booting the local disk\n", in.Profile.Name, in.Firmware)
		plainLocal(b, in.Firmware, in.Node.Name+" has no "+string(in.Firmware)+" template")
		return nil
	}
	t, err := parseSiteTemplate(in, src)
	if err != nil {
		return fmt.Errorf("%s template: %w", in.Firmware, err)
	}
	httpNote(b, in)
	if err := t.Execute(&limitedWriter{w: b}, TemplateData{Input: flatten(in), Firmware: string(in.Firmware)}); err != nil {
		return fmt.Errorf("%s template: %w", in.Firmware, err)
	}
	if b.Len() > 0 && b.Bytes()[b.Len()-1] != '\n' {
		b.WriteByte('\n')
	}
	return nil
}
