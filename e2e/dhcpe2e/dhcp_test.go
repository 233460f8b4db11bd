package dhcpe2e

import (
	"context"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

// uefiPXE makes udhcpc ask like x86-64 UEFI firmware (option 93 = 7).
var uefiPXE = []string{"-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007"}

func TestReservedUnknownMaskedMove(t *testing.T) {
	netlab.Require(t, "dhclient=isc-dhcp-client", "busybox=busybox-static")
	seg := newSegment(t, "10.77.0.1/24")
	st := inventory(t,
		node("umu20", "02:77:00:00:00:20", "10.77.0.20", "linux"),
		node("umu21", "02:77:00:00:00:21", "10.77.0.21", "linux"),
		node("umu18", "02:77:00:00:00:18", "10.77.0.18", "windows"),
	)
	c20 := seg.client(t, "c20", "02:77:00:00:00:20")
	c21 := seg.client(t, "c21", "02:77:00:00:00:21")
	c18 := seg.client(t, "c18", "02:77:00:00:00:18")
	stranger := seg.client(t, "cx", "02:77:00:00:00:99")
	srv := serve(t, seg.srv, st.Path(), "br0")
	ctx := context.Background()

	t.Run("dhclient gets its reservation and boot file", func(t *testing.T) {
		l, ok := dhclient(t, c20, 15)
		if !ok {
			t.Fatal("no lease for a reserved MAC")
		}
		if l.IP != "10.77.0.20" || l.File != linuxFile || l.Server != "10.77.0.1" {
			t.Fatalf("lease %+v, want 10.77.0.20 %s from 10.77.0.1", l, linuxFile)
		}
	})
	t.Run("udhcpc as UEFI gets the UEFI file", func(t *testing.T) {
		l, ok := udhcpc(t, c21, uefiPXE...)
		if !ok {
			t.Fatal("no lease for a reserved MAC")
		}
		if l.IP != "10.77.0.21" || l.File != "um64_linux/grubx64.efi" {
			t.Fatalf("lease %+v, want 10.77.0.21 um64_linux/grubx64.efi", l)
		}
	})
	t.Run("windows node gets the windows pxelinux", func(t *testing.T) {
		l, ok := udhcpc(t, c18)
		if !ok || l.IP != "10.77.0.18" || l.File != winFile {
			t.Fatalf("lease %+v ok=%v, want 10.77.0.18 %s", l, ok, winFile)
		}
	})
	t.Run("unknown MAC gets nothing", func(t *testing.T) {
		if l, ok := dhclient(t, stranger, 6); ok {
			t.Fatalf("unknown MAC got %+v", l)
		}
		if l, ok := udhcpc(t, stranger); ok {
			t.Fatalf("unknown MAC got %+v", l)
		}
		// Silence must be the server's decision, not a packet it never saw.
		requireNoReplyLogged(t, srv, "02:77:00:00:00:99", "not found")
	})
	t.Run("move is seen by the next DISCOVER", func(t *testing.T) {
		// Another Store is another connection, like a CLI process.
		cli, err := nodes.Open(st.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		if _, err := cli.Move(ctx, actor, nodes.MoveRequest{Range: "umu20", To: "windows", Reason: "e2e"}); err != nil {
			t.Fatal(err)
		}
		l, ok := udhcpc(t, c20)
		if !ok || l.File != winFile {
			t.Fatalf("after move: lease %+v ok=%v, want boot file %s", l, ok, winFile)
		}
		if _, err := cli.Move(ctx, actor, nodes.MoveRequest{Range: "umu20", To: "linux"}); err != nil {
			t.Fatal(err)
		}
		l, ok = dhclient(t, c20, 15)
		if !ok || l.File != linuxFile {
			t.Fatalf("after moving back: lease %+v ok=%v, want boot file %s", l, ok, linuxFile)
		}
	})
	t.Run("masked node gets nothing, unmasked gets its lease back", func(t *testing.T) {
		if _, err := st.SetMask(ctx, actor, nodes.MaskRequest{Range: "umu21", Mask: true, Reason: "reinstall from the Windows head"}); err != nil {
			t.Fatal(err)
		}
		if l, ok := udhcpc(t, c21, uefiPXE...); ok {
			t.Fatalf("masked node got %+v", l)
		}
		if l, ok := dhclient(t, c21, 6); ok {
			t.Fatalf("masked node got %+v", l)
		}
		requireNoReplyLogged(t, srv, "02:77:00:00:00:21", "node is masked")
		if _, err := st.SetMask(ctx, actor, nodes.MaskRequest{Range: "umu21"}); err != nil {
			t.Fatal(err)
		}
		if l, ok := udhcpc(t, c21, uefiPXE...); !ok || l.IP != "10.77.0.21" {
			t.Fatalf("unmasked node: lease %+v ok=%v", l, ok)
		}
	})

	// SIGTERM: the sightings still in memory are written on the way out.
	srv.Stop()
	if !strings.Contains(srv.Output(), "dhcp stopped") {
		t.Fatalf("no clean shutdown:\n%s", srv.Output())
	}
	n, err := st.Node(ctx, "umu21")
	if err != nil {
		t.Fatal(err)
	}
	if n.LastSeen.IsZero() || n.Firmware != "uefi" {
		t.Fatalf("umu21 last seen %v firmware %q, want a time and uefi", n.LastSeen, n.Firmware)
	}
	if n, _ := st.Node(ctx, "umu20"); n.LastSeen.IsZero() {
		t.Fatalf("umu20 never recorded as seen")
	}
}
