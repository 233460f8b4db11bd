package dhcpdconf

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	src := `# site header
authoritative;
subnet 192.168.1.0 netmask 255.255.255.0 {
  option routers 192.168.1.1;
  option domain-name-servers 192.168.1.2, 192.168.1.3;
  option domain-name "um64.example";
  next-server 192.168.1.1;
  default-lease-time 43200;
  group {
    # node-switch cluster=linux profile=sl63 kind=linux
    filename "um64_linux/pxelinux.0";
    host umu20 { hardware ethernet 00:18:F3:4E:5D:39; fixed-address 192.168.1.20; }
    # masked: reinstall Windows
    #host umu21 {hardware ethernet 00:18:F3:4E:5E:21;
    #  fixed-address 192.168.1.21; }
    # an ordinary comment
  }
}
group {
  filename "um64_win/pxelinux.0";
  host umu18 {
    hardware ethernet 00:18:F3:4E:5D:59;
    fixed-address 192.168.1.18;
    filename "special/pxelinux.0";
  }
}
`
	cfg, err := Parse("t.conf", src)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Subnets) != 1 {
		t.Fatalf("subnets = %+v", cfg.Subnets)
	}
	sn := cfg.Subnets[0]
	if sn.Prefix.String() != "192.168.1.0/24" || len(sn.Options.DNS) != 2 || sn.Options.Domain != "um64.example" ||
		sn.Options.LeaseTime != 12*time.Hour || sn.Options.NextServer.String() != "192.168.1.1" {
		t.Errorf("subnet = %+v", sn)
	}
	type want struct {
		name, mac, ip, file, cluster, reason string
		masked                               bool
		line                                 int
	}
	wants := []want{
		{"umu20", "00:18:F3:4E:5D:39", "192.168.1.20", "um64_linux/pxelinux.0", "linux", "", false, 12},
		{"umu21", "00:18:F3:4E:5E:21", "192.168.1.21", "um64_linux/pxelinux.0", "linux", "reinstall Windows", true, 14},
		{"umu18", "00:18:F3:4E:5D:59", "192.168.1.18", "special/pxelinux.0", "", "", false, 21},
	}
	if len(cfg.Hosts) != len(wants) {
		t.Fatalf("hosts = %+v", cfg.Hosts)
	}
	for i, w := range wants {
		h := cfg.Hosts[i]
		if h.Name != w.name || h.MAC != w.mac || h.IP.String() != w.ip || h.Filename != w.file || h.Cluster != w.cluster ||
			h.Masked != w.masked || h.MaskReason != w.reason || h.Line != w.line {
			t.Errorf("host %d = %+v, want %+v", i, h, w)
		}
	}
	if len(cfg.Groups) != 2 || cfg.Groups[0].Cluster != "linux" || cfg.Groups[0].Profile != "sl63" || cfg.Groups[1].Filename != "um64_win/pxelinux.0" {
		t.Errorf("groups = %+v", cfg.Groups)
	}
	if len(cfg.Skipped) != 1 || cfg.Skipped[0].String() != "t.conf:2: authoritative: node-switch answers only nodes it holds a reservation for" {
		t.Errorf("skipped = %q", cfg.Skipped)
	}
}

// TestParseErrors: malformed text stops the parse with file:line and a
// hint that names the real mistake.
func TestParseErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"group {\n", "t.conf:1: missing '}': the block opened on this line is not closed"},
		{"host a { hardware ethernet 00:11:22:33:44:55; fixed-address 10.0.0.1; }\nhost a { hardware ethernet 00:11:22:33:44:56; fixed-address 10.0.0.2; }\n", "t.conf:2: host a declared twice (first at t.conf:1)"},
		{"subnet 10.0.0.0 netmask 255.0.255.0 {\n}\n", "t.conf:1: netmask 255.0.255.0 is not contiguous"},
		{"filename \"a\"\n", "t.conf:1: missing ';' after filename \"a\" at end of file"},
		{"option routers 10.0.0.300;\n", `t.conf:1: option routers: "10.0.0.300" is not an IPv4 address`},
		{"filename \"a;\n", "t.conf:1: string opened here is not closed"},
		{"}\n", "t.conf:1: '}' without a matching '{'"},
		{"frob x {\n}\n", `t.conf:1: unknown declaration "frob"`},
		// A skipped block is still checked for balance.
		{"subnet 10.0.0.0 netmask 255.255.255.0 {\npool {\nrange 10.0.0.10 10.0.0.20;\n}\n", "t.conf:1: missing '}'"},
		{"class \"pxe\" {\n match if option arch = 00:07;\n", "t.conf:1: missing '}'"},
		// Missing ';': the line that lacks it is named, not the next one.
		{"range 10.0.0.10 10.0.0.20\nhost a { hardware ethernet 00:11:22:33:44:55; fixed-address 10.0.0.1; }\n", "t.conf:1: missing ';' after range 10.0.0.10 10.0.0.20"},
		{"authoritative\nddns-update-style none;\n", "t.conf:1: missing ';' after authoritative"},
		{"option routers 10.0.0.1\noption domain-name \"x\";\n", "t.conf:1: missing ';' after option routers 10.0.0.1"},
		{"group {\nfilename \"a/p.0\"\n}\n", "t.conf:2: missing ';' after filename \"a/p.0\""},
		{"host a { hardware ethernet 00:11:22:33:44:55; fixed-address 10.0.0.1 }\n", "t.conf:1: missing ';' after fixed-address 10.0.0.1"},
		{"host a { hardware ethernet 00:11:22:33:44:55;\nfixed-address 10.0.0.1;\nhost b { hardware ethernet 00:11:22:33:44:56; fixed-address 10.0.0.2; }\n}\n", "t.conf:3: host a: host b cannot be declared inside a host (missing '}' before it?)"},
		{"if option arch = 00:07 { filename \"x\"; } else filename \"y\";\n", "t.conf:1: want '{' after else filename \"y\""},
	}
	for _, tt := range tests {
		_, err := parse("t.conf", tt.src, noIncludes)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error = %v, want %q", tt.src, err, tt.want)
		}
	}
}

func noIncludes(string) ([]byte, error) { return nil, errors.New("includes not allowed in this test") }

// TestParseSkipped: each construct dhcpd accepts but node-switch has no
// place for is skipped with one note saying what and why, and the hosts
// around it are still imported.
func TestParseSkipped(t *testing.T) {
	const host = "\ngroup { filename \"g/p.0\"; host n1 { hardware ethernet 00:11:22:33:44:55; fixed-address 10.0.0.5; } }\n"
	tests := []struct {
		name, src string
		want      []string // notes, as printed
		hosts     string   // imported, when not just n1
	}{
		{"range", "subnet 10.0.0.0 netmask 255.255.255.0 {\n  range 10.0.0.100 10.0.0.200;\n}",
			[]string{"t.conf:2: range 10.0.0.100 10.0.0.200: node-switch serves reservations only, no dynamic pool"}, ""},
		{"pool", "subnet 10.0.0.0 netmask 255.255.255.0 {\npool {\n failover peer \"f\";\n range 10.0.0.100 10.0.0.200; # {\n}\n}",
			[]string{"t.conf:2: pool { ... }: node-switch serves reservations only, no dynamic pool"}, ""},
		{"class", "class \"pxe\" {\n  match if substring (option vendor-class-identifier, 0, 9) = \"PXEClient\";\n}",
			[]string{"t.conf:1: class \"pxe\" { ... }: classes are not imported; boot file comes from the node's cluster"}, ""},
		{"subclass", "subclass \"laptops\" 1:3c:52:82:11:22:33;",
			[]string{"t.conf:1: subclass \"laptops\" 1:3c:52:82:11:22:33: classes are not imported; boot file comes from the node's cluster"}, ""},
		{"subclass block", "subclass \"c\" \"x}\" {\n option domain-name \"y\";\n}",
			[]string{"t.conf:1: subclass \"c\" \"x}\" { ... }: classes are not imported; boot file comes from the node's cluster"}, ""},
		{"failover peer", "failover peer \"lab\" {\n primary;\n address 10.0.0.4;\n peer address 10.0.0.5;\n mclt 3600;\n split 128;\n}",
			[]string{"t.conf:1: failover peer \"lab\" { ... }: node-switch has no failover pair: every head node serving the inventory answers"}, ""},
		{"key and zone", "key \"k\" { algorithm hmac-md5; secret \"a\\\"b}\"; }\nzone example.org. { primary 10.0.0.2; key \"k\"; }",
			[]string{"t.conf:1: key \"k\" { ... }: node-switch does no dynamic DNS updates", "t.conf:2: zone example.org. { ... }: node-switch does no dynamic DNS updates"}, ""},
		{"on commit", "on commit {\n  set ip = binary-to-ascii(10, 8, \".\", leased-address);\n  execute(\"/bin/log\", ip);\n}",
			[]string{"t.conf:1: on commit { ... }: lease event actions are not imported: node-switch keeps no leases (its logbook and hooks record changes)"}, ""},
		{"if elsif else", "if option arch = 00:07 {\n filename \"a.efi\";\n} elsif option arch = 00:09 {\n filename \"b.efi\";\n}\n# comment\nelse {\n if exists user-class { filename \"c\"; }\n}",
			[]string{"t.conf:1: if option arch = 00:07 { ... }: conditional statements are not imported; boot file comes from the node's cluster, by firmware from its profile"}, ""},
		{"shared-network", "shared-network wire {\n option routers 10.0.0.1;\n subnet 10.0.0.0 netmask 255.255.255.0 { }\n}",
			[]string{"t.conf:1: shared-network wire: the grouping is not kept; its subnets, groups and hosts are imported"}, ""},
		{"other option", "option ntp-servers 10.0.0.3;",
			[]string{"t.conf:1: option ntp-servers 10.0.0.3: node-switch keeps only the options routers, domain-name-servers, domain-name and subnet-mask"}, ""},
		{"option definition", "option arch code 93 = unsigned integer 16;",
			[]string{"t.conf:1: option arch code 93 = unsigned integer 16: option definitions are not needed: node-switch sends only the options it keeps"}, ""},
		{"router by name", "option routers gw.example.org;",
			[]string{"t.conf:1: option routers gw.example.org: gw.example.org is a host name and node-switch does not resolve names: set the address with 'subnet set'"}, ""},
		{"ddns", "ddns-update-style interim;\nupdate-static-leases on;",
			[]string{"t.conf:1: ddns-update-style interim: node-switch does no dynamic DNS updates", "t.conf:2: update-static-leases on: node-switch does no dynamic DNS updates"}, ""},
		{"server parameter", "authoritative;\nlease-file-name \"/var/lib/dhcp/x\";\nnot authoritative;\ndeny unknown-clients;",
			[]string{"t.conf:1: authoritative: node-switch answers only nodes it holds a reservation for",
				"t.conf:2: lease-file-name \"/var/lib/dhcp/x\": not used by node-switch",
				"t.conf:3: not authoritative: node-switch answers only nodes it holds a reservation for",
				"t.conf:4: deny unknown-clients: node-switch answers only nodes it holds a reservation for"}, ""},
		{"host without fixed-address", "host laptop { hardware ethernet 00:11:22:33:44:66; }",
			[]string{"t.conf:1: host laptop: no fixed-address: node-switch serves reservations only, no dynamic pool"}, ""},
		{"host by client id", "host c { option dhcp-client-identifier \"c\"; fixed-address 10.0.0.7; }",
			[]string{"t.conf:1: option dhcp-client-identifier \"c\": node-switch keeps only the options routers, domain-name-servers, domain-name and subnet-mask",
				"t.conf:1: host c: no 'hardware ethernet': node-switch reserves by MAC"}, ""},
		{"host by name", "host d { hardware ethernet 00:11:22:33:44:77; fixed-address d.example.org; }",
			[]string{"t.conf:1: host d: fixed-address d.example.org is a host name: node-switch does not resolve names; write the IPv4 address"}, ""},
		{"host with two addresses", "host e { hardware ethernet 00:11:22:33:44:88; fixed-address 10.0.0.8, 10.0.1.8; }",
			[]string{"t.conf:1: host e: several fixed addresses: node-switch reserves one address per node"}, ""},
		{"conditional in host", "host f { hardware ethernet 00:11:22:33:44:99; fixed-address 10.0.0.9;\n if option arch = 00:07 { filename \"x.efi\"; } }",
			[]string{"t.conf:2: host f: if option arch = 00:07 { ... }: conditional statements are not imported; boot file comes from the node's cluster, by firmware from its profile"}, "f,n1"},
		{"commented-out prose", "# host x is the gateway {see the wiki}",
			[]string{`t.conf:1: commented-out host x is the gateway {see the wiki}: does not parse as a host (want 'host NAME {'), so it is not imported as a masked node`}, ""},
		{"annotation-like comment", "# node-switch replaced this file",
			[]string{`t.conf:1: comment "node-switch replaced this file": not a node-switch annotation (want key=value words); ignored`}, ""},
		{"multi-line string", "option domain-name \"a\nb\";\nrange 10.0.0.1 10.0.0.2;",
			[]string{"t.conf:3: range 10.0.0.1 10.0.0.2: node-switch serves reservations only, no dynamic pool"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse("t.conf", tt.src+host, noIncludes)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range cfg.Skipped {
				got = append(got, n.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("notes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			want := tt.hosts
			if want == "" {
				want = "n1"
			}
			if hosts := hostNames(cfg); hosts != want {
				t.Errorf("hosts imported = %s, want %s", hosts, want)
			}
		})
	}
}

func hostNames(cfg *Config) string {
	var s []string
	for _, h := range cfg.Hosts {
		s = append(s, h.Name)
	}
	return strings.Join(s, ",")
}

// TestInclude: includes are read next to the including file, parsed in its
// scope, and every failure names the include's file:line.
func TestInclude(t *testing.T) {
	const h1 = "host n1 { hardware ethernet 00:11:22:33:44:55; fixed-address 10.0.0.5; }\n"
	tests := []struct {
		name  string
		files map[string]string // relative to a temp dir; main.conf is parsed
		hosts string            // on success
		want  string            // error, with DIR for the temp dir
	}{
		{"relative, in scope", map[string]string{
			"main.conf":      "group {\n filename \"g/p.0\";\n include \"sub/hosts.conf\";\n}\n",
			"sub/hosts.conf": "include \"more.conf\";\n" + h1,
			"sub/more.conf":  "host n2 { hardware ethernet 00:11:22:33:44:56; fixed-address 10.0.0.6; }\n",
		}, "n2,n1", ""},
		{"missing file", map[string]string{"main.conf": "\n\ninclude \"nope.conf\";\n"}, "", `DIR/main.conf:3: include "nope.conf": open DIR/nope.conf: no such file or directory`},
		{"cycle", map[string]string{"main.conf": "include \"a.conf\";\n", "a.conf": "\ninclude \"main.conf\";\n"}, "",
			`DIR/a.conf:2: include "main.conf": include cycle (DIR/main.conf includes itself through DIR/main.conf -> DIR/a.conf) (included from DIR/main.conf:1)`},
		{"self", map[string]string{"main.conf": "include \"./main.conf\";\n"}, "", `DIR/main.conf:1: include "./main.conf": include cycle`},
		{"error inside", map[string]string{"main.conf": "group {\ninclude \"h.conf\";\n}\n", "h.conf": "host n1 { hardware ethernet 00:11:22:33:44:55 }\n"}, "",
			`DIR/h.conf:1: missing ';' after hardware ethernet 00:11:22:33:44:55 (included from DIR/main.conf:2)`},
		{"unbalanced inside", map[string]string{"main.conf": "group {\ninclude \"h.conf\";\n}\n", "h.conf": "}\n"}, "",
			`DIR/h.conf:1: '}' without a matching '{' (included from DIR/main.conf:2)`},
		{"not a string", map[string]string{"main.conf": "include h.conf;\n"}, "", `DIR/main.conf:1: want 'include "FILE";'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, src := range tt.files {
				os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
				if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := ParseFile(filepath.Join(dir, "main.conf"))
			if tt.want != "" {
				want := strings.ReplaceAll(tt.want, "DIR", dir)
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("error = %v\nwant    %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := hostNames(cfg); got != tt.hosts {
				t.Errorf("hosts = %s, want %s", got, tt.hosts)
			}
			for _, h := range cfg.Hosts {
				if h.Filename != "g/p.0" {
					t.Errorf("host %s: filename %q, want the including group's", h.Name, h.Filename)
				}
			}
		})
	}
}

// FuzzParse: any input parses or fails with a file:line error, never a
// panic, and every host parsed has a MAC and an address; what parses
// converts to an inventory or fails, never panics, and never makes more
// nodes than hosts. Seeds: here and
// testdata/fuzz/FuzzParse (the repo's real dhcpd.conf files).
func FuzzParse(f *testing.F) {
	f.Add("group {\nfilename \"a/pxelinux.0\";\nhost n1 {hardware ethernet 00:18:F3:4E:5D:59;\nfixed-address 10.0.0.1; }\n#host n2 {hardware ethernet 00:18:F3:4E:5D:5a;\n#fixed-address 10.0.0.2; }\n}\n")
	f.Add("subnet 10.0.0.0 netmask 255.255.255.0 { option routers 10.0.0.1; }")
	if site, err := os.ReadFile(filepath.Join("..", "testdata", "dhcpd-site", "dhcpd.conf")); err == nil {
		f.Add(string(site))
	}
	f.Fuzz(func(t *testing.T, src string) {
		cfg, err := parse("f.conf", src, noIncludes)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.conf:") {
				t.Fatalf("error without file:line: %v", err)
			}
			return
		}
		for _, h := range cfg.Hosts {
			if h.MAC == "" || !h.IP.IsValid() {
				t.Fatalf("host without MAC or address: %+v", h)
			}
		}
		inv, _, err := ToInventory("f.conf", cfg, ImportOptions{})
		if err == nil && len(inv.Nodes) > len(cfg.Hosts) {
			t.Fatalf("%d hosts became %d nodes", len(cfg.Hosts), len(inv.Nodes))
		}
	})
}
