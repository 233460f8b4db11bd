package assets

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

func TestLoadOrder(t *testing.T) {
	deps := map[string][]string{
		"nfsv3": {"nfs", "lockd", "sunrpc", "nfs_acl"}, "nfs": {"sunrpc", "fscache", "lockd"},
		"fscache": {"netfs"}, "netfs": nil, "lockd": {"sunrpc", "grace"}, "grace": nil,
		"sunrpc": nil, "nfs_acl": {"sunrpc"}, "e1000": nil,
		"loop_a": {"loop_b"}, "loop_b": {"loop_a"}, "broken": {"absent"},
	}
	for _, tc := range []struct {
		roots   []string
		want    []string
		wantErr string
	}{
		{roots: []string{"e1000"}, want: []string{"e1000"}},
		{roots: []string{"e1000", "nfsv3"}, want: []string{"e1000", "sunrpc", "netfs", "fscache", "grace", "lockd", "nfs", "nfs_acl", "nfsv3"}},
		{roots: []string{"nfsv3", "lockd"}, want: []string{"sunrpc", "netfs", "fscache", "grace", "lockd", "nfs", "nfs_acl", "nfsv3"}},
		{roots: []string{"loop_a"}, wantErr: "cycle: loop_a -> loop_b -> loop_a"},
		{roots: []string{"broken"}, wantErr: "absent (needed by broken)"},
		{roots: []string{"virtio_net"}, wantErr: "virtio_net is not in the kernel package"},
	} {
		got, err := LoadOrder(deps, tc.roots)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("LoadOrder(%v) error = %v, want %q", tc.roots, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("LoadOrder(%v) = %v, %v; want %v", tc.roots, got, err, tc.want)
		}
	}
}

func TestBIOSDiskMBR(t *testing.T) {
	mbr, err := BIOSDiskMBR("HELLO")
	if err != nil {
		t.Fatal(err)
	}
	if len(mbr) != 512 || mbr[510] != 0x55 || mbr[511] != 0xaa {
		t.Fatalf("not a boot sector: len %d, signature %x", len(mbr), mbr[510:])
	}
	// The code loads SI with 0x7c1a: the message must sit at offset 0x1a.
	if got := binary.LittleEndian.Uint16(mbr[6:8]) - 0x7c00; !bytes.HasPrefix(mbr[got:], []byte("\r\nHELLO\r\n\x00")) {
		t.Errorf("message not at the offset the code reads (0x%x): %q", got, mbr[got:got+12])
	}
	if _, err := BIOSDiskMBR(strings.Repeat("x", 420)); err == nil {
		t.Error("a message overlapping the partition table was accepted")
	}
}

func TestMBRPartitionTable(t *testing.T) {
	mbr := mbrPartitionTable(0xef, 2048, 65536)
	e := mbr[446:462]
	if e[4] != 0xef || binary.LittleEndian.Uint32(e[8:]) != 2048 || binary.LittleEndian.Uint32(e[12:]) != 65536 {
		t.Errorf("partition entry = % x", e)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xaa {
		t.Error("no boot signature")
	}
}

// TestNewcArchive checks the archive with a real reader: busybox cpio, as
// the kernel's unpacker is not callable from a test.
func TestNewcArchive(t *testing.T) {
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("needs busybox (apt-get install busybox-static)")
	}
	arc := newcArchive([]cpioEntry{
		{Name: "init", Mode: modeReg | 0o755, Data: []byte("#!/bin/sh\necho hi\n")},
		{Name: "bin", Mode: modeDir | 0o755},
		{Name: "bin/odd", Mode: modeReg | 0o644, Data: []byte("12345")},
	})
	dir := t.TempDir()
	cmd := exec.Command("busybox", "cpio", "-i", "-d")
	cmd.Dir, cmd.Stdin = dir, bytes.NewReader(arc)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("busybox cpio -i: %v: %s", err, out)
	}
	for name, want := range map[string]string{"init": "#!/bin/sh\necho hi\n", "bin/odd": "12345"} {
		got, err := os.ReadFile(dir + "/" + name)
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if fi, err := os.Stat(dir + "/init"); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("init mode = %v, %v; want 0755", fi.Mode(), err)
	}
}
