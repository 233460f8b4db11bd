package ops

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/node-switch/node-switch/hooks"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/reboot"
)

// RebootRequest reboots nodes over SSH.
type RebootRequest struct {
	Request
	// Force also reboots nodes running a localdisk (Windows) profile,
	// which the Windows head normally restarts.
	Force    bool
	Progress func(done, total int, r reboot.Result) `json:"-"`
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
	ns, err := o.Store.Nodes(ctx, r.Range)
	if err != nil {
		return RebootReport{}, fmt.Errorf("reboot %s: %w", r.Range, err)
	}
	rc, err := o.rebootClient(ctx, ns, r.Force, "--force")
	if err != nil {
		return RebootReport{}, fmt.Errorf("reboot %s: nothing was rebooted: %w", r.Range, err)
	}
	res, err := o.reboot(ctx, r.Actor, r.Reason, ns, rc, r.Progress)
	rep := RebootReport{Results: res}
	if rep.Results == nil {
		rep.Results = []reboot.Result{}
	}
	rep.Failed = len(reboot.Failed(res))
	rep.OK = len(res) - rep.Failed
	return rep, err
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
				"(Restart-HpcNode -Name %s -Confirm:$false). Pass %s to reboot them over SSH anyway: %w",
				nodes.Compress(windows), strings.Join(cs, ","), strings.Join(windows, ","), flag, nodes.ErrRefused)
		}
	}
	return reboot.New(o.settings.Reboot.Config)
}

// reboot runs the pre-reboot hooks (which may veto), reboots the nodes,
// records each node's result in the logbook and runs the post-reboot hooks
// for those that rebooted.
func (o *Ops) reboot(ctx context.Context, actor nodes.Actor, reason string, ns []nodes.Node, rc *reboot.Client,
	progress func(done, total int, r reboot.Result)) ([]reboot.Result, error) {
	if len(ns) == 0 {
		return nil, nil
	}
	names := make([]string, len(ns))
	targets := make([]reboot.Target, len(ns))
	port := strconv.Itoa(o.settings.Reboot.Port)
	for i, n := range ns {
		names[i] = n.Name
		targets[i] = reboot.Target{Name: n.Name, Addr: net.JoinHostPort(n.IP.String(), port)}
	}
	ev := hooks.Event{Stage: hooks.Pre, Action: nodes.ActionReboot, Nodes: names, Reason: reason}
	if err := o.runHooks(ctx, actor, ev); err != nil {
		return nil, fmt.Errorf("reboot %s: vetoed, nothing was rebooted: %w", nodes.Compress(names), err)
	}
	results := rc.Run(ctx, targets, progress)
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
