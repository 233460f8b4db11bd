package dhcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/node-switch/node-switch/nodes"
)

func siteSubnet(t testing.TB, opts ...string) *nodes.Subnet {
	t.Helper()
	sn := &nodes.Subnet{Prefix: netip.MustParsePrefix("10.99.0.0/24")}
	for _, kv := range opts {
		code, v, err := nodes.ParseOptionArg(kv)
		if err != nil {
			t.Fatal(err)
		}
		if err := sn.SetOption(code, v); err != nil {
			t.Fatal(err)
		}
	}
	return sn
}

func prl(codes ...byte) dhcpv4.Modifier {
	return dhcpv4.WithGeneric(dhcpv4.OptionParameterRequestList, codes)
}

func maxSize(n uint16) dhcpv4.Modifier {
	return dhcpv4.WithGeneric(dhcpv4.OptionMaximumDHCPMessageSize, []byte{byte(n >> 8), byte(n)})
}

// Site options go to a client that lists them in option 55, or that sends
// no list, as ISC dhcpd does; the server's own options go to everyone.
func TestSiteOptionsFollowTheRequestList(t *testing.T) {
	sn := siteSubnet(t, "26=9000", "42=10.99.0.2,10.99.0.3", "119=cluster.local,a.cluster.local")
	want := map[byte][]byte{
		26:  {0x23, 0x28},
		42:  {10, 99, 0, 2, 10, 99, 0, 3},
		119: {7, 'c', 'l', 'u', 's', 't', 'e', 'r', 5, 'l', 'o', 'c', 'a', 'l', 0, 1, 'a', 0xc0, 0},
	}
	tests := []struct {
		name string
		req  *dhcpv4.DHCPv4
		sent []byte
	}{
		{"no request list: all", request(t, dhcpv4.MessageTypeDiscover), []byte{26, 42, 119}},
		{"listed ones only", request(t, dhcpv4.MessageTypeDiscover, prl(1, 3, 26, 119)), []byte{26, 119}},
		{"none listed", request(t, dhcpv4.MessageTypeRequest, prl(1, 3, 6, 12)), nil},
		{"empty list", request(t, dhcpv4.MessageTypeRequest, prl()), nil},
		{"PXE firmware", request(t, dhcpv4.MessageTypeDiscover, arch(iana.INTEL_X86PC), pxeClass, prl(1, 3, 42, 43, 60, 66, 67)), []byte{42}},
		{"INFORM asks for options", request(t, dhcpv4.MessageTypeInform, prl(26, 42)), []byte{26, 42}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, err := Reply(tt.req, rec(func(r *Record) { r.Subnet = sn }), cfg)
			if err != nil {
				t.Fatal(err)
			}
			for code, v := range want {
				got := r.Options.Get(dhcpv4.GenericOptionCode(code))
				if bytes.IndexByte(tt.sent, code) >= 0 {
					if !bytes.Equal(got, v) {
						t.Errorf("option %d = %x, want %x", code, got, v)
					}
				} else if got != nil {
					t.Errorf("option %d sent (%x), the client did not ask for it", code, got)
				}
			}
			if r.SubnetMask() == nil || r.HostName() != "umu20" {
				t.Errorf("the server's own options went missing: %v", r.Options)
			}
		})
	}
}

// A reply with no room for all its options is an error, never a reply
// with some left out.
func TestReplyHasNoRoom(t *testing.T) {
	var many []string
	for c := 128; c < 255 && len(many) < 60; c++ {
		if c != 175 && c != 150 && c != 209 && c != 210 && c != 211 && c != 252 {
			many = append(many, fmt.Sprintf("%d=hex:%02x", c, c))
		}
	}
	long := siteSubnet(t, "17=/"+strings.Repeat("r", 200), "18=/"+strings.Repeat("e", 200))
	tests := []struct {
		name string
		req  *dhcpv4.DHCPv4
		sn   *nodes.Subnet
		err  string
	}{
		{"more options than a reply holds", request(t, dhcpv4.MessageTypeDiscover, maxSize(1500)), siteSubnet(t, many...), "is one more than the 48 a reply holds"},
		{"longer than 576 bytes, no option 57", request(t, dhcpv4.MessageTypeDiscover), long, "the client accepts 548"},
		{"longer than option 57 allows", request(t, dhcpv4.MessageTypeDiscover, maxSize(600)), long, "the client accepts 572"},
		{"option 57 above an Ethernet frame counts as 1500", request(t, dhcpv4.MessageTypeRequest, maxSize(9000)),
			siteSubnet(t, append(many[:24], "17=/"+strings.Repeat("r", 200), "18=/"+strings.Repeat("e", 200), "14=/"+strings.Repeat("m", 200),
				"40="+strings.Repeat("n", 200), "47="+strings.Repeat("s", 200), "64="+strings.Repeat("p", 200), "100="+strings.Repeat("t", 200))...),
			"the client accepts 1472"},
		{"fits when the client takes 1500", request(t, dhcpv4.MessageTypeDiscover, maxSize(1500)), long, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rec(func(r *Record) { r.Subnet = tt.sn })
			out, _, err := AppendReply([]byte("dst"), tt.req, r, cfg)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if d := parseOwn(out[3:]); !bytes.Equal(d.Options.Get(dhcpv4.OptionRootPath), []byte(long.Options[0].Wire())) {
					t.Fatalf("option 17 = %q", d.Options.Get(dhcpv4.OptionRootPath))
				}
				return
			}
			if !errors.Is(err, ErrNoRoom) || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "umu20") {
				t.Fatalf("error %v, want ErrNoRoom naming umu20 and %q", err, tt.err)
			}
			if IsSilent(err) {
				t.Errorf("%v is treated as a silent no-reply; the server must warn", err)
			}
			if string(out) != "dst" {
				t.Errorf("dst changed on error: %q", out)
			}
			if _, _, err := Reply(tt.req, r, cfg); !errors.Is(err, ErrNoRoom) {
				t.Errorf("Reply: error %v, want ErrNoRoom", err)
			}
		})
	}
}

// Whatever the inventory holds (a hand edit passes no check), the server
// never hands out an address a client cannot hold or that is its own.
func TestNeverLeases(t *testing.T) {
	own := Settings{ServerIP: serverIP, Prefix: cfg.Prefix, Own: []netip.Addr{netip.MustParseAddr("10.99.0.7"), netip.MustParseAddr("192.0.2.1")}}
	sn := &nodes.Subnet{Prefix: netip.MustParsePrefix("10.99.0.0/25")}
	tests := []struct {
		name   string
		ip     string
		subnet *nodes.Subnet
		err    string
	}{
		{"broadcast of the subnet", "10.99.0.127", sn, "10.99.0.127 is the broadcast address of subnet 10.99.0.0/25"},
		{"network of the subnet", "10.99.0.0", sn, "network address of subnet 10.99.0.0/25"},
		{"broadcast of the interface's network", "10.99.0.255", nil, "broadcast address of subnet 10.99.0.0/24"},
		{"the server identifier", "10.99.0.1", sn, "10.99.0.1 is this server's own address"},
		{"another of the server's addresses", "10.99.0.7", sn, "10.99.0.7 is this server's own address"},
		{"loopback", "127.0.0.1", &nodes.Subnet{Prefix: netip.MustParsePrefix("127.0.0.0/8")}, "loopback"},
		{"unspecified", "0.0.0.0", &nodes.Subnet{Prefix: netip.MustParsePrefix("0.0.0.0/0")}, "unspecified"},
		{"limited broadcast", "255.255.255.255", &nodes.Subnet{Prefix: netip.MustParsePrefix("0.0.0.0/0")}, "limited broadcast"},
	}
	for _, tt := range tests {
		for _, typ := range []dhcpv4.MessageType{dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeInform} {
			t.Run(tt.name+"/"+typ.String(), func(t *testing.T) {
				r := rec(func(r *Record) { r.Node.IP = netip.MustParseAddr(tt.ip); r.Subnet = tt.subnet })
				_, _, err := Reply(request(t, typ), r, own)
				if !errors.Is(err, ErrUnleasable) || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "umu20") {
					t.Fatalf("error %v, want ErrUnleasable naming umu20 and %q", err, tt.err)
				}
				if IsSilent(err) {
					t.Errorf("%v is treated as a silent no-reply; the server must warn", err)
				}
			})
		}
	}
	if _, _, err := Reply(request(t, dhcpv4.MessageTypeDiscover), rec(func(r *Record) { r.Subnet = sn }), own); err != nil {
		t.Fatalf("a good reservation next to them: %v", err)
	}
}

// A request from a MAC no NIC has is not a client's.
func TestGroupOrZeroMACIsNotAClient(t *testing.T) {
	for _, mac := range []string{"ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "00:00:00:00:00:00"} {
		t.Run(mac, func(t *testing.T) {
			req := request(t, dhcpv4.MessageTypeDiscover)
			hw, _ := net.ParseMAC(mac)
			req.ClientHWAddr = hw
			inv := MapInventory{mac: rec(func(r *Record) { r.Node.MAC = mac })}
			if _, _, _, err := Handle(context.Background(), req, inv, cfg); !errors.Is(err, ErrNotDHCP) {
				t.Fatalf("error %v, want ErrNotDHCP", err)
			}
		})
	}
}

// The server's side of an error: the packet is not answered, and the
// warning names the MAC and the reason.
func TestServerWarnsAndDoesNotAnswer(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		why  string
	}{
		{"broadcast address", rec(func(r *Record) { r.Node.IP = netip.MustParseAddr("10.99.0.255") }), "broadcast address of subnet 10.99.0.0/24"},
		{"no room", rec(func(r *Record) {
			r.Subnet = siteSubnet(t, "17=/"+strings.Repeat("r", 200), "18=/"+strings.Repeat("e", 200))
		}), "reply has no room"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := &Server{inv: MapInventory{testMAC: tt.rec}, log: slog.New(slog.NewTextHandler(&logs, nil)), seen: map[string]nodes.Seen{}}
			// No socket: a reply attempt would fail and be logged as "dhcp send failed".
			l := &link{name: "test0", settings: cfg}
			s.handleOne(context.Background(), l, netip.MustParseAddrPort("0.0.0.0:68"), request(t, dhcpv4.MessageTypeDiscover).ToBytes())
			if s.stats.failed.Load() != 1 || s.stats.replied.Load() != 0 || strings.Contains(logs.String(), "send failed") {
				t.Fatalf("failed=%d replied=%d, log:\n%s", s.stats.failed.Load(), s.stats.replied.Load(), logs.String())
			}
			line := logs.String()
			if !strings.Contains(line, "level=WARN") || !strings.Contains(line, `msg="dhcp cannot answer"`) ||
				!strings.Contains(line, "mac="+testMAC) || !strings.Contains(line, tt.why) {
				t.Fatalf("log lacks a warning naming %s and %q:\n%s", testMAC, tt.why, line)
			}
		})
	}
}
