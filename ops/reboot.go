package ops

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/node-switch/node-switch/hooks"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/power"
	"github.com/node-switch/node-switch/reboot"
)

// RebootRequest reboots nodes, each through its BMC or over SSH (Via).
type RebootRequest struct {
	Request
	Via Via
	// Force also reboots over SSH nodes running a localdisk (Windows)
	// profile, which the Windows head normally restarts.
	Force    bool
	Progress func(done, total int, r reboot.Result) `json:"-"`
}

// Via says how nodes are rebooted.
type Via string

// Ways to reboot. ViaAuto takes the BMC where a node has one (it works
// whatever the node runs, Windows or hung) and SSH otherwise.
const (
	ViaAuto Via = ""
	ViaSSH  Via = "ssh"
	ViaBMC  Via = "bmc"
)

// ParseVia reads --via.
func ParseVia(s string) (Via, error) {
	switch v := Via(s); v {
	case ViaAuto, ViaSSH, ViaBMC:
		return v, nil
	case "auto":
		return ViaAuto, nil
	}
	return "", nodes.Invalid(fmt.Errorf("--via %q: want auto, ssh or bmc", s))
}

// RebootReport is what "reboot --json" prints; the PowerShell client reads
// results.
type RebootReport struct {
	Results []reboot.Result `json:"results"`
	OK      int             `json:"ok"`
	Failed  int             `json:"failed"`
}

// Reboot reboots every node of a range over SSH, in parallel, and returns
// each node's result; the error names the nodes that failed.
func (o *Ops) Reboot(ctx context.Context, r RebootRequest) (RebootReport, error) {
	if strings.TrimSpace(r.Range) == "" {
		return RebootReport{}, nodes.Invalid(fmt.Errorf("reboot: empty range; name the nodes (use 'all' to mean every node)"))
	}
	// The reason reaches the hooks' environment before the logbook: it is
	// checked here, as a move's is in the store.
	if err := nodes.CheckText(nodes.FieldReason, r.Reason); err != nil {
		return RebootReport{}, fmt.Errorf("reboot %s: %w", r.Range, err)
	}
	ns, err := o.Store.Nodes(ctx, r.Range)
	if err != nil {
		return RebootReport{}, fmt.Errorf("reboot %s: %w", r.Range, err)
	}
	rp, err := o.planReboot(ctx, ns, r.Via, r.Force, "--force")
	if err != nil {
		return RebootReport{}, fmt.Errorf("reboot %s: nothing was rebooted: %w", r.Range, err)
	}
	res, err := o.reboot(ctx, r.Actor, r.Reason, ns, rp, r.Progress)
	rep := RebootReport{Results: res}
	if rep.Results == nil {
		rep.Results = []reboot.Result{}
	}
	rep.Failed = len(reboot.Failed(res))
	rep.OK = len(res) - rep.Failed
	return rep, err
}

// rebootPlan says how each node is rebooted.
type rebootPlan struct {
	ssh *reboot.Client          // nil when no node reboots over SSH
	bmc map[string]power.Target // nodes rebooted through their BMC
}

// planReboot chooses SSH or the BMC for each node and checks everything
// either needs before anything happens: BMC password files readable; for
// the SSH nodes, what rebootClient checks. The localdisk refusal is an SSH
// matter (the Windows head reboots those nodes over its own channel); a
// BMC resets whatever the node runs.
func (o *Ops) planReboot(ctx context.Context, ns []nodes.Node, via Via, localDisk bool, flag string) (*rebootPlan, error) {
	rp := &rebootPlan{bmc: map[string]power.Target{}}
	var viaSSH []nodes.Node
	if via == ViaSSH {
		viaSSH = ns
	} else {
		targets, without, err := o.bmcTargets(ctx, ns)
		if err != nil {
			return nil, err
		}
		if via == ViaBMC && len(without) > 0 {
			return nil, nodes.Invalid(fmt.Errorf("--via bmc: %s have no BMC (set one with 'node-switch node set NAME --bmc HOST "+
				"--bmc-user USER --bmc-password-file FILE')", nodes.Compress(namesOf(without))))
		}
		for _, t := range targets {
			rp.bmc[t.Node] = t
		}
		for _, n := range ns {
			if _, ok := rp.bmc[n.Name]; !ok {
				viaSSH = append(viaSSH, n)
			}
		}
	}
	if len(viaSSH) > 0 {
		rc, err := o.rebootClient(ctx, viaSSH, localDisk, flag)
		if err != nil {
			return nil, err
		}
		rp.ssh = rc
	}
	return rp, nil
}

// bmcReboot is a reboot through a BMC: a hard reset when the node is on
// (hung or not, whatever it runs), power on when it is off (a reset would
// do nothing). The state returned is the one before.
type bmcReboot struct{ ctl power.Controller }

func (b bmcReboot) Do(ctx context.Context, e power.Endpoint, _ power.Action) (power.State, error) {
	st, err := b.ctl.Do(ctx, e, power.Status)
	if err != nil {
		return "", err
	}
	a := power.Reset
	if st == power.StateOff {
		a = power.On
	}
	_, err = b.ctl.Do(ctx, e, a)
	return st, err
}

// rebootClient checks everything a reboot needs before anything happens:
// that no node runs a localdisk profile (unless allowed, by the flag named
// in the refusal), and that the key and known_hosts load.
func (o *Ops) rebootClient(ctx context.Context, ns []nodes.Node, localDisk bool, flag string) (*reboot.Client, error) {
	if !localDisk {
		var windows []string
		clusters := map[string]bool{}
		for _, n := range ns {
			// What runs now is the node's own cluster: a pending boot-once
			// starts only at this reboot.
			n.OnceCluster = ""
			cl, p, err := o.Store.BootOf(ctx, n)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", n.Name, err)
			}
			if p.Kind == nodes.KindLocalDisk {
				windows = append(windows, n.Name)
				clusters[cl.Name] = true
			}
		}
		if len(windows) > 0 {
			var cs []string
			for c := range clusters {
				cs = append(cs, c)
			}
			sort.Strings(cs)
			return nil, fmt.Errorf("%s boot the local disk (cluster %s), so the Windows head reboots them "+
				"(Restart-HpcNode -Name %s -Confirm:$false). Pass %s to reboot them over SSH anyway, or give them a BMC (node set NAME --bmc ...): %w",
				nodes.Compress(windows), strings.Join(cs, ","), strings.Join(windows, ","), flag, nodes.ErrRefused)
		}
	}
	return reboot.New(o.settings.Reboot.Config)
}

// reboot runs the pre-reboot hooks (which may veto), reboots the nodes,
// records each node's result in the logbook and runs the post-reboot hooks
// for those that rebooted.
func (o *Ops) reboot(ctx context.Context, actor nodes.Actor, reason string, ns []nodes.Node, rp *rebootPlan,
	progress func(done, total int, r reboot.Result)) ([]reboot.Result, error) {
	if len(ns) == 0 {
		return nil, nil
	}
	names := make([]string, len(ns))
	var sshTargets []reboot.Target
	var bmcTargets []power.Target
	port := strconv.Itoa(o.settings.Reboot.Port)
	for i, n := range ns {
		names[i] = n.Name
		if t, ok := rp.bmc[n.Name]; ok {
			bmcTargets = append(bmcTargets, t)
		} else {
			sshTargets = append(sshTargets, reboot.Target{Name: n.Name, Addr: net.JoinHostPort(n.IP.String(), port)})
		}
	}
	ev := hooks.Event{Stage: hooks.Pre, Action: nodes.ActionReboot, Nodes: names, Reason: reason}
	if err := o.runHooks(ctx, actor, ev); err != nil {
		return nil, fmt.Errorf("reboot %s: vetoed, nothing was rebooted: %w", nodes.Compress(names), err)
	}
	results := o.runReboots(ctx, ns, rp, sshTargets, bmcTargets, progress)
	var lerrs []string
	var ok []string
	for _, r := range results {
		if r.Status == reboot.OK {
			ok = append(ok, r.Node)
		}
		if _, err := o.Store.Record(context.WithoutCancel(ctx), actor, nodes.Event{Action: nodes.ActionReboot, Nodes: []string{r.Node},
			Reason: reason, Result: fmt.Sprintf("%s: %s", r.Status, r.Detail)}); err != nil {
			lerrs = append(lerrs, err.Error())
		}
	}
	var errs []string
	if len(ok) > 0 {
		ev.Stage, ev.Nodes = hooks.Post, ok
		if err := o.runHooks(ctx, actor, ev); err != nil {
			errs = append(errs, fmt.Sprintf("post-reboot hook: %v", err))
		}
	}
	if failed := reboot.Failed(results); len(failed) > 0 {
		var parts []string
		for _, r := range failed {
			parts = append(parts, r.Node+" ("+string(r.Status)+")")
		}
		errs = append([]string{"reboot failed for " + strings.Join(parts, ", ")}, errs...)
	}
	if len(lerrs) > 0 {
		errs = append(errs, "logbook: "+strings.Join(lerrs, "; "))
	}
	if len(errs) > 0 {
		return results, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return results, nil
}

// runReboots reboots the SSH nodes and the BMC nodes at the same time and
// returns the results in the order of ns, BMC results in reboot's terms.
func (o *Ops) runReboots(ctx context.Context, ns []nodes.Node, rp *rebootPlan, sshTargets []reboot.Target,
	bmcTargets []power.Target, progress func(done, total int, r reboot.Result)) []reboot.Result {
	var mu sync.Mutex
	done := 0
	report := func(r reboot.Result) {
		if progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		done++
		progress(done, len(ns), r)
	}
	byNode := map[string]reboot.Result{}
	var wg sync.WaitGroup
	if len(sshTargets) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs := rp.ssh.Run(ctx, sshTargets, func(_, _ int, r reboot.Result) { report(r) })
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rs {
				byNode[r.Node] = r
			}
		}()
	}
	if len(bmcTargets) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs := power.Run(ctx, bmcReboot{o.settings.Power.Controller}, bmcTargets, power.Reset, o.settings.Power.Config,
				func(_, _ int, r power.Result) { report(bmcResult(r)) })
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rs {
				byNode[r.Node] = bmcResult(r)
			}
		}()
	}
	wg.Wait()
	out := make([]reboot.Result, len(ns))
	for i, n := range ns {
		out[i] = byNode[n.Name]
	}
	return out
}

// bmcResult is a BMC reboot's outcome in reboot's words; the address is
// the BMC's, marked so.
func bmcResult(r power.Result) reboot.Result {
	out := reboot.Result{Node: r.Node, Addr: "bmc " + r.BMC, Status: reboot.Status(r.Outcome), Detail: r.Detail, Duration: r.Duration}
	if r.Outcome == power.OK {
		out.Detail = "hard reset through the BMC"
		if r.State == power.StateOff {
			out.Detail = "was off: powered on through the BMC"
		}
	}
	return out
}
