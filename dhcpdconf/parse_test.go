package dhcpdconf

import (
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
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "t.conf:2: authoritative ignored") {
		t.Errorf("warnings = %q", cfg.Warnings)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"group {\n", "t.conf:1: missing '}' at end of file"},
		{"host a { hardware ethernet 00:11:22:33:44:55; fixed-address 10.0.0.1; }\nhost a { hardware ethernet 00:11:22:33:44:56; fixed-address 10.0.0.2; }\n", "t.conf:2: host a declared twice (first at line 1)"},
		{"subnet 10.0.0.0 netmask 255.0.255.0 {\n}\n", "t.conf:1: netmask 255.0.255.0 is not contiguous"},
		{"filename \"a\"\n", "missing ';'"},
		{"option routers 10.0.0.300;\n", `t.conf:1: option routers: "10.0.0.300" is not an IPv4 address`},
		{"frobnicate yes;\n", `t.conf:1: unknown statement "frobnicate"`},
		{"#host a { hardware ethernet 00:11:22:33:44:55;\n", "commented-out host does not parse"},
		{"filename \"a\n\";\n", "string not closed"},
	}
	for _, tt := range tests {
		_, err := Parse("t.conf", tt.src)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error = %v, want %q", tt.src, err, tt.want)
		}
	}
}

// FuzzParse: any input parses or fails with a file:line error, never a
// panic, and every host parsed has a MAC and an address.
func FuzzParse(f *testing.F) {
	f.Add("group {\nfilename \"a/pxelinux.0\";\nhost n1 {hardware ethernet 00:18:F3:4E:5D:59;\nfixed-address 10.0.0.1; }\n#host n2 {hardware ethernet 00:18:F3:4E:5D:5a;\n#fixed-address 10.0.0.2; }\n}\n")
	f.Add("subnet 10.0.0.0 netmask 255.255.255.0 { option routers 10.0.0.1; }")
	f.Fuzz(func(t *testing.T, src string) {
		cfg, err := Parse("f.conf", src)
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
	})
}
