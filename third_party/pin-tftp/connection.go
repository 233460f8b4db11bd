package tftp

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/net/ipv6"

	"golang.org/x/net/ipv4"
)

type connectionError struct {
	error
	timeout   bool
	temporary bool
}

func (t *connectionError) Timeout() bool {
	return t.timeout
}

func (t *connectionError) Temporary() bool {
	return t.temporary
}

type connection interface {
	sendTo([]byte, *net.UDPAddr) error
	readFrom([]byte) (int, *net.UDPAddr, error)
	setDeadline(time.Duration) error
	close()
}

type connConnection struct {
	conn *net.UDPConn
	peer *net.UDPAddr // node-switch fork: conn is connected to peer

	// node-switch fork: sendRead's state, kept here so that its step
	// function is made once per transfer, not once per block.
	raw     syscall.RawConn
	step    func(fd uintptr) bool
	out, in []byte
	n       int
	err     error
	blocked bool // out met a full send buffer
}

// newConnectedConnection is the adaptive sender's socket, connected to
// its one peer (node-switch fork).
func newConnectedConnection(conn *net.UDPConn, peer *net.UDPAddr) (*connConnection, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &connConnection{conn: conn, peer: peer, raw: raw}
	c.step = c.sendReadStep
	return c, nil
}

// sendRead sends p to the peer and reads its next datagram into buf
// (node-switch fork). conn.Write then conn.Read would cost a read system
// call per block that fails: Go's Read tries the socket before it waits,
// and the answer to a block just sent is a round trip away. Here the
// datagram goes out inside the read: what arrives after it wakes the
// wait, and the socket is read only then. Data left over from before
// (a duplicate ACK) cannot be missed, only read at the next wake-up,
// which the answer to p brings. The socket's read deadline applies.
func (c *connConnection) sendRead(p, buf []byte) (int, *net.UDPAddr, error) {
	c.out, c.in, c.n, c.err, c.blocked = p, buf, 0, nil, false
	err := c.raw.Read(c.step)
	n, serr, blocked := c.n, c.err, c.blocked
	c.out, c.in = nil, nil
	if blocked {
		// A full send buffer: let Go wait for room.
		if _, err := c.conn.Write(p); err != nil {
			return 0, nil, err
		}
		return c.readFrom(buf)
	}
	if err == nil {
		err = serr
	}
	if err != nil {
		return 0, nil, &net.OpError{Op: "read", Net: "udp", Source: c.conn.LocalAddr(), Addr: c.peer, Err: err}
	}
	return n, c.peer, nil
}

func (c *connConnection) sendReadStep(fd uintptr) bool {
	if c.out != nil {
		_, err := ignoringEINTR(func() (int, error) { return syscall.Write(int(fd), c.out) })
		c.out = nil
		switch {
		case errors.Is(err, syscall.EAGAIN):
			c.blocked = true
			return true
		case err != nil:
			c.err = os.NewSyscallError("write", err)
			return true
		}
		return false
	}
	n, err := ignoringEINTR(func() (int, error) { return syscall.Read(int(fd), c.in) })
	if errors.Is(err, syscall.EAGAIN) {
		return false
	}
	if err != nil {
		c.err = os.NewSyscallError("read", err)
	}
	c.n = n
	return true
}

func ignoringEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != syscall.EINTR {
			return n, err
		}
	}
}

type chanConnection struct {
	server        *Server
	channel       chan []byte
	srcAddr, addr *net.UDPAddr
	timeout       time.Duration
}

func (c *chanConnection) sendTo(data []byte, addr *net.UDPAddr) error {
	var err error
	c.server.mu.Lock()
	defer c.server.mu.Unlock()
	if conn, ok := c.server.conn.(*net.UDPConn); ok {
		srcAddr := c.srcAddr.IP.To4()
		var cmm []byte
		if srcAddr != nil {
			cm := &ipv4.ControlMessage{Src: srcAddr}
			cmm = cm.Marshal()
		} else {
			cm := &ipv6.ControlMessage{Src: c.srcAddr.IP}
			cmm = cm.Marshal()
		}
		_, _, err = conn.WriteMsgUDP(data, cmm, c.addr)
	} else {
		_, err = c.server.conn.WriteTo(data, addr)
	}
	return err
}

func (c *chanConnection) readFrom(buffer []byte) (int, *net.UDPAddr, error) {
	select {
	case data := <-c.channel:
		copy(buffer, data)
		return len(data), c.addr, nil
	case <-time.After(c.timeout):
		return 0, nil, makeError(c.addr.String())
	}
}

func (c *chanConnection) setDeadline(deadline time.Duration) error {
	c.timeout = deadline
	return nil
}

func (c *chanConnection) close() {
	c.server.mu.Lock()
	defer c.server.mu.Unlock()
	close(c.channel)
	delete(c.server.handlers, c.addr.String())
}

func (c *connConnection) sendTo(data []byte, addr *net.UDPAddr) error {
	if c.peer != nil {
		_, err := c.conn.Write(data)
		return err
	}
	_, err := c.conn.WriteToUDP(data, addr)
	return err
}

func makeError(addr string) net.Error {
	error := connectionError{
		timeout:   true,
		temporary: true,
	}
	error.error = fmt.Errorf("channel timeout: %v", addr)
	return &error
}

func (c *connConnection) readFrom(buffer []byte) (int, *net.UDPAddr, error) {
	if c.peer != nil {
		n, err := c.conn.Read(buffer)
		return n, c.peer, err
	}
	return c.conn.ReadFromUDP(buffer)
}

func (c *connConnection) setDeadline(deadline time.Duration) error {
	return c.conn.SetReadDeadline(time.Now().Add(deadline))
}

func (c *connConnection) close() {
	c.conn.Close()
}
