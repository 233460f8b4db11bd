package nfsroot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// The first steps of a check (portmapper lookup, NULL pings) use this small
// ONC RPC client instead of go-nfs-client: the library dials without a
// deadline and reports a refused portmapper as a bare socket error, while an
// operator needs "no portmapper on 10.0.0.1:111" within seconds.

const (
	pmapPort      = 111
	pmapProg      = 100000
	pmapVers      = 2
	pmapGetport   = 3
	mountProg     = 100005
	mountVers     = 3
	nfsProg       = 100003
	nfsVers       = 3
	ipprotoTCP    = 6
	procNull      = 0
	maxReplyBytes = 1 << 20
)

// encodeCall builds one record-marked RPC call with AUTH_NULL credentials.
func encodeCall(xid, prog, vers, proc uint32, args []uint32) []byte {
	words := []uint32{xid, 0 /* CALL */, 2 /* RPC version */, prog, vers, proc, 0, 0 /* cred */, 0, 0 /* verf */}
	words = append(words, args...)
	b := make([]byte, 4+4*len(words))
	binary.BigEndian.PutUint32(b, 0x80000000|uint32(4*len(words)))
	for i, w := range words {
		binary.BigEndian.PutUint32(b[4+4*i:], w)
	}
	return b
}

// parseReply checks an RPC reply for xid and returns the procedure's result
// bytes. It never panics on a short or hostile reply.
func parseReply(xid uint32, b []byte) ([]byte, error) {
	word := func() (uint32, error) {
		if len(b) < 4 {
			return 0, errors.New("truncated RPC reply")
		}
		w := binary.BigEndian.Uint32(b)
		b = b[4:]
		return w, nil
	}
	got, err := word()
	if err != nil {
		return nil, err
	}
	if got != xid {
		return nil, fmt.Errorf("RPC reply for another call (xid %#x, want %#x)", got, xid)
	}
	if mtype, err := word(); err != nil {
		return nil, err
	} else if mtype != 1 {
		return nil, fmt.Errorf("RPC message type %d is not a reply", mtype)
	}
	stat, err := word()
	if err != nil {
		return nil, err
	}
	if stat != 0 {
		return nil, errors.New("RPC call denied (authentication or version mismatch)")
	}
	if _, err := word(); err != nil { // verifier flavor
		return nil, err
	}
	n, err := word()
	if err != nil {
		return nil, err
	}
	pad := (n + 3) &^ 3
	if uint32(len(b)) < pad || pad < n {
		return nil, errors.New("truncated RPC verifier")
	}
	b = b[pad:]
	accept, err := word()
	if err != nil {
		return nil, err
	}
	switch accept {
	case 0:
		return b, nil
	case 1:
		return nil, errors.New("program unavailable (PROG_UNAVAIL)")
	case 2:
		return nil, errors.New("program version unavailable (PROG_MISMATCH)")
	case 3:
		return nil, errors.New("procedure unavailable (PROC_UNAVAIL)")
	default:
		return nil, fmt.Errorf("RPC call not accepted (status %d)", accept)
	}
}

// readRecord reads one record-marked RPC message (all fragments).
func readRecord(r io.Reader) ([]byte, error) {
	var out []byte
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, err
		}
		h := binary.BigEndian.Uint32(hdr[:])
		n := h & 0x7fffffff
		if len(out)+int(n) > maxReplyBytes {
			return nil, fmt.Errorf("RPC reply larger than %d bytes", maxReplyBytes)
		}
		frag := make([]byte, n)
		if _, err := io.ReadFull(r, frag); err != nil {
			return nil, err
		}
		out = append(out, frag...)
		if h&0x80000000 != 0 {
			return out, nil
		}
	}
}

// rpcConn is one TCP connection used for one call at a time.
type rpcConn struct {
	c       net.Conn
	timeout time.Duration
	xid     uint32
}

func (rc *rpcConn) call(prog, vers, proc uint32, args []uint32) ([]byte, error) {
	rc.xid++
	if err := rc.c.SetDeadline(time.Now().Add(rc.timeout)); err != nil {
		return nil, err
	}
	if _, err := rc.c.Write(encodeCall(rc.xid, prog, vers, proc, args)); err != nil {
		return nil, err
	}
	rep, err := readRecord(rc.c)
	if err != nil {
		return nil, err
	}
	return parseReply(rc.xid, rep)
}

// getport asks the portmapper for a TCP program's port; 0 means the
// program is not registered.
func (rc *rpcConn) getport(prog, vers uint32) (int, error) {
	res, err := rc.call(pmapProg, pmapVers, pmapGetport, []uint32{prog, vers, ipprotoTCP, 0})
	if err != nil {
		return 0, err
	}
	if len(res) < 4 {
		return 0, errors.New("truncated GETPORT reply")
	}
	port := binary.BigEndian.Uint32(res)
	if port > 65535 {
		return 0, fmt.Errorf("portmapper answered an impossible port %d", port)
	}
	return int(port), nil
}
