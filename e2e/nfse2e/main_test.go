// Package nfse2e tests the NFS-root catalog, Wake-on-LAN and the nightly
// lab conversion against real peers (nfs-ganesha + rpcbind, a UDP listener)
// in network namespaces the tests create and remove.
package nfse2e

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
)

// The test binary doubles as a misbehaving server: re-run inside a
// namespace with NFSE2E_HELPER set, it plays the part below instead of
// running tests.
func TestMain(m *testing.M) {
	switch mode := os.Getenv("NFSE2E_HELPER"); mode {
	case "":
		os.Exit(m.Run())
	case "hang":
		// Every port accepts connections and never answers: a server
		// whose daemons are wedged.
		hang(111, 20048, 2049)
	case "hang-mountd":
		// The portmapper answers; mountd and nfsd accept and never answer.
		go rpcServer(111, portmapper)
		hang(20048, 2049)
	case "hang-nfsd":
		// The portmapper and mountd answer (the export mounts), nfsd
		// answers its NULL ping and nothing else: a wedged file system.
		go rpcServer(111, portmapper)
		go rpcServer(20048, mountd)
		rpcServer(2049, func(prog, proc uint32, args []byte) []uint32 {
			if proc == 0 {
				return []uint32{}
			}
			return nil
		})
	case "garbage-mountd":
		// mountd accepts the call and sends a reply cut short after its
		// status: go-nfs-client panics on it.
		go rpcServer(111, portmapper)
		go rpcServer(2049, func(prog, proc uint32, args []byte) []uint32 { return []uint32{} })
		rpcServer(20048, func(prog, proc uint32, args []byte) []uint32 {
			if proc == 0 {
				return []uint32{}
			}
			return truncatedReply
		})
	case "wol-listen":
		// A stand-in for a sleeping NIC: prints every UDP datagram that
		// reaches port 9 of this namespace.
		pc, err := net.ListenPacket("udp4", ":9")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("listening udp 9")
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				os.Exit(1)
			}
			fmt.Printf("packet from %s %x\n", from, buf[:n])
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown NFSE2E_HELPER mode", mode)
		os.Exit(2)
	}
}

func hang(ports ...int) {
	for _, p := range ports[1:] {
		go hangOn(p)
	}
	hangOn(ports[0])
}

// listen opens port for a fake server and tells the parent test it is up.
func listen(port int) net.Listener {
	l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("listening", port)
	return l
}

func hangOn(port int) {
	l := listen(port)
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(1)
		}
		heldConns = append(heldConns, c) // kept open, never read
	}
}

// heldConns keeps the hung server's connections referenced, so they stay
// open rather than being closed when collected.
var heldConns []net.Conn

// portmapper answers GETPORT with the fixed ports of a ganesha-like server.
func portmapper(prog, proc uint32, args []byte) []uint32 {
	if proc == 0 || len(args) < 4 {
		return []uint32{}
	}
	switch binary.BigEndian.Uint32(args) {
	case 100005:
		return []uint32{20048}
	case 100003:
		return []uint32{2049}
	}
	return []uint32{0}
}

// mountd grants every MNT with a made-up file handle.
func mountd(prog, proc uint32, args []byte) []uint32 {
	if proc == 1 {
		return []uint32{0 /* MNT3_OK */, 8, 0x01020304, 0x05060708, 1 /* one flavor: */, 1 /* AUTH_SYS */}
	}
	return []uint32{} // NULL, UMNT: void
}

// truncatedReply makes rpcServer send a reply that stops after "accepted".
var truncatedReply = []uint32{0xdead}

// rpcServer serves ONC RPC over TCP on port: handle gets the program and
// procedure of each call (AUTH_NULL or AUTH_SYS) and returns the result
// words, or nil to leave the call unanswered.
func rpcServer(port int, handle func(prog, proc uint32, args []byte) []uint32) {
	l := listen(port)
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(1)
		}
		go func(c net.Conn) {
			for {
				var hdr [4]byte
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					c.Close()
					return
				}
				body := make([]byte, binary.BigEndian.Uint32(hdr[:])&0x7fffffff)
				if _, err := io.ReadFull(c, body); err != nil || len(body) < 40 {
					c.Close()
					return
				}
				xid, prog, proc := binary.BigEndian.Uint32(body), binary.BigEndian.Uint32(body[12:]), binary.BigEndian.Uint32(body[20:])
				credLen := (binary.BigEndian.Uint32(body[28:]) + 3) &^ 3
				argsAt := 40 + int(credLen)
				if argsAt > len(body) {
					c.Close()
					return
				}
				res := handle(prog, proc, body[argsAt:])
				if res == nil {
					continue // never answer, keep the connection open
				}
				words := append([]uint32{xid, 1, 0, 0, 0, 0}, res...)
				if len(res) == 1 && res[0] == truncatedReply[0] {
					words = []uint32{xid, 1, 0}
				}
				out := make([]byte, 4+4*len(words))
				binary.BigEndian.PutUint32(out, 0x80000000|uint32(4*len(words)))
				for i, w := range words {
					binary.BigEndian.PutUint32(out[4+4*i:], w)
				}
				c.Write(out)
			}
		}(c)
	}
}

// waitListening waits until the helper says it listens on every port.
func helperReady(out string, ports ...int) bool {
	for _, p := range ports {
		if !strings.Contains(out, fmt.Sprintf("listening %d\n", p)) {
			return false
		}
	}
	return true
}
