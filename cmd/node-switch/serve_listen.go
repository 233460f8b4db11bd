package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"

	"github.com/urfave/cli/v2"
)

// listenAddrs are the addresses a listener flag (--tftp-listen,
// --http-listen, --ssh-listen) stands for. An address the administrator
// gave (flag or environment) is used as given, ":69" meaning every
// address; "" disables the listener. By default a listener faces the nodes
// only: the flag's port on each IPv4 address of the --interface
// interfaces (nodes reach the head over DHCPv4), read at start. Without an
// --interface nothing says which side the nodes are on, so the default is
// loopback, and serve says so.
func listenAddrs(c *cli.Context, flag string, log *slog.Logger) ([]string, error) {
	v := c.String(flag)
	if v == "" {
		return nil, nil
	}
	if c.IsSet(flag) {
		return []string{v}, nil
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return nil, usageError("--%s %q: %v", flag, v, err)
	}
	ifaces := c.StringSlice("interface")
	if len(ifaces) == 0 {
		log.Warn("no --interface: listening on loopback only; name the interfaces facing the nodes with --interface, or give --"+flag+" ADDR",
			"flag", flag)
		return []string{net.JoinHostPort("127.0.0.1", port)}, nil
	}
	var out []string
	for _, name := range ifaces {
		ifc, err := net.InterfaceByName(name)
		if err != nil {
			return nil, fmt.Errorf("--%s: interface %s: %w", flag, name, err)
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("--%s: addresses of %s: %w", flag, name, err)
		}
		n := 0
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil {
				continue
			}
			n++
			if hp := net.JoinHostPort(ipn.IP.String(), port); !slices.Contains(out, hp) {
				out = append(out, hp)
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("--%s: interface %s has no IPv4 address to listen on: give it one, or give --%s ADDR", flag, name, flag)
		}
	}
	return out, nil
}

// listenTCP listens on every address; several are served as one listener.
func listenTCP(flag string, addrs []string) (net.Listener, error) {
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("--%s %s: %w", flag, a, err)
		}
		lns = append(lns, ln)
	}
	if len(lns) == 1 {
		return lns[0], nil
	}
	return newMultiListener(lns), nil
}

// listenerAddrs are the addresses a listener from listenTCP is bound to,
// for the log.
func listenerAddrs(ln net.Listener) []net.Addr {
	if m, ok := ln.(*multiListener); ok {
		var out []net.Addr
		for _, l := range m.lns {
			out = append(out, l.Addr())
		}
		return out
	}
	return []net.Addr{ln.Addr()}
}

// multiListener accepts on several listeners, so a server that takes one
// net.Listener (http.Server, the SSH front door, with their limits)
// serves all the addresses of the node-facing interfaces.
type multiListener struct {
	lns   []net.Listener
	conns chan accepted
	done  chan struct{}
	once  sync.Once
}

type accepted struct {
	c   net.Conn
	err error
}

func newMultiListener(lns []net.Listener) *multiListener {
	m := &multiListener{lns: lns, conns: make(chan accepted), done: make(chan struct{})}
	for _, ln := range lns {
		go func() {
			for {
				c, err := ln.Accept()
				select {
				case m.conns <- accepted{c, err}:
				case <-m.done:
					if c != nil {
						c.Close()
					}
					return
				}
				var ne net.Error
				if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
					return
				}
			}
		}()
	}
	return m
}

func (m *multiListener) Accept() (net.Conn, error) {
	select {
	case a := <-m.conns:
		return a.c, a.err
	case <-m.done:
		return nil, net.ErrClosed
	}
}

func (m *multiListener) Close() error {
	var errs []error
	m.once.Do(func() {
		close(m.done)
		for _, ln := range m.lns {
			errs = append(errs, ln.Close())
		}
	})
	return errors.Join(errs...)
}

func (m *multiListener) Addr() net.Addr { return m.lns[0].Addr() }
