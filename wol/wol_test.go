package wol

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
)

func TestMagicPacket(t *testing.T) {
	p, err := MagicPacket("00-18-F3-4E-5D-59")
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 102 {
		t.Fatalf("len %d, want 102", len(p))
	}
	if !bytes.Equal(p[:6], bytes.Repeat([]byte{0xff}, 6)) {
		t.Fatalf("sync stream %x", p[:6])
	}
	mac := []byte{0x00, 0x18, 0xf3, 0x4e, 0x5d, 0x59}
	if !bytes.Equal(p[6:], bytes.Repeat(mac, 16)) {
		t.Fatalf("payload %x", p[6:])
	}
	for _, bad := range []string{"", "00:18:f3", "00:18:f3:4e:5d:59:00:01", "zz:18:f3:4e:5d:59"} {
		if _, err := MagicPacket(bad); err == nil {
			t.Errorf("MagicPacket(%q) accepted", bad)
		}
	}
}

func TestBroadcast(t *testing.T) {
	for _, tc := range []struct{ prefix, want string }{
		{"192.168.1.0/24", "192.168.1.255"},
		{"192.168.1.77/24", "192.168.1.255"},
		{"10.0.0.0/8", "10.255.255.255"},
		{"100.64.0.4/30", "100.64.0.7"},
		{"10.1.2.3/32", "10.1.2.3"},
	} {
		if got := Broadcast(netip.MustParsePrefix(tc.prefix)); got.String() != tc.want {
			t.Errorf("Broadcast(%s) = %s, want %s", tc.prefix, got, tc.want)
		}
	}
}

func TestPlan(t *testing.T) {
	ifaces := []Iface{
		{Name: "eth0", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")}},
		{Name: "lab0", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.20.0.1/16"), netip.MustParsePrefix("10.20.5.1/24")}},
	}
	none := netip.Prefix{}
	tests := []struct {
		name    string
		iface   string
		ip      string
		subnet  netip.Prefix
		want    Route
		wantErr string
	}{
		{"on link, no subnet known", "", "10.20.9.9", none, Route{"lab0", netip.MustParseAddr("10.20.255.255")}, ""},
		{"most specific link prefix", "", "10.20.5.9", none, Route{"lab0", netip.MustParseAddr("10.20.5.255")}, ""},
		{"inventory subnet wins", "", "10.20.9.9", netip.MustParsePrefix("10.20.9.0/24"), Route{"lab0", netip.MustParseAddr("10.20.9.255")}, ""},
		{"subnet not containing the node is ignored", "", "10.20.9.9", netip.MustParsePrefix("172.16.0.0/24"), Route{"lab0", netip.MustParseAddr("10.20.255.255")}, ""},
		{"interface given", "lab0", "10.20.9.9", none, Route{"lab0", netip.MustParseAddr("10.20.255.255")}, ""},
		{"interface given, node off link", "eth0", "10.20.9.9", none, Route{"eth0", netip.MustParseAddr("255.255.255.255")}, ""},
		{"no interface on the node's network", "", "172.31.0.5", none, Route{}, "pass --wake-interface"},
		{"unknown interface", "wlan9", "10.20.9.9", none, Route{}, "interface wlan9 is not up"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Plan(ifaces, tc.iface, netip.MustParseAddr(tc.ip), tc.subnet)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want error containing %q, got %+v, %v", tc.wantErr, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
