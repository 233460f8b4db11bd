package tftp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// scripted is a TFTP client of the test's own, written from RFC 1350,
// 2347 and 7440 rather than from pin/tftp, that misbehaves on purpose
// (drops blocks, repeats or delays its ACKs) and counts every DATA packet
// the server sends for each block.
type scripted struct {
	// window is the windowsize the client asks for (0: none).
	window int
	// lose makes the client ignore the first arrival of these blocks, as
	// if the network had lost them.
	lose map[int]bool
	// dupACK sends every ACK twice.
	dupACK bool
	// ackDelay holds every ACK back this long: a slow or busy client.
	ackDelay time.Duration
}

type fetched struct {
	data   []byte
	oack   map[string]string
	sent   map[int]int // DATA packets received per block (counting from 1)
	blocks int
}

// extra is how many DATA packets the server sent beyond one per block.
func (f fetched) extra() int {
	n := 0
	for _, c := range f.sent {
		n += c - 1
	}
	return n
}

func (c scripted) get(t *testing.T, server, name string) (fetched, error) {
	t.Helper()
	srv, err := net.ResolveUDPAddr("udp4", server)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	rrq := append([]byte{0, 1}, name+"\x00octet\x00blksize\x00512\x00tsize\x000\x00"...)
	if c.window > 0 {
		rrq = append(rrq, "windowsize\x00"+strconv.Itoa(c.window)+"\x00"...)
	}
	if _, err := conn.WriteToUDP(rrq, srv); err != nil {
		t.Fatal(err)
	}
	f := fetched{sent: map[int]int{}, oack: map[string]string{}}
	var peer *net.UDPAddr
	ack := func(block int, final bool) {
		p := binary.BigEndian.AppendUint16([]byte{0, 4}, uint16(block))
		// A copy: the reading loop reuses what ReadFromUDP returned
		// while a delayed ACK waits.
		to := &net.UDPAddr{IP: slices.Clone(peer.IP), Port: peer.Port}
		send := func() {
			conn.WriteToUDP(p, to)
			if c.dupACK {
				conn.WriteToUDP(p, to)
			}
		}
		switch {
		case c.ackDelay > 0 && final:
			// Before the socket closes: the server waits for it.
			time.Sleep(c.ackDelay)
		case c.ackDelay > 0:
			time.AfterFunc(c.ackDelay, send)
			return
		}
		send()
	}
	w := max(c.window, 1)
	expected, sinceACK, lost := 1, 0, map[int]bool{}
	gapACKed := false // the ACK for the current gap went out already
	buf := make([]byte, 2048)
	for {
		// Only a guard against a hung server, never a measurement.
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			return f, fmt.Errorf("after block %d: %w", expected-1, err)
		}
		peer = from
		p := buf[:n]
		switch binary.BigEndian.Uint16(p) {
		case 5:
			return f, fmt.Errorf("server error %d: %s", binary.BigEndian.Uint16(p[2:]), p[4:n-1])
		case 6:
			fields := bytes.Split(bytes.TrimSuffix(p[2:], []byte{0}), []byte{0})
			for i := 0; i+1 < len(fields); i += 2 {
				f.oack[string(fields[i])] = string(fields[i+1])
			}
			if v, ok := f.oack["windowsize"]; ok {
				w, _ = strconv.Atoi(v)
			} else {
				w = 1
			}
			ack(0, false)
			continue
		case 3:
		default:
			return f, fmt.Errorf("unexpected packet %v", p[:4])
		}
		// Block numbers as the client counts them, past any wrap.
		block := expected + int(int16(binary.BigEndian.Uint16(p[2:])-uint16(expected)))
		f.sent[block]++
		if c.lose[block] && !lost[block] {
			lost[block] = true
			continue
		}
		if block != expected {
			// RFC 7440: a block out of order means one was lost; say
			// which was the last in order, once per gap.
			if block > expected && !gapACKed {
				ack(expected-1, false)
				gapACKed, sinceACK = true, 0
			}
			continue
		}
		f.data = append(f.data, p[4:]...)
		expected++
		sinceACK++
		gapACKed = false
		last := n-4 < 512
		if sinceACK == w || last {
			ack(block, last)
			sinceACK = 0
		}
		if last {
			f.blocks = block
			return f, nil
		}
	}
}

func TestRetransmission(t *testing.T) {
	const blocks = 40
	content := bytes.Repeat([]byte("node-switch!"), blocks*512/12+9) // 40 full blocks and a short one
	cases := []struct {
		name   string
		opts   Options
		client scripted
		// wantWindow is the windowsize the OACK must carry ("" none).
		wantWindow string
		// check judges the DATA counts.
		check func(f fetched) error
	}{
		{
			name: "lock-step, duplicate ACKs are never answered", client: scripted{dupACK: true},
			check: func(f fetched) error {
				// A server answering duplicates would send every block
				// twice; a timeout on a busy machine may resend a few.
				if f.extra() > f.blocks/10 {
					return fmt.Errorf("%d blocks sent again for %d blocks", f.extra(), f.blocks)
				}
				return nil
			},
		},
		{
			name: "slow client: the timer learns its round trip", client: scripted{ackDelay: 150 * time.Millisecond},
			check: func(f fetched) error {
				if f.extra() > f.blocks/10 {
					return fmt.Errorf("%d blocks sent again for %d blocks: %v", f.extra(), f.blocks, f.sent)
				}
				return nil
			},
		},
		{
			// The failure the adaptive timer exists for, shown with the
			// old timer so that the row above can tell.
			name: "slow client, fixed 100 ms timer: every block twice", client: scripted{ackDelay: 150 * time.Millisecond},
			opts: Options{FixedTimeout: true},
			check: func(f fetched) error {
				if f.extra() < f.blocks/2 {
					return fmt.Errorf("only %d blocks sent again for %d blocks", f.extra(), f.blocks)
				}
				return nil
			},
		},
		{
			name: "window 4 granted, block lost inside it", client: scripted{window: 4, lose: map[int]bool{6: true}, dupACK: true},
			wantWindow: "4",
			check: func(f fetched) error {
				// Blocks 5-8 are the second window; after 6 is lost the
				// client acknowledges 5 and the server goes back to 6:
				// 6, 7 and 8 again, at most, and nothing else.
				for b, n := range f.sent {
					switch {
					case b == 6 && n != 2:
						return fmt.Errorf("block 6 arrived %d times, want 2 (lost once)", n)
					case n > 2 || (n == 2 && (b < 6 || b > 8)):
						return fmt.Errorf("block %d sent %d times: %v", b, n, f.sent)
					}
				}
				return nil
			},
		},
		{
			name: "window 4, its last block lost: the timer resends the window", client: scripted{window: 4, lose: map[int]bool{8: true}},
			wantWindow: "4",
			check: func(f fetched) error {
				// Nothing tells the server, so its timer goes off and
				// it sends 5-8 again (go back to the last ACK).
				for b, n := range f.sent {
					if want := 1 + btoi(b >= 5 && b <= 8); n != want {
						return fmt.Errorf("block %d sent %d times, want %d: %v", b, n, want, f.sent)
					}
				}
				return nil
			},
		},
		{
			name: "window capped at the server's", client: scripted{window: 64}, wantWindow: strconv.Itoa(DefaultWindow),
		},
		{
			name: "window refused when the server has none", client: scripted{window: 4}, opts: Options{Window: 1},
		},
		{
			name: "window refused by the fixed timer", client: scripted{window: 4}, opts: Options{FixedTimeout: true},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			addr, _, root := setupWith(t, c.opts)
			if err := os.WriteFile(filepath.Join(root, "small"), content, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := c.client.get(t, addr, "small")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(f.data, content) {
				t.Fatalf("received %d bytes, want %d", len(f.data), len(content))
			}
			if got := f.oack["windowsize"]; got != c.wantWindow {
				t.Errorf("OACK windowsize = %q, want %q (OACK %v)", got, c.wantWindow, f.oack)
			}
			if c.check != nil {
				if err := c.check(f); err != nil {
					t.Error(err)
				}
			}
			t.Logf("%d blocks, %d sent again", f.blocks, f.extra())
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
