package nfsroot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/go-nfs-client/nfs"
	"github.com/vmware/go-nfs-client/nfs/rpc"
	"github.com/vmware/go-nfs-client/nfs/util"
	"github.com/vmware/go-nfs-client/nfs/xdr"
)

func init() {
	// The library logs failures with the standard logger; our errors already
	// say everything, so its lines go to slog at debug level.
	util.DefaultLogger = libLogger{}
}

type libLogger struct{}

func (libLogger) SetDebug(bool) {}
func (libLogger) Errorf(format string, args ...any) {
	slog.Debug("go-nfs-client: " + fmt.Sprintf(format, args...))
}
func (libLogger) Debugf(format string, args ...any) {}
func (libLogger) Infof(format string, args ...any) {
	slog.Debug("go-nfs-client: " + fmt.Sprintf(format, args...))
}

// TimeoutError is a network step that did not finish within its deadline.
type TimeoutError struct {
	After time.Duration
	Peer  string // "the portmapper", "mountd", "nfsd"
	Host  string
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("timed out after %s talking to %s on %s", e.After, e.Peer, e.Host)
}

// MalformedError is a reply go-nfs-client could not decode (it panics on
// some; await turns the panic into this).
type MalformedError struct {
	Peer, Host, Panic string
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("malformed reply from %s on %s (%s)", e.Peer, e.Host, e.Panic)
}

// await runs one network step of the library under a deadline. The library
// has none of its own and can panic on a malformed reply; a panic becomes an
// error. When the deadline passes, abort is called (closing the connection
// unblocks the call) and a late result is handed to late so its connection
// is not leaked.
func await[T any](ctx context.Context, timeout time.Duration, peer, host string, abort func(), late func(T), fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				var zero T
				done <- result{zero, &MalformedError{Peer: peer, Host: host, Panic: fmt.Sprint(r)}}
			}
		}()
		v, err := fn()
		done <- result{v, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-done:
		return r.v, r.err
	case <-t.C:
	case <-ctx.Done():
	}
	if abort != nil {
		abort()
	}
	if late != nil {
		go func() {
			if r := <-done; r.err == nil {
				late(r.v)
			}
		}()
	}
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, fmt.Errorf("talking to %s on %s: %w", peer, host, err)
	}
	return zero, &TimeoutError{After: timeout, Peer: peer, Host: host}
}

// session is one mounted export. Every call on its connections goes through
// mu: go-nfs-client matches replies to calls only by arriving order, so two
// calls in flight on one connection could swap their replies. After a
// timeout the session is broken and refuses further calls, because the
// abandoned call may still be reading from the connection.
type session struct {
	ctx     context.Context // the check's: cancelling it ends every call
	host    string          // as the catalog names it, for messages
	export  string
	timeout time.Duration
	auth    rpc.Auth

	mu     sync.Mutex // held for the duration of each call
	mount  *nfs.Mount
	target *nfs.Target

	state  sync.Mutex // guards broken; never held across a call
	broken error
}

// privilegedLocalAddr picks a source port below 1024 when root, as the
// library and the kernel client do: Linux's nfsd and mountd refuse others
// by default ("secure" exports).
func privilegedLocalAddr() *net.TCPAddr {
	if os.Geteuid() != 0 {
		return nil
	}
	return &net.TCPAddr{Port: 600 + rand.IntN(400)}
}

// dialRPC opens a go-nfs-client connection to host:port within the deadline.
func dialRPC(ctx context.Context, timeout time.Duration, peer, server, host string, port int) (*rpc.Client, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	return await(ctx, timeout, peer, server, nil, func(c *rpc.Client) { c.Close() }, func() (*rpc.Client, error) {
		for range 20 {
			c, err := rpc.DialTCP("tcp", privilegedLocalAddr(), addr)
			if err != nil && errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("connect to %s on %s: %w", peer, addr, err)
			}
			c.SetTimeout(timeout)
			return c, nil
		}
		return nil, fmt.Errorf("connect to %s on %s: no free privileged source port", peer, addr)
	})
}

// mountExport mounts export with the library. The library's Mount also
// dials the NFS service and asks it for FSINFO, all without a deadline, so
// the export is first asked for with a MNT call of our own: a hang there is
// mountd's, a hang in Mount after it is nfsd's.
// server labels messages; host is its resolved address.
func mountExport(ctx context.Context, timeout time.Duration, server, host, export string, mountdPort int) (*session, error) {
	mc, err := dialRPC(ctx, timeout, "mountd", server, host, mountdPort)
	if err != nil {
		return nil, err
	}
	s := &session{ctx: ctx, host: server, export: export, timeout: timeout, auth: rpc.NewAuthUnix("node-switch", 0, 0).Auth()}
	s.mount = &nfs.Mount{Client: mc, Addr: host}
	_, err = await(ctx, timeout, "mountd", server, func() { mc.Close() }, nil, func() (struct{}, error) {
		return struct{}{}, mnt(mc, export, s.auth)
	})
	if err == nil {
		var target *nfs.Target
		target, err = await(ctx, timeout, "nfsd", server, func() { mc.Close() }, func(t *nfs.Target) { t.Close() },
			func() (*nfs.Target, error) { return s.mount.Mount(export, s.auth) })
		s.target = target
	}
	if err != nil {
		mc.Close()
		return nil, mountError(err, timeout, server, export)
	}
	s.target.SetTimeout(timeout)
	return s, nil
}

// mnt asks mountd for export and returns the library's MNT3ERR_* names as
// errors, like its Mount does.
func mnt(c *rpc.Client, export string, auth rpc.Auth) error {
	type mountArgs struct {
		rpc.Header
		Dirpath string
	}
	res, err := c.Call(&mountArgs{
		Header:  rpc.Header{Rpcvers: 2, Prog: nfs.MountProg, Vers: nfs.MountVers, Proc: nfs.MountProc3MNT, Cred: auth, Verf: rpc.AuthNull},
		Dirpath: export,
	})
	if err != nil {
		return err
	}
	stat, err := xdr.ReadUint32(res)
	if err != nil {
		return fmt.Errorf("decode MNT reply: %w", err)
	}
	names := map[uint32]string{
		nfs.MNT3ErrPerm: "MNT3ERR_PERM", nfs.MNT3ErrNoEnt: "MNT3ERR_NOENT", nfs.MNT3ErrIO: "MNT3ERR_IO",
		nfs.MNT3ErrAcces: "MNT3ERR_ACCES", nfs.MNT3ErrNotDir: "MNT3ERR_NOTDIR", nfs.MNT3ErrInval: "MNT3ERR_INVAL",
		nfs.MNT3ErrNameTooLong: "MNT3ERR_NAMETOOLONG", nfs.MNT3ErrNotSupp: "MNT3ERR_NOTSUPP", nfs.MNT3ErrServerFault: "MNT3ERR_SERVERFAULT",
	}
	switch name, known := names[stat]; {
	case stat == nfs.MNT3Ok:
		return nil
	case known:
		return errors.New(name)
	default:
		return fmt.Errorf("unknown mount status %d", stat)
	}
}

func mountError(err error, timeout time.Duration, host, export string) error {
	var te *TimeoutError
	var me *MalformedError
	var ne net.Error
	switch {
	case errors.As(err, &te), errors.As(err, &me):
		return err
	case errors.As(err, &ne) && ne.Timeout():
		// The library's own read deadline (SetTimeout) fired first; only
		// the MNT call runs on a connection that has one.
		return &TimeoutError{After: timeout, Peer: "mountd", Host: host}
	}
	switch msg := err.Error(); msg {
	case "MNT3ERR_ACCES", "MNT3ERR_PERM":
		if os.Geteuid() != 0 {
			return fmt.Errorf("export %s not exported by %s (%s): check the server's export list, and run the check as root (\"secure\" exports refuse unprivileged ports)", export, host, msg)
		}
		return fmt.Errorf("export %s not exported by %s (%s): check the server's export list and that it allows this head node", export, host, msg)
	case "MNT3ERR_NOENT", "MNT3ERR_NOTDIR":
		return fmt.Errorf("export %s does not exist on %s (%s)", export, host, msg)
	}
	if errors.Is(err, os.ErrPermission) && os.Geteuid() != 0 {
		return fmt.Errorf("mount %s:%s: %w (run the check as root: servers with \"secure\" exports only answer privileged source ports)", host, export, err)
	}
	return fmt.Errorf("mount %s:%s: %w", host, export, err)
}

// do runs one call on the mounted export, serialized and under a deadline.
func (s *session) do(ctx context.Context, fn func() error) error {
	s.state.Lock()
	broken := s.broken
	s.state.Unlock()
	if broken != nil {
		return broken
	}
	// On timeout both connections close: that ends the abandoned call,
	// which then releases mu.
	abort := func() { s.target.Close(); s.mount.Close() }
	_, err := await(ctx, s.timeout, "nfsd", s.host, abort, nil, func() (struct{}, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return struct{}{}, fn()
	})
	var te *TimeoutError
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		// The library's own read deadline fired first.
		err = &TimeoutError{After: s.timeout, Peer: "nfsd", Host: s.host}
	}
	if errors.As(err, &te) || ctx.Err() != nil {
		s.state.Lock()
		s.broken = err
		s.state.Unlock()
	}
	return err
}

func (s *session) close(ctx context.Context) {
	if s.target != nil {
		// Unmounting only tidies mountd's list of clients; a failure
		// changes nothing about the verdict.
		s.do(ctx, func() error { return s.mount.Unmount() })
		s.target.Close()
	}
	s.mount.Close()
}

// lookup implements tree.
func (s *session) lookup(p string) (attr, error) {
	var a attr
	err := s.do(s.ctx, func() error {
		fi, fh, err := s.target.Lookup(p)
		if err != nil {
			return err
		}
		fa, ok := fi.(*nfs.Fattr)
		if !ok || fa == nil {
			return fmt.Errorf("lookup %s: no attributes in the reply", p)
		}
		a = attr{Type: fa.Type, Mode: fa.FileMode & 0o7777, FH: fh}
		return nil
	})
	return a, err
}

// readlink implements tree. go-nfs-client has no READLINK, so the call is
// made here on the library's own connection.
func (s *session) readlink(fh []byte) (string, error) {
	var target string
	err := s.do(s.ctx, func() error {
		type readlinkArgs struct {
			rpc.Header
			FH []byte
		}
		res, err := s.target.Call(&readlinkArgs{
			Header: rpc.Header{Rpcvers: 2, Prog: nfs.Nfs3Prog, Vers: nfs.Nfs3Vers, Proc: nfs.NFSProc3Readlink, Cred: s.auth, Verf: rpc.AuthNull},
			FH:     fh,
		})
		if err != nil {
			return err
		}
		status, err := xdr.ReadUint32(res)
		if err != nil {
			return err
		}
		if err := nfs.NFS3Error(status); err != nil {
			return err
		}
		var ok struct {
			Attr nfs.PostOpAttr
			Data string
		}
		if err := xdr.Read(res, &ok); err != nil {
			return fmt.Errorf("decode READLINK reply: %w", err)
		}
		target = ok.Data
		return nil
	})
	return target, err
}

// readdir lists a symlink-free directory path and returns how many entries
// it has besides . and ..
func (s *session) readdir(p string) (int, error) {
	n := 0
	err := s.do(s.ctx, func() error {
		ents, err := s.target.ReadDirPlus(p)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if e.FileName != "." && e.FileName != ".." {
				n++
			}
		}
		return nil
	})
	return n, err
}
