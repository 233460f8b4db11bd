package ops

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/node-switch/node-switch/hooks"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/power"
	"github.com/node-switch/node-switch/wol"
)

// WakeResult is one node's Wake-on-LAN outcome.
type WakeResult struct {
	Node      string `json:"node"`
	MAC       string `json:"mac"`
	Interface string `json:"interface,omitempty"`
	Broadcast string `json:"broadcast,omitempty"`
	OK        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`
}

// canWake checks, before a move commits, that packets could be sent at all.
func (o *Ops) canWake() error {
	_, err := wol.LocalIfaces()
	return err
}

// wake sends the packets and records in one logbook entry which were sent
// and which were not; the error names the nodes it could not wake.
func (o *Ops) wake(ctx context.Context, actor nodes.Actor, reason string, ns []nodes.Node) ([]WakeResult, error) {
	results := []WakeResult{}
	if len(ns) == 0 {
		return results, nil
	}
	ifaces, err := wol.LocalIfaces()
	if err != nil {
		return nil, err
	}
	subnets, err := o.Store.Subnets(ctx)
	if err != nil {
		return nil, err
	}
	port := o.settings.Wake.Port
	if port == 0 {
		port = wol.DefaultPort
	}
	var sent, failed, reasons, names []string
	for _, n := range ns {
		names = append(names, n.Name)
		res := WakeResult{Node: n.Name, MAC: n.MAC}
		var prefix netip.Prefix
		if sn, ok := nodes.SubnetFor(subnets, n.IP); ok {
			prefix = sn.Prefix
		}
		route, err := wol.Plan(ifaces, o.settings.Wake.Interface, n.IP, prefix)
		if err == nil {
			res.Interface, res.Broadcast = route.Interface, route.Broadcast.String()
			err = wol.Send(ctx, n.MAC, route, port)
		}
		if err != nil {
			res.Error = fmt.Sprintf("wake %s (%s): %v", n.Name, n.MAC, err)
			failed = append(failed, n.Name)
			reasons = append(reasons, res.Error)
		} else {
			res.OK = true
			sent = append(sent, n.Name)
		}
		results = append(results, res)
	}
	result := "magic packets sent to " + orNone(sent)
	if len(failed) > 0 {
		result += "; not sent to " + nodes.Compress(failed) + ": " + strings.Join(reasons, "; ")
	}
	if _, err := o.Store.Record(context.WithoutCancel(ctx), actor, nodes.Event{Action: nodes.ActionPowerOn, Nodes: names,
		Reason: reason, Result: result}); err != nil {
		return results, fmt.Errorf("power on: packets sent but the logbook entry failed: %w", err)
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("could not wake %s: %s", nodes.Compress(failed), strings.Join(reasons, "; "))
	}
	return results, nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return nodes.Compress(names)
}

// PowerSettings say how BMCs are driven.
type PowerSettings struct {
	power.Config // parallelism and the per-node deadline
	// Controller speaks to the BMCs; nil = power.IPMI{}. Every BMC is IPMI
	// today; a Redfish controller would be chosen here per BMC.
	Controller power.Controller
}

// PowerRequest asks nodes' BMCs for a power action. "on" also wakes the
// nodes that have no BMC with Wake-on-LAN; every other action needs a BMC
// on every node of the range.
type PowerRequest struct {
	Request
	Action   power.Action
	Progress func(done, total int, r power.Result) `json:"-"`
}

// PowerReport is what "power ACTION --json" prints.
type PowerReport struct {
	Action  power.Action   `json:"action"`
	Results []power.Result `json:"results"`        // nodes with a BMC
	Wake    []WakeResult   `json:"wake,omitempty"` // power on: nodes without one
	OK      int            `json:"ok"`
	Failed  int            `json:"failed"`
}

// powerActions are the logbook actions of the power actions that change
// something; status only reads and is not logged.
var powerActions = map[power.Action]nodes.Action{
	power.On: nodes.ActionPowerOn, power.Off: nodes.ActionPowerOff,
	power.Cycle: nodes.ActionPowerCycle, power.Reset: nodes.ActionPowerReset,
}

// Power performs a power action on every node of a range through its BMC,
// in parallel, each node under its own deadline. Off, cycle and reset cut a
// running OS short, so they run the pre-hooks (which may veto, e.g. to drain
// the scheduler) and post-hooks, as a reboot does. The error names the
// nodes that failed.
func (o *Ops) Power(ctx context.Context, r PowerRequest) (PowerReport, error) {
	rep := PowerReport{Action: r.Action, Results: []power.Result{}}
	what := fmt.Sprintf("power %s %s", r.Action, r.Range)
	if strings.TrimSpace(r.Range) == "" {
		return rep, nodes.Invalid(fmt.Errorf("power %s: empty range; name the nodes (use 'all' to mean every node)", r.Action))
	}
	// The reason reaches the hooks' environment before the logbook.
	if err := nodes.CheckText(nodes.FieldReason, r.Reason); err != nil {
		return rep, fmt.Errorf("%s: %w", what, err)
	}
	ns, err := o.Store.Nodes(ctx, r.Range)
	if err != nil {
		return rep, fmt.Errorf("%s: %w", what, err)
	}
	targets, without, err := o.bmcTargets(ctx, ns)
	if err != nil {
		return rep, fmt.Errorf("%s: nothing was done: %w", what, err)
	}
	if len(without) > 0 && r.Action != power.On {
		return rep, nodes.Invalid(fmt.Errorf("%s: nothing was done: %s have no BMC (set one with 'node-switch node set NAME "+
			"--bmc HOST --bmc-user USER --bmc-password-file FILE'; only 'power on' falls back to Wake-on-LAN)",
			what, nodes.Compress(namesOf(without))))
	}
	if len(without) > 0 {
		if err := o.canWake(); err != nil {
			return rep, fmt.Errorf("%s: nothing was done: %w", what, err)
		}
	}
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.Node
	}
	la, logged := powerActions[r.Action]
	hooked := r.Action == power.Off || r.Action == power.Cycle || r.Action == power.Reset
	ev := hooks.Event{Stage: hooks.Pre, Action: la, Nodes: names, Reason: r.Reason}
	if hooked && len(names) > 0 {
		if err := o.runHooks(ctx, r.Actor, ev); err != nil {
			return rep, fmt.Errorf("%s: vetoed, nothing was done: %w", what, err)
		}
	}
	var errs []string
	if len(targets) > 0 {
		rep.Results = power.Run(ctx, o.settings.Power.Controller, targets, r.Action, o.settings.Power.Config, r.Progress)
	}
	failed := power.Failed(rep.Results)
	rep.Failed = len(failed)
	rep.OK = len(rep.Results) - rep.Failed
	if logged && len(targets) > 0 {
		if _, err := o.Store.Record(context.WithoutCancel(ctx), r.Actor, nodes.Event{Action: la, Nodes: names,
			Reason: r.Reason, Result: powerSummary(rep.Results)}); err != nil {
			errs = append(errs, fmt.Sprintf("logbook: %v", err))
		}
	}
	if hooked && rep.OK > 0 {
		var ok []string
		for _, res := range rep.Results {
			if res.Outcome == power.OK {
				ok = append(ok, res.Node)
			}
		}
		ev.Stage, ev.Nodes = hooks.Post, ok
		if err := o.runHooks(ctx, r.Actor, ev); err != nil {
			errs = append(errs, fmt.Sprintf("post-%s hook: %v", la, err))
		}
	}
	if len(without) > 0 {
		wr, err := o.wake(ctx, r.Actor, r.Reason, without)
		rep.Wake = wr
		for _, w := range wr {
			if w.OK {
				rep.OK++
			} else {
				rep.Failed++
			}
		}
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(failed) > 0 {
		var parts []string
		for _, f := range failed {
			parts = append(parts, f.Node+" ("+string(f.Outcome)+")")
		}
		errs = append([]string{fmt.Sprintf("power %s failed for %s", r.Action, strings.Join(parts, ", "))}, errs...)
	}
	if len(errs) > 0 {
		return rep, errors.New(strings.Join(errs, "; "))
	}
	return rep, nil
}

// bmcTargets splits nodes into those with a BMC, as targets with their
// passwords read, and those without. A BMC whose password file cannot be
// read is an error naming every such node: checked before anything is done.
func (o *Ops) bmcTargets(ctx context.Context, ns []nodes.Node) ([]power.Target, []nodes.Node, error) {
	bmcs, err := o.Store.BMCs(ctx, namesOf(ns))
	if err != nil {
		return nil, nil, err
	}
	var targets []power.Target
	var without []nodes.Node
	var bad []string
	for _, n := range ns {
		b, ok := bmcs[n.Name]
		if !ok {
			without = append(without, n)
			continue
		}
		pw, err := nodes.ReadPasswordFile(b.PasswordFile)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", n.Name, err))
			continue
		}
		targets = append(targets, power.Target{Node: n.Name, Endpoint: power.Endpoint{Host: b.Host, Port: b.Port, User: b.User, Password: pw}})
	}
	if len(bad) > 0 {
		return nil, nil, fmt.Errorf("BMC credentials: %s", strings.Join(bad, "; "))
	}
	return targets, without, nil
}

// powerSummary is the logbook's result line: who succeeded, and each
// failure with its reason (never a password: results carry none).
func powerSummary(rs []power.Result) string {
	var ok, parts []string
	for _, r := range rs {
		if r.Outcome == power.OK {
			ok = append(ok, r.Node)
		} else {
			parts = append(parts, r.Node+": "+r.Detail)
		}
	}
	s := "ok: " + orNone(ok)
	if len(parts) > 0 {
		s += "; failed: " + strings.Join(parts, "; ")
	}
	return s
}

func namesOf(ns []nodes.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
}
