package dhcpdconf

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
)

// TestSiteFixture imports a site's dhcpd.conf as found in the wild (include,
// shared-network, classes, pool and range, failover, DDNS key and zone, on
// commit, conditionals, comments), after ISC dhcpd itself has accepted it.
func TestSiteFixture(t *testing.T) {
	dir := filepath.Join("..", "testdata", "dhcpd-site")
	dhcpd, err := exec.LookPath("dhcpd")
	if err != nil {
		dhcpd = "/usr/sbin/dhcpd"
	}
	if _, err := exec.LookPath(dhcpd); err != nil {
		t.Skip("ISC dhcpd not installed (apt-get install isc-dhcp-server): cannot prove the fixture is valid dhcpd.conf")
	}
	// dhcpd opens a relative include from its working directory.
	cmd := exec.Command(dhcpd, "-t", "-4", "-cf", "dhcpd.conf")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dhcpd -t rejects the fixture: %v\n%s", err, out)
	}

	main := filepath.Join(dir, "dhcpd.conf")
	cfg, err := ParseFile(main)
	if err != nil {
		t.Fatal(err)
	}
	inv, notes, err := ToInventory(main, cfg, ImportOptions{NameMap: map[string]string{"lab_win": "windows"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range inv.Nodes {
		got = append(got, fmt.Sprintf("%s %s %s %s masked=%v %s", n.Name, n.MAC, n.IP, n.Cluster, n.Masked, n.MaskReason))
	}
	wantNodes := []string{
		"win01 00:1a:2b:3c:4d:01 10.1.0.11 windows masked=false ",
		"win02 00:1a:2b:3c:4d:02 10.1.0.12 windows masked=false ",
		"win03 00:1a:2b:3c:4d:03 10.1.0.13 windows masked=true disk replaced, reinstall Windows",
		"lin01 00:1a:2b:3c:5e:01 10.1.1.21 lab_linux masked=false ",
		"lin02 00:1a:2b:3c:5e:02 10.1.1.22 lab_linux masked=false ",
		"lin03 00:1a:2b:3c:5e:03 10.1.1.23 lab_linux masked=false ",
	}
	if !slices.Equal(got, wantNodes) {
		t.Errorf("nodes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantNodes, "\n"))
	}
	got = nil
	for i, c := range inv.Clusters {
		p := inv.Profiles[i]
		got = append(got, fmt.Sprintf("%s profile=%s kind=%s bios=%s", c.Name, p.Name, p.Kind, p.BootFiles["bios"]))
	}
	wantClusters := []string{"windows profile=windows kind=localdisk bios=lab_win/pxelinux.0", "lab_linux profile=lab_linux kind=linux bios=lab_linux/pxelinux.0"}
	if !slices.Equal(got, wantClusters) {
		t.Errorf("clusters:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantClusters, "\n"))
	}
	got = nil
	for _, s := range inv.Subnets {
		got = append(got, fmt.Sprintf("%s routers=%v dns=%v domain=%s next-server=%v lease=%s", s.Prefix, s.Routers, s.DNS, s.Domain, s.NextServer, s.LeaseTime))
	}
	// Global and shared-network options reach the subnets inside them.
	wantSubnets := []string{
		"10.1.0.0/24 routers=[10.1.0.1] dns=[10.1.0.2 10.1.0.3] domain=lab.example.edu next-server=10.1.0.1 lease=12h0m0s",
		"10.1.1.0/24 routers=[10.1.1.1] dns=[10.1.0.2 10.1.0.3] domain=lab.example.edu next-server=invalid IP lease=1h0m0s",
	}
	if !slices.Equal(got, wantSubnets) {
		t.Errorf("subnets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantSubnets, "\n"))
	}
	got = nil
	for _, n := range cfg.Skipped {
		got = append(got, strings.TrimPrefix(n.String(), dir+"/"))
	}
	got = append(got, notes...)
	want := []string{
		"dhcpd.conf:5: authoritative: node-switch answers only nodes it holds a reservation for",
		"dhcpd.conf:6: ddns-update-style none: node-switch does no dynamic DNS updates",
		"dhcpd.conf:7: log-facility local7: not used by node-switch",
		"dhcpd.conf:9: max-lease-time 86400: node-switch keeps one lease time per subnet, from default-lease-time",
		"dhcpd.conf:14: option arch code 93 = unsigned integer 16: option definitions are not needed: node-switch sends only the options it keeps",
		"dhcpd.conf:15: option space ipxe: option definitions are not needed: node-switch sends only the options it keeps",
		"dhcpd.conf:16: option ipxe.no-pxedhcp code 176 = unsigned integer 8: option definitions are not needed: node-switch sends only the options it keeps",
		`dhcpd.conf:18: key "ddns-key" { ... }: node-switch does no dynamic DNS updates`,
		"dhcpd.conf:23: zone lab.example.edu. { ... }: node-switch does no dynamic DNS updates",
		`dhcpd.conf:28: failover peer "lab-failover" { ... }: node-switch has no failover pair: every head node serving the inventory answers`,
		`dhcpd.conf:41: class "pxe" { ... }: classes are not imported; boot file comes from the node's cluster`,
		`dhcpd.conf:44: class "laptops" { ... }: classes are not imported; boot file comes from the node's cluster`,
		`dhcpd.conf:47: subclass "laptops" 1:3c:52:82:11:22:33: classes are not imported; boot file comes from the node's cluster`,
		`dhcpd.conf:49: if exists user-class and option user-class = "iPXE" { ... }: conditional statements are not imported; boot file comes from the node's cluster, by firmware from its profile`,
		"dhcpd.conf:57: on commit { ... }: lease event actions are not imported: node-switch keeps no leases (its logbook and hooks record changes)",
		"dhcpd.conf:62: shared-network lab-wire: the grouping is not kept; its subnets, groups and hosts are imported",
		"dhcpd.conf:68: pool { ... }: node-switch serves reservations only, no dynamic pool",
		`dhcpd.conf:80: option host-name "win02": node-switch keeps only the options routers, domain-name-servers, domain-name and subnet-mask`,
		"dhcpd.conf:88: host prof-laptop: no fixed-address: node-switch serves reservations only, no dynamic pool",
		`linux-hosts.conf:7: ddns-hostname "lin03": node-switch does no dynamic DNS updates`,
		"cluster windows: profile windows boots the local disk (its name says Windows; --kind windows=linux to change)",
		"cluster lab_linux: profile lab_linux boots Linux but has no kernel yet: set one with 'profile set lab_linux --kernel FILE --initrd FILE' before its nodes boot (--kind lab_linux=localdisk to change)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("notes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestImportOptionsMatch: a --name-map or --kind entry that names nothing in
// the file is an error, not silently ignored.
func TestImportOptionsMatch(t *testing.T) {
	const src = "group { filename \"um64_win/pxelinux.0\"; host a { hardware ethernet 00:11:22:33:44:55; fixed-address 10.0.0.5; } }\n"
	tests := []struct {
		name string
		o    ImportOptions
		want string // "" = no error
	}{
		{"both match", ImportOptions{NameMap: map[string]string{"um64_win": "windows"}, KindMap: map[string]nodes.ProfileKind{"windows": nodes.KindLinux}}, ""},
		{"whole file name", ImportOptions{NameMap: map[string]string{"um64_win/pxelinux.0": "windows"}}, ""},
		{"name-map typo", ImportOptions{NameMap: map[string]string{"um64_wn": "windows"}}, "--name-map um64_wn=windows: no group or host has a boot file in that directory (or of that name)"},
		{"kind before renaming", ImportOptions{NameMap: map[string]string{"um64_win": "windows"}, KindMap: map[string]nodes.ProfileKind{"um64_win": nodes.KindLinux}}, "--kind um64_win=linux: no cluster of that name (clusters: windows)"},
		{"kind typo", ImportOptions{KindMap: map[string]nodes.ProfileKind{"linux": nodes.KindLinux}}, "--kind linux=linux: no cluster of that name (clusters: um64_win)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse("t.conf", src, noIncludes)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = ToInventory("t.conf", cfg, tt.o)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || err.Error() != tt.want) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}
