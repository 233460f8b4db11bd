package netlab

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// pcapFile is a capture as tcpdump writes it: a header of magic and link
// type, then each frame with its time.
func pcapFile(magic uint32, frames ...[]byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, magic)
	b = append(b, make([]byte, 16)...)
	b = binary.LittleEndian.AppendUint32(b, 1) // Ethernet
	for i, f := range frames {
		b = binary.LittleEndian.AppendUint32(b, uint32(100+i))
		b = binary.LittleEndian.AppendUint32(b, 250)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

func ethIPv4(proto byte, payload ...byte) []byte {
	f := make([]byte, 14+20+8)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	f[14], f[14+9] = 0x45, proto
	copy(f[14+12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	binary.BigEndian.PutUint16(f[34:], 69)
	binary.BigEndian.PutUint16(f[36:], 2070)
	return append(f, payload...)
}

func TestReadUDP(t *testing.T) {
	udp, tcp := ethIPv4(17, 0, 3, 0, 1), ethIPv4(6, 0, 3, 0, 1)
	want := UDPPacket{Src: netip.MustParseAddrPort("10.0.0.1:69"), Dst: netip.MustParseAddrPort("10.0.0.2:2070"), Payload: []byte{0, 3, 0, 1}}
	for _, tc := range []struct {
		name    string
		file    []byte
		want    []time.Time // of the UDP packets found
		wantErr bool
	}{
		{"microseconds, TCP skipped", pcapFile(0xa1b2c3d4, tcp, udp), []time.Time{time.Unix(101, 250000)}, false},
		{"nanoseconds", pcapFile(0xa1b23c4d, udp), []time.Time{time.Unix(100, 250)}, false},
		{"cut short while written", pcapFile(0xa1b2c3d4, udp, udp)[:24+2*16+len(udp)+3], []time.Time{time.Unix(100, 250000)}, false},
		{"not a pcap", []byte("0123456789012345678901234567"), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.pcap")
			if err := os.WriteFile(path, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadUDP(path)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d packets, want %d", len(got), len(tc.want))
			}
			for i, p := range got {
				if !p.At.Equal(tc.want[i]) || p.Src != want.Src || p.Dst != want.Dst || string(p.Payload) != string(want.Payload) {
					t.Errorf("packet %d = %+v", i, p)
				}
			}
		})
	}
}
