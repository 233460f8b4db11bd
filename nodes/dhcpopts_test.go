package nodes

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/rfc1035label"
)

func TestParseDHCPOption(t *testing.T) {
	tests := []struct {
		arg       string
		canonical string // "" = same as given
		wire      string // hex; "" with err
		err       string
	}{
		{arg: "42=10.20.0.2", wire: "0a140002"},
		{arg: "ntp-servers=10.20.0.2, 10.20.0.3", canonical: "10.20.0.2,10.20.0.3", wire: "0a1400020a140003"},
		{arg: "26=9000", wire: "2328"},
		{arg: "23=64", wire: "40"},
		{arg: "35=60", wire: "0000003c"},
		{arg: "2=-3600", wire: "fffff1f0"},
		{arg: "19=off", canonical: "false", wire: "00"},
		{arg: "27=true", wire: "01"},
		{arg: "17=/srv/nfs/root", wire: hex.EncodeToString([]byte("/srv/nfs/root"))},
		{arg: "119=Cluster.Local.", canonical: "cluster.local", wire: "07636c7573746572056c6f63616c00"},
		{arg: "224=hex:0A:0b", canonical: "hex:0a0b", wire: "0a0b"},
		{arg: "42=hex:0a000001", canonical: "hex:0a000001", wire: "0a000001"},
		{arg: "16=10.0.0.1,10.0.0.2", err: "2 addresses"},
		{arg: "26=70000", err: "fits 16 bits"},
		{arg: "42=10.0.0", err: "malformed IPv4"},
		{arg: "19=maybe", err: "true or false"},
		{arg: "119=bad..name", err: "labels of 1 to 63"},
		{arg: "17=tab\there", err: "printable ASCII"},
		{arg: "224=7", err: "give its bytes as 224=hex:0a0b"},
		{arg: "224=hex:0g", err: "not hex bytes"},
		{arg: "3=10.0.0.1", err: "use --router"},
		{arg: "6=10.0.0.1", err: "use --dns"},
		{arg: "15=example.org", err: "use --domain"},
		{arg: "51=60", err: "use --lease-time"},
		{arg: "66=x", err: "use --next-server"},
		{arg: "67=x", err: "profile set --boot-file"},
		{arg: "12=x", err: "node's name"},
		{arg: "54=hex:0a000001", err: "serving address"},
		{arg: "55=hex:01", err: "clients send it"},
		{arg: "82=hex:01", err: "relay agent"},
		{arg: "255=hex:01", err: "end is not an option"},
		{arg: "224=hex:" + strings.Repeat("00", 256), err: "more than the 255"},
		{arg: "42", err: "want CODE=VALUE"},
		{arg: "300=1", err: "neither a code"},
		{arg: "no-such-option=1", err: "neither a code"},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			code, value, err := ParseOptionArg(tt.arg)
			var o DHCPOption
			if err == nil {
				o, err = ParseDHCPOption(code, value)
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tt.canonical
			if want == "" {
				_, want, _ = strings.Cut(tt.arg, "=")
			}
			if o.Value != want || hex.EncodeToString(o.Wire()) != tt.wire {
				t.Fatalf("got %q wire %x, want %q wire %s", o.Value, o.Wire(), want, tt.wire)
			}
		})
	}
}

// The search list is RFC 1035-compressed; another decoder must read back
// the names, and the shared suffixes must be pointers, not repeats.
func TestSearchListCompressed(t *testing.T) {
	names := []string{"cluster.local", "example.org", "a.cluster.local", "b.example.org", "cluster.local.example.org"}
	o, err := ParseDHCPOption(119, strings.Join(names, ","))
	if err != nil {
		t.Fatal(err)
	}
	got, err := rfc1035label.FromBytes(o.Wire())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Labels, names) {
		t.Fatalf("decoded %q, want %q", got.Labels, names)
	}
	uncompressed := 0
	for _, n := range names {
		uncompressed += len(n) + 2
	}
	// cluster.local (15) example.org (13) a+ptr (4) b+ptr (4) cluster+local+ptr (16)
	if len(o.Wire()) != 52 || len(o.Wire()) >= uncompressed {
		t.Fatalf("%d bytes (uncompressed %d), want 52: %x", len(o.Wire()), uncompressed, o.Wire())
	}
}

func TestCheckLeasable(t *testing.T) {
	p24 := netip.MustParsePrefix("192.168.1.0/24")
	tests := []struct {
		ip     string
		prefix netip.Prefix
		err    string
	}{
		{"192.168.1.18", p24, ""},
		{"192.168.1.255", p24, "broadcast address of subnet 192.168.1.0/24"},
		{"192.168.1.0", p24, "network address of subnet 192.168.1.0/24"},
		{"192.168.1.0", netip.Prefix{}, ""}, // no subnet defined: cannot tell
		{"10.1.3.255", netip.MustParsePrefix("10.1.2.0/23"), "broadcast address of subnet 10.1.2.0/23"},
		{"10.1.3.0", netip.MustParsePrefix("10.1.2.0/23"), ""},
		{"10.0.0.0", netip.MustParsePrefix("10.0.0.0/31"), ""}, // RFC 3021: both usable
		{"10.0.0.1", netip.MustParsePrefix("10.0.0.0/31"), ""},
		{"10.0.0.7", p24, ""}, // outside the prefix: not its business
		{"0.0.0.0", p24, "unspecified"},
		{"127.0.0.1", p24, "loopback"},
		{"224.0.0.1", p24, "multicast"},
		{"255.255.255.255", p24, "limited broadcast"},
		{"169.254.1.1", p24, "link-local"},
		{"240.0.0.1", p24, "reserved range"},
		{"::1", p24, "not an IPv4"},
	}
	for _, tt := range tests {
		t.Run(tt.ip+" in "+tt.prefix.String(), func(t *testing.T) {
			err := CheckLeasable(netip.MustParseAddr(tt.ip), tt.prefix)
			if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

func TestCheckNodeMAC(t *testing.T) {
	tests := []struct{ mac, err string }{
		{"00:18:f3:4e:5d:59", ""},
		{"02:00:00:00:00:01", ""}, // locally administered is fine (VMs)
		{"ff:ff:ff:ff:ff:ff", "broadcast or multicast"},
		{"01:00:5e:00:00:01", "broadcast or multicast"},
		{"00:00:00:00:00:00", "all zeros"},
	}
	for _, tt := range tests {
		t.Run(tt.mac, func(t *testing.T) {
			hw, _ := net.ParseMAC(tt.mac)
			err := CheckNodeMAC(hw)
			if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

// Every path that adds a node (node add, import) refuses what DHCP must
// never lease, and changes nothing.
func TestAddNodeRefusesUnleasable(t *testing.T) {
	st := newTestStore(t)
	ctx := context.Background()
	must(t, st.SetSubnet(ctx, testActor, Subnet{Prefix: netip.MustParsePrefix("192.168.1.0/24")}))
	tests := []struct {
		name, mac, ip, want string
	}{
		{"broadcast of a subnet", "02:00:00:00:00:01", "192.168.1.255", "192.168.1.255 is the broadcast address of subnet 192.168.1.0/24"},
		{"network of a subnet", "02:00:00:00:00:01", "192.168.1.0", "network address"},
		{"unspecified", "02:00:00:00:00:01", "0.0.0.0", "unspecified"},
		{"loopback", "02:00:00:00:00:01", "127.0.0.1", "loopback"},
		{"multicast", "02:00:00:00:00:01", "239.1.1.1", "multicast"},
		{"limited broadcast", "02:00:00:00:00:01", "255.255.255.255", "limited broadcast"},
		{"broadcast MAC", "ff:ff:ff:ff:ff:ff", "192.168.1.20", "broadcast or multicast"},
		{"multicast MAC", "01:00:5e:01:02:03", "192.168.1.20", "broadcast or multicast"},
		{"zero MAC", "00:00:00:00:00:00", "192.168.1.20", "all zeros"},
	}
	for _, tt := range tests {
		n := Node{Name: "bc", MAC: tt.mac, IP: netip.MustParseAddr(tt.ip), Cluster: "linux"}
		t.Run("add/"+tt.name, func(t *testing.T) {
			_, err := st.AddNode(ctx, testActor, n, "")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "add node bc") {
				t.Fatalf("AddNode error = %v, want it to name bc and contain %q", err, tt.want)
			}
		})
		t.Run("import/"+tt.name, func(t *testing.T) {
			_, err := st.Import(ctx, testActor, Inventory{Nodes: []Node{n}}, "")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "node bc") {
				t.Fatalf("Import error = %v, want it to name bc and contain %q", err, tt.want)
			}
		})
	}
	// A subnet imported with the node counts too.
	_, err := st.Import(ctx, testActor, Inventory{
		Subnets: []Subnet{{Prefix: netip.MustParsePrefix("10.5.0.0/16")}},
		Nodes:   []Node{{Name: "bc", MAC: "02:00:00:00:00:01", IP: netip.MustParseAddr("10.5.255.255"), Cluster: "linux"}},
	}, "")
	if err == nil || !strings.Contains(err.Error(), "broadcast address of subnet 10.5.0.0/16") {
		t.Fatalf("Import with its own subnet: error = %v", err)
	}
	if ns, _ := st.Nodes(ctx, ""); len(ns) != 0 {
		t.Fatalf("refused adds left %d nodes", len(ns))
	}
	if sns, _ := st.Subnets(ctx); len(sns) != 1 {
		t.Fatalf("a refused import left %d subnets, want 1", len(sns))
	}
}

func TestUpdateSubnetChangesOnlyWhatIsGiven(t *testing.T) {
	st := newTestStore(t)
	ctx := context.Background()
	p := netip.MustParsePrefix("10.20.0.0/16")
	full := Subnet{Prefix: p, Routers: []netip.Addr{netip.MustParseAddr("10.20.0.1")}, DNS: []netip.Addr{netip.MustParseAddr("10.20.0.2")},
		Domain: "c.example", NextServer: netip.MustParseAddr("10.20.0.9"), LeaseTime: 12 * time.Hour}
	must(t, full.SetOption(26, "9000"))
	must(t, st.SetSubnet(ctx, testActor, full))

	tests := []struct {
		name   string
		change func(*Subnet) error
		want   func(*Subnet)
		result string
	}{
		{"dns only", func(sn *Subnet) error { sn.DNS = []netip.Addr{netip.MustParseAddr("10.20.0.3")}; return nil },
			func(sn *Subnet) { sn.DNS = []netip.Addr{netip.MustParseAddr("10.20.0.3")} }, "dns 10.20.0.2 → 10.20.0.3"},
		{"add options", func(sn *Subnet) error {
			if err := sn.SetOption(42, "10.20.0.2,10.20.0.5"); err != nil {
				return err
			}
			return sn.SetOption(119, "cluster.local")
		}, func(sn *Subnet) {
			must(t, sn.SetOption(42, "10.20.0.2,10.20.0.5"))
			must(t, sn.SetOption(119, "cluster.local"))
		}, "option 42 - → 10.20.0.2,10.20.0.5; option 119 - → cluster.local"},
		{"change and remove options", func(sn *Subnet) error {
			if err := sn.SetOption(26, "1500"); err != nil {
				return err
			}
			return sn.SetOption(42, "")
		}, func(sn *Subnet) {
			must(t, sn.SetOption(26, "1500"))
			must(t, sn.SetOption(42, ""))
		}, "option 26 9000 → 1500; option 42 10.20.0.2,10.20.0.5 → -"},
		{"clear next-server and lease", func(sn *Subnet) error { sn.NextServer, sn.LeaseTime = netip.Addr{}, 0; return nil },
			func(sn *Subnet) { sn.NextServer, sn.LeaseTime = netip.Addr{}, 0 }, "next-server 10.20.0.9 → -; lease-time 12h0m0s → -"},
		{"nothing", func(*Subnet) error { return nil }, func(*Subnet) {}, "no change"},
	}
	want := full
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, result, err := st.UpdateSubnet(ctx, testActor, p, tt.change)
			must(t, err)
			tt.want(&want)
			sns, err := st.Subnets(ctx)
			must(t, err)
			if len(sns) != 1 || !sameSubnet(sns[0], want) || !sameSubnet(got, want) {
				t.Fatalf("stored %+v\nreturned %+v\nwant %+v", sns, got, want)
			}
			if result != tt.result {
				t.Errorf("result %q, want %q", result, tt.result)
			}
			evs, err := st.Log(ctx, LogFilter{Action: ActionSubnetSet})
			must(t, err)
			if last := evs[len(evs)-1]; last.Result != tt.result || last.Target != "10.20.0.0/16" {
				t.Errorf("logbook entry %+v, want result %q", last, tt.result)
			}
		})
	}
	t.Run("bad option changes nothing", func(t *testing.T) {
		n, _ := st.Log(ctx, LogFilter{})
		_, _, err := st.UpdateSubnet(ctx, testActor, p, func(sn *Subnet) error {
			sn.Domain = "other.example"
			sn.Options = append(sn.Options, DHCPOption{Code: 3, Value: "10.0.0.1"}) // built by hand, past SetOption
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "use --router") {
			t.Fatalf("error %v, want the --router hint", err)
		}
		sns, _ := st.Subnets(ctx)
		if !sameSubnet(sns[0], want) {
			t.Fatalf("a refused change changed %+v", sns[0])
		}
		if m, _ := st.Log(ctx, LogFilter{}); len(m) != len(n) {
			t.Fatalf("a refused change was logged")
		}
	})
}

func sameSubnet(a, b Subnet) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// A subnet that would make a reserved address its network or broadcast
// address is refused: the node would silently stop getting answers.
func TestSubnetSetRefusesANodesAddress(t *testing.T) {
	st := newTestStore(t)
	ctx := context.Background()
	for _, n := range []Node{
		{Name: "n0", MAC: "02:00:00:00:00:01", IP: netip.MustParseAddr("10.9.1.0"), Cluster: "linux"},
		{Name: "n1", MAC: "02:00:00:00:00:02", IP: netip.MustParseAddr("10.9.2.255"), Cluster: "linux"},
	} {
		_, err := st.AddNode(ctx, testActor, n, "")
		must(t, err)
	}
	for _, tt := range []struct{ prefix, want string }{
		{"10.9.1.0/24", "node n0's reserved address 10.9.1.0 is the network address"},
		{"10.9.1.0/25", "node n0's reserved address 10.9.1.0 is the network address"},
		{"10.9.2.0/24", "node n1's reserved address 10.9.2.255 is the broadcast address"},
		{"10.9.2.128/25", "node n1's reserved address 10.9.2.255 is the broadcast address"},
	} {
		t.Run(tt.prefix, func(t *testing.T) {
			err := st.SetSubnet(ctx, testActor, Subnet{Prefix: netip.MustParsePrefix(tt.prefix)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	must(t, st.SetSubnet(ctx, testActor, Subnet{Prefix: netip.MustParsePrefix("10.9.0.0/16")}))
}

// JSON readers get the lease in seconds, and options with their names.
func TestSubnetJSON(t *testing.T) {
	sn := Subnet{Prefix: netip.MustParsePrefix("10.20.0.0/16"), LeaseTime: 12 * time.Hour}
	must(t, sn.SetOption(42, "10.20.0.2"))
	b, err := json.Marshal(sn)
	must(t, err)
	want := `{"subnet":"10.20.0.0/16","options":[{"code":42,"name":"ntp-servers","value":"10.20.0.2"}],"lease_time_seconds":43200}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back Subnet
	must(t, json.Unmarshal(b, &back))
	if back.LeaseTime != sn.LeaseTime || len(back.Options) != 1 || hex.EncodeToString(back.Options[0].Wire()) != "0a140002" {
		t.Fatalf("round trip: %+v", back)
	}
}
