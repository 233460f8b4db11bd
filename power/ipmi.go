package power

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	ipmi "github.com/bougou/go-ipmi"
)

// IPMI is the Controller for IPMI v2.0 over LAN (RMCP+, what ipmitool calls
// "-I lanplus"), built on github.com/bougou/go-ipmi. Each Do opens its own
// session and closes it: power commands are rare, and a session per call
// keeps BMCs from running out of session slots.
type IPMI struct {
	// CipherSuite is the RMCP+ cipher suite; 0 = 3 (RAKP-HMAC-SHA1,
	// HMAC-SHA1-96, AES-CBC-128), the one IPMI v2.0 requires every BMC to
	// support. It is given, not negotiated: some BMCs (OpenIPMI's among
	// them) never answer Get Channel Cipher Suites.
	CipherSuite int
	// Exchange is how long one request waits for its answer before it is
	// sent again (UDP loses packets); 0 = 1 s. The node's deadline bounds
	// the whole.
	Exchange time.Duration
}

// MaxUser and MaxPassword are IPMI v2.0's limits (user name 16 bytes,
// RMCP+ key 20 bytes).
const (
	MaxUser     = 16
	MaxPassword = 20
)

// Do performs a on the BMC at e.
func (p IPMI) Do(ctx context.Context, e Endpoint, a Action) (State, error) {
	if len(e.User) > MaxUser {
		return "", &Error{Refused, fmt.Errorf("user name is %d bytes, IPMI allows %d", len(e.User), MaxUser)}
	}
	if len(e.Password) > MaxPassword {
		return "", &Error{AuthFailed, fmt.Errorf("password is %d bytes, IPMI v2.0 allows %d", len(e.Password), MaxPassword)}
	}
	port := e.Port
	if port == 0 {
		port = DefaultPort
	}
	c, err := ipmi.NewClient(e.Host, port, e.User, e.Password)
	if err != nil {
		return "", &Error{Refused, err}
	}
	cs := p.CipherSuite
	if cs == 0 {
		cs = 3
	}
	exch := p.Exchange
	if exch <= 0 {
		exch = time.Second
	}
	retries := 0
	if dl, ok := ctx.Deadline(); ok {
		retries = int(time.Until(dl) / exch)
	}
	// The library leaves its socket open when a session never opened or
	// did not close cleanly, so the socket is ours to make and to close.
	d := &udpDialer{}
	defer d.close()
	c.WithUDPProxy(d).WithTimeout(exch).WithRetry(retries, 0).
		WithCipherSuiteID(ipmi.CipherSuiteID(cs)).WithMaxPrivilegeLevel(ipmi.PrivilegeLevelAdministrator)

	if err := open(ctx, c); err != nil {
		return "", err
	}
	defer func() {
		// Best effort: a session left open times out on the BMC by itself.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), exch)
		defer cancel()
		_ = c.Close(cctx)
	}()

	switch a {
	case Status:
		st, err := c.GetChassisStatus(ctx)
		if err != nil {
			return "", classify("get chassis status", err)
		}
		if st.PowerIsOn {
			return StateOn, nil
		}
		return StateOff, nil
	case On, Off, Cycle, Reset:
		if _, err := c.ChassisControl(ctx, controls[a]); err != nil {
			return "", classify("chassis control "+string(a), err)
		}
		return "", nil
	}
	return "", &Error{Refused, fmt.Errorf("unknown power action %q", a)}
}

var controls = map[Action]ipmi.ChassisControl{
	On:    ipmi.ChassisControlPowerUp,
	Off:   ipmi.ChassisControlPowerDown,
	Cycle: ipmi.ChassisControlPowerCycle,
	Reset: ipmi.ChassisControlHardReset,
}

// open establishes an RMCP+ session with the library's own steps. The
// library's Connect first sends Get Channel Authentication Capabilities in
// the IPMI v2.0 format, which OpenIPMI's BMC (and so every test here) never
// answers, and then asks for the cipher suites, which it does not answer
// either; neither is needed when the cipher suite is given.
func open(ctx context.Context, c *ipmi.Client) error {
	if _, err := c.OpenSession(ctx); err != nil {
		return classify("open session", err)
	}
	// RAKP 1/2 proves the password: the BMC refuses an unknown user, and
	// the client finds a wrong password in the BMC's RAKP 2 HMAC.
	if _, err := c.RAKPMessage1(ctx); err != nil {
		return authError("RAKP 1/2", err)
	}
	if _, err := c.RAKPMessage3(ctx); err != nil {
		return authError("RAKP 3/4", err)
	}
	if _, err := c.SetSessionPrivilegeLevel(ctx, ipmi.PrivilegeLevelAdministrator); err != nil {
		return authError("set session privilege administrator", err)
	}
	return nil
}

// authError is a login step's failure: an authentication failure unless the
// network failed.
// The library's message for a wrong password carries both HMACs; the
// BMC's is derived from the real password, so it is not passed on to
// results and the logbook.
func authError(step string, err error) error {
	e := classify(step, err).(*Error)
	if e.Outcome != Refused {
		return e
	}
	e.Outcome = AuthFailed
	msg := err.Error()
	switch {
	case strings.Contains(msg, "authcode not equal"):
		e.Err = fmt.Errorf("%s: wrong password (the BMC's RAKP 2 HMAC does not match it)", step)
	case strings.Contains(msg, "Unauthorized name"):
		e.Err = fmt.Errorf("%s: the BMC does not know this user name", step)
	default:
		e.Err = fmt.Errorf("login refused (user name or password wrong, or not an administrator): %w", e.Err)
	}
	return e
}

func classify(step string, err error) error {
	out := Refused
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		out = Unreachable
	case errors.As(err, &ne) && ne.Timeout():
		out = Timeout
	}
	return &Error{out, fmt.Errorf("%s: %w", step, err)}
}

// udpDialer hands the library its UDP socket and remembers it.
type udpDialer struct {
	mu   sync.Mutex
	conn net.Conn
}

func (d *udpDialer) Dial(network, addr string) (net.Conn, error) {
	c, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.conn = c
	d.mu.Unlock()
	return c, nil
}

func (d *udpDialer) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		d.conn.Close()
	}
}
