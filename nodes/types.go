// Package nodes is the inventory: the only state node-switch has. Every DHCP
// answer, every rendered boot config and every command reads it at the moment
// it runs, so a committed change takes effect on a node's next boot without a
// restart or a regenerated file.
//
// Rule: every change that can affect what a node boots appends a logbook
// entry in the same transaction. Writes that change nothing a node boots
// (RecordSeen) deliberately do not log. Readers that cache the inventory
// (the DHCP server) do not rely on the logbook but on the generation
// (GenerationQuery), which the schema's triggers keep for any writer.
package nodes

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// ErrNotFound is returned (wrapped) when a node, cluster, profile or other
// record does not exist. The DHCP server treats it as "stay silent".
var ErrNotFound = errors.New("not found")

// Node is one physical machine with the reservation that ties its MAC to an
// address and a logical cluster. JSON names are a contract with the
// PowerShell client on the Windows head.
type Node struct {
	Name       string     `json:"name"`
	MAC        string     `json:"mac"` // canonical lower-case, colon separated
	IP         netip.Addr `json:"ip"`
	Cluster    string     `json:"cluster"`
	Masked     bool       `json:"masked"`
	MaskReason string     `json:"mask_reason,omitempty"`
	// Event is the logbook entry that last changed what the node boots, so a
	// rendered config can say why it looks the way it does.
	Event int64 `json:"event,omitempty"`
	// LastSeen and Firmware are null in JSON until our DHCP server has
	// heard from the node (see MarshalJSON).
	LastSeen time.Time `json:"last_seen"`
	// Firmware is what the node's last DHCP request said it was, e.g.
	// "bios", "uefi", "uefi-ipxe" (see dhcp.Firmware.Label).
	Firmware string `json:"firmware"`
	// OnceCluster, when not empty, is where the node's next boot goes
	// instead of Cluster (move --once); OnceEvent is the logbook entry
	// that asked for it. See once.go; JSON shows null when none is pending.
	OnceCluster string `json:"once_cluster"`
	OnceEvent   int64  `json:"once_event,omitempty"`
}

type nodeFields Node

// nodeJSON is Node as JSON readers see it. A key that comes and goes with
// the data breaks readers that index a fixed set of columns (PowerShell's
// ConvertFrom-Json gives the first object's properties to the whole
// table), so last_seen and firmware are always there, null until known.
type nodeJSON struct {
	nodeFields
	LastSeen    *time.Time `json:"last_seen"`
	Firmware    *string    `json:"firmware"`
	OnceCluster *string    `json:"once_cluster"`
}

// MarshalJSON writes last_seen and firmware as null while unknown, and
// once_cluster as null when no boot once is pending.
func (n Node) MarshalJSON() ([]byte, error) {
	j := nodeJSON{nodeFields: nodeFields(n)}
	if !n.LastSeen.IsZero() {
		j.LastSeen = &n.LastSeen
	}
	if n.Firmware != "" {
		j.Firmware = &n.Firmware
	}
	if n.OnceCluster != "" {
		j.OnceCluster = &n.OnceCluster
	}
	return json.Marshal(j)
}

// ProfileKind says how a profile boots a node.
type ProfileKind string

const (
	KindLinux     ProfileKind = "linux"     // kernel + initrd + append over the network
	KindLocalDisk ProfileKind = "localdisk" // the OS on the node's own disk (the Windows side)
	KindNFSRoot   ProfileKind = "nfsroot"   // kernel + initrd, root filesystem over NFS
	KindTemplate  ProfileKind = "template"  // a site-provided text/template
	// KindFiles serves the site's own boot loader configs (pxelinux.cfg/,
	// grub.cfg) from a directory under the boot root, untouched: how a
	// site migrating from plain dhcpd keeps booting what it booted.
	KindFiles ProfileKind = "files"
)

// ProfileKinds lists the valid kinds in the order help texts show them.
var ProfileKinds = []ProfileKind{KindLinux, KindLocalDisk, KindNFSRoot, KindTemplate, KindFiles}

// ParseProfileKind validates a kind given by an operator.
func ParseProfileKind(s string) (ProfileKind, error) {
	for _, k := range ProfileKinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown profile kind %q (want one of linux, localdisk, nfsroot, template, files)", s)
}

// Boot file keys: which first-stage file a DHCP reply names, by the client's
// architecture (option 93) and whether it already runs iPXE (option 77/175).
const (
	BootBIOS  = "bios"  // option 93 = 0
	BootUEFI  = "uefi"  // option 93 = 7 or 9 (x86-64 UEFI)
	BootARM64 = "arm64" // option 93 = 11
	BootIPXE  = "ipxe"  // any architecture, request already from iPXE
)

// BootKeys lists the valid boot file keys.
var BootKeys = []string{BootBIOS, BootUEFI, BootARM64, BootIPXE}

// Profile describes what a cluster's nodes boot. Empty fields mean "the
// kind's default"; bootprofiles owns those defaults and the rendering.
type Profile struct {
	Name string      `json:"name"`
	Kind ProfileKind `json:"kind"`
	// BootFiles maps a boot key (BootBIOS, ...) to the file named in the DHCP
	// reply. A key mapped to "" explicitly means "send no boot file", which
	// lets UEFI firmware fall through to the local disk.
	BootFiles map[string]string `json:"boot_files,omitempty"`
	Kernel    string            `json:"kernel,omitempty"`
	Initrd    string            `json:"initrd,omitempty"`
	Append    string            `json:"append,omitempty"`
	// KernelARM64 and InitrdARM64 are what ARM64 nodes (option 93 = 11)
	// boot in place of Kernel and Initrd, so one cluster can mix
	// architectures. An ARM64 node of a profile without KernelARM64 is
	// refused its config rather than sent an x86-64 kernel.
	KernelARM64 string `json:"kernel_arm64,omitempty"`
	InitrdARM64 string `json:"initrd_arm64,omitempty"`
	// LocalBoot is the BIOS local-disk method: "localboot" (LOCALBOOT 0) or
	// "chain" (chain.c32 hd0 [ChainPartition]); some firmware hangs on one.
	LocalBoot      string `json:"local_boot,omitempty"`
	ChainPartition int    `json:"chain_partition,omitempty"`
	// UEFILocalBoot is the UEFI local-disk method: "none" (no boot file, the
	// firmware moves on), "exit" (GRUB exit) or "chainload" (GRUB chainloads
	// the Windows boot manager).
	UEFILocalBoot string `json:"uefi_local_boot,omitempty"`
	// UEFIChain is the x86-64 UEFI loader chain: "" (the signed chain when
	// the boot root holds it, else the self-built GRUB), "signed" (shim ->
	// the distribution's signed GRUB, for Secure Boot) or "self-built"
	// (bootroot init's grub-mkimage image, unsigned).
	UEFIChain string `json:"uefi_chain,omitempty"`
	// UEFIBoot is how x86-64 and ARM64 UEFI nodes boot from the network
	// when their firmware can do both: "" or "pxe" (PXE over TFTP; an HTTP
	// boot entry is refused at once) or "http" (native UEFI HTTP boot: the
	// loader, its config, kernel and initrd over HTTP; the PXE entry gets
	// no boot file, so the firmware moves on to its HTTP entry).
	UEFIBoot     string `json:"uefi_boot,omitempty"`
	NFSRoot      string `json:"nfsroot,omitempty"` // catalog entry for kind nfsroot
	TemplateBIOS string `json:"template_bios,omitempty"`
	TemplateUEFI string `json:"template_uefi,omitempty"`
	// FilesDir is, for kind files, the directory under the boot root that
	// holds the site's pxelinux.cfg/ and grub.cfg files.
	FilesDir string `json:"files_dir,omitempty"`
	// HTTP serves kernel and initrd over HTTP instead of TFTP.
	HTTP        bool   `json:"http,omitempty"`
	Description string `json:"description,omitempty"`
}

// Cluster is a logical cluster: a name and the profile its nodes boot.
type Cluster struct {
	Name        string `json:"name"`
	Profile     string `json:"profile"`
	Description string `json:"description,omitempty"`
}

// Subnet holds the options a DHCP reply carries for addresses inside it; it
// is also where an imported dhcpd.conf's shared options are kept.
type Subnet struct {
	Prefix     netip.Prefix `json:"subnet"`
	Routers    []netip.Addr `json:"routers,omitempty"`
	DNS        []netip.Addr `json:"dns,omitempty"`
	Domain     string       `json:"domain,omitempty"`
	NextServer netip.Addr   `json:"next_server,omitzero"`
	// LeaseTime is shown in JSON as lease_time_seconds (see MarshalJSON).
	LeaseTime time.Duration `json:"-"`
	// Options are the site options (NTP servers, MTU, search list ...) in
	// code order; see ParseDHCPOption.
	Options []DHCPOption `json:"options,omitempty"`
}

// subnetJSON is Subnet as JSON readers see it: the lease in whole seconds,
// as dhcpd.conf's default-lease-time, under a name that says the unit (a
// reader of the old lease_time, in nanoseconds, then finds nothing rather
// than a number off by 10⁹).
type subnetJSON struct {
	subnetFields
	LeaseSeconds int64 `json:"lease_time_seconds,omitempty"`
}

type subnetFields Subnet

// MarshalJSON writes the lease time as lease_time_seconds.
func (s Subnet) MarshalJSON() ([]byte, error) {
	return json.Marshal(subnetJSON{subnetFields(s), int64(s.LeaseTime / time.Second)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Subnet) UnmarshalJSON(b []byte) error {
	var j subnetJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Subnet(j.subnetFields)
	s.LeaseTime = time.Duration(j.LeaseSeconds) * time.Second
	return nil
}

// NFSRoot is an entry of the diskless-root catalog.
type NFSRoot struct {
	Name          string `json:"name"`
	Server        string `json:"server"`
	Export        string `json:"export"`
	Kernel        string `json:"kernel"`
	Initrd        string `json:"initrd"`
	KernelVersion string `json:"kernel_version,omitempty"`
	Options       string `json:"options,omitempty"`
	// CheckedAt and CheckResult are null in JSON until the first check
	// (see MarshalJSON).
	CheckedAt   time.Time `json:"checked_at"`
	CheckOK     bool      `json:"check_ok"`
	CheckResult string    `json:"check_result"`
}

type nfsrootFields NFSRoot

// nfsrootJSON is NFSRoot as JSON readers see it: the check's keys always
// there (see nodeJSON), null while the root was never checked.
type nfsrootJSON struct {
	nfsrootFields
	CheckedAt   *time.Time `json:"checked_at"`
	CheckOK     bool       `json:"check_ok"`
	CheckResult *string    `json:"check_result"`
}

// MarshalJSON writes checked_at and check_result as null before the first
// check.
func (r NFSRoot) MarshalJSON() ([]byte, error) {
	j := nfsrootJSON{nfsrootFields: nfsrootFields(r), CheckOK: r.CheckOK}
	if !r.CheckedAt.IsZero() {
		j.CheckedAt, j.CheckResult = &r.CheckedAt, &r.CheckResult
	}
	return json.Marshal(j)
}

// SSH key roles.
const (
	RoleRead    = "read"
	RoleOperate = "operate"
)

// SSHKey is a public key allowed through the SSH front door.
type SSHKey struct {
	Fingerprint string    `json:"fingerprint"` // SHA256:...
	PublicKey   string    `json:"public_key"`  // authorized_keys format
	Role        string    `json:"role"`
	Comment     string    `json:"comment,omitempty"`
	AddedAt     time.Time `json:"added_at"`
}

// Channels an actor can come through.
const (
	ChannelCLI   = "cli"
	ChannelSSH   = "ssh"
	ChannelTimer = "timer"
	ChannelDHCP  = "dhcp"
	ChannelTFTP  = "tftp"
	ChannelHTTP  = "http"
	ChannelWeb   = "web"
)

// Actor is who asked for a change, through which channel, from where.
type Actor struct {
	Name    string `json:"actor"`
	Channel string `json:"channel"`
	From    string `json:"from,omitempty"`
}

func (a Actor) String() string {
	s := a.Name + " (" + a.Channel
	if a.From != "" {
		s += " from " + a.From
	}
	return s + ")"
}

// Event is one logbook entry.
type Event struct {
	ID      int64     `json:"id"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Channel string    `json:"channel"`
	Origin  string    `json:"origin,omitempty"` // local, or the client address
	Action  Action    `json:"action"`
	Nodes   []string  `json:"nodes"`
	// Source and Target are clusters, named "from" and "to" as in the
	// reports of move, mask and unmask.
	Source string `json:"from,omitempty"`
	Target string `json:"to,omitempty"`
	Reason string `json:"reason,omitempty"`
	Result string `json:"result,omitempty"`
}

// ParseMAC accepts the spellings operators paste (colons, dashes, dots) and
// returns the canonical lower-case colon form used as the inventory key.
func ParseMAC(s string) (string, error) {
	hw, err := net.ParseMAC(strings.TrimSpace(s))
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("malformed MAC address %q (want six bytes such as 00:18:f3:4e:5d:59)", s)
	}
	return hw.String(), nil
}

// ParseIP accepts a dotted IPv4 address; the DHCP side is IPv4 only.
func ParseIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("malformed IPv4 address %q", s)
	}
	return a, nil
}
