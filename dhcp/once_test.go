package dhcp

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/node-switch/node-switch/nodes"
)

// While a boot-once is pending every DHCP answer names the once cluster's
// boot file (a PXE ROM's retries, pxelinux, the installer's own DHCP); the
// node's config fetch ends it and the answers name its own cluster's again.
// The cache follows each step like the store itself.
func TestReplyFollowsABootOnce(t *testing.T) {
	ctx := context.Background()
	st := testStore(t, 2)
	if err := st.AddProfile(ctx, testActor, nodes.Profile{Name: "installer", Kind: nodes.KindLinux,
		BootFiles: map[string]string{nodes.BootBIOS: "inst/lpxelinux.0"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddCluster(ctx, testActor, nodes.Cluster{Name: "installer", Profile: "installer"}); err != nil {
		t.Fatal(err)
	}
	cached := newCached(t, st)
	hw, _ := net.ParseMAC(testNodeMAC(0))
	ask := func(inv Inventory, typ dhcpv4.MessageType) (string, error) {
		req, err := dhcpv4.New(dhcpv4.WithHwAddr(hw), dhcpv4.WithMessageType(typ), pxeClass)
		if err != nil {
			t.Fatal(err)
		}
		reply, _, _, err := Handle(ctx, req, inv, Settings{ServerIP: serverIP})
		if err != nil {
			return "", err
		}
		return reply.BootFileName, nil
	}
	steps := []struct {
		name    string
		do      func() error
		want    string
		wantErr error
	}{
		{"home", func() error { return nil }, "um64_linux/pxelinux.0", nil},
		{"once pending", func() error {
			_, err := st.SetOnce(ctx, testActor, nodes.OnceRequest{Range: "n00000", To: "installer"})
			return err
		}, "inst/lpxelinux.0", nil},
		{"masked with the once pending", func() error {
			_, err := st.SetMask(ctx, testActor, nodes.MaskRequest{Range: "n00000", Mask: true, Reason: "wds"})
			return err
		}, "", ErrMasked},
		{"unmasked, still pending", func() error {
			_, err := st.SetMask(ctx, testActor, nodes.MaskRequest{Range: "n00000", Mask: false})
			return err
		}, "inst/lpxelinux.0", nil},
		{"config fetched", func() error {
			n, err := st.Node(ctx, "n00000")
			if err != nil {
				return err
			}
			used, err := st.UseOnce(ctx, n, nodes.OnceUse{Channel: nodes.ChannelTFTP})
			if err == nil && !used {
				err = errors.New("once not used")
			}
			return err
		}, "um64_linux/pxelinux.0", nil},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		for _, inv := range []struct {
			name string
			inv  Inventory
		}{{"store", StoreInventory{st}}, {"cache", cached}} {
			// DISCOVER and REQUEST, and again: repeating DHCP changes nothing.
			for _, typ := range []dhcpv4.MessageType{dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeDiscover} {
				got, err := ask(inv.inv, typ)
				if s.wantErr != nil {
					if !errors.Is(err, s.wantErr) {
						t.Fatalf("%s (%s, %s): err %v, want %v", s.name, inv.name, typ, err, s.wantErr)
					}
					continue
				}
				if err != nil || got != s.want {
					t.Fatalf("%s (%s, %s): boot file %q (%v), want %q", s.name, inv.name, typ, got, err, s.want)
				}
			}
		}
	}
}
