// Package power switches nodes on and off through their baseboard
// management controllers. A Controller speaks one BMC protocol to one BMC;
// Run drives many in parallel with a deadline per node. IPMI v2.0 (RMCP+,
// "lanplus") is the one implemented; Redfish is meant to be a second
// Controller beside it, chosen per BMC, with Run and everything above it
// unchanged.
package power

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/node-switch/node-switch/fanout"
)

// Action is what is asked of a BMC.
type Action string

// Actions.
const (
	Status Action = "status"
	On     Action = "on"
	Off    Action = "off"   // hard off, no OS shutdown
	Cycle  Action = "cycle" // off, then on again
	Reset  Action = "reset" // hard reset, power stays on
)

// Actions lists every action, for parsing and messages.
var Actions = []Action{Status, On, Off, Cycle, Reset}

// ParseAction reads an action name.
func ParseAction(s string) (Action, error) {
	for _, a := range Actions {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown power action %q: want status, on, off, cycle or reset", s)
}

// State is a chassis power state as the BMC reports it.
type State string

// States; "" when not known.
const (
	StateOn  State = "on"
	StateOff State = "off"
)

// Endpoint is one BMC and the credentials that log in to it. Password is
// the secret itself: it is never formatted (String and the JSON of a Result
// carry only the address).
type Endpoint struct {
	Host     string
	Port     int
	User     string
	Password string `json:"-"`
}

// Addr is host:port.
func (e Endpoint) Addr() string {
	return joinHostPort(e.Host, e.Port)
}

func (e Endpoint) String() string { return e.User + "@" + e.Addr() }

func joinHostPort(host string, port int) string {
	if port == 0 {
		port = DefaultPort
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// DefaultPort is the RMCP port.
const DefaultPort = 623

// Controller performs one action on one BMC. It returns the power state
// when it learnt it (always for Status). It must return when ctx ends.
type Controller interface {
	Do(ctx context.Context, e Endpoint, a Action) (State, error)
}

// Outcome classifies a node's result, the same words for every protocol.
type Outcome string

// Outcomes.
const (
	OK          Outcome = "ok"
	AuthFailed  Outcome = "auth failed" // wrong user or password, or not privileged enough
	Timeout     Outcome = "timeout"     // no answer before the node's deadline
	Unreachable Outcome = "unreachable" // refused at once (nothing listens, no route)
	Refused     Outcome = "refused"     // the BMC answered but would not do it
)

// Error is a Controller's failure with its outcome.
type Error struct {
	Outcome Outcome
	Err     error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Target is one node's BMC.
type Target struct {
	Node     string
	Endpoint Endpoint
}

// Result is one node's outcome. Its JSON is what "power --json" prints.
type Result struct {
	Node     string        `json:"node"`
	BMC      string        `json:"bmc"`
	Action   Action        `json:"action"`
	Outcome  Outcome       `json:"result"`
	State    State         `json:"state,omitempty"`
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Config bounds a run.
type Config struct {
	Parallel int           // BMCs talked to at once; 0 = DefaultParallel
	Timeout  time.Duration // per node, from its first packet; 0 = DefaultTimeout
}

// Defaults: a BMC answers in milliseconds when it answers at all; 10 s
// leaves room for a busy one and for lost packets to be sent again.
const (
	DefaultParallel = 32
	DefaultTimeout  = 10 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Parallel <= 0 {
		c.Parallel = DefaultParallel
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// Run performs a on every target, at most cfg.Parallel at once, each under
// its own deadline so one silent BMC costs its own slot for cfg.Timeout and
// delays nobody else. Results are in the order of targets; progress, when
// set, is told of each as it finishes.
func Run(ctx context.Context, ctl Controller, targets []Target, a Action, cfg Config,
	progress func(done, total int, r Result)) []Result {
	cfg = cfg.withDefaults()
	return fanout.Each(ctx, targets, cfg.Parallel,
		func(t Target) Result { return one(ctx, ctl, t, a, cfg.Timeout) },
		func(t Target, err error) Result {
			return Result{Node: t.Node, BMC: t.Endpoint.Addr(), Action: a, Outcome: Timeout,
				Detail: fmt.Sprintf("%s %s: not started: %v", a, t.Endpoint.Addr(), err)}
		}, progress)
}

func one(ctx context.Context, ctl Controller, t Target, a Action, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	st, err := ctl.Do(ctx, t.Endpoint, a)
	r := Result{Node: t.Node, BMC: t.Endpoint.Addr(), Action: a, State: st, Duration: time.Since(start), Outcome: OK}
	if err == nil {
		return r
	}
	var pe *Error
	switch {
	case ctx.Err() != nil:
		r.Outcome = Timeout
		err = fmt.Errorf("no answer within %s (%w)", timeout, err)
	case errors.As(err, &pe):
		r.Outcome = pe.Outcome
	default:
		r.Outcome = Refused
	}
	r.Detail = fmt.Sprintf("%s %s: %v", a, t.Endpoint, err)
	return r
}

// Failed returns the results that are not OK.
func Failed(rs []Result) []Result {
	var out []Result
	for _, r := range rs {
		if r.Outcome != OK {
			out = append(out, r)
		}
	}
	return out
}
