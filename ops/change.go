package ops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/node-switch/node-switch/bootprofiles"
	"github.com/node-switch/node-switch/hooks"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/reboot"
)

// MoveRequest moves nodes to another logical cluster.
type MoveRequest struct {
	Request
	To     string
	DryRun bool
	Force  bool // even to an NFS root whose last check failed
	// Wake and Reboot start the moved nodes into their new cluster.
	// Nodes running a localdisk profile are the Windows head's to reboot
	// unless RebootLocalDisk is set.
	Wake, Reboot, RebootLocalDisk bool
	Via                           Via // how to reboot: BMC where configured, else SSH
	// Progress, when set, is told of each reboot as it finishes.
	Progress func(done, total int, r reboot.Result) `json:"-"`
	// Once sends only the nodes' next boot to To; they keep their cluster
	// (see once.go).
	Once bool
}

// Move plans the move, lets the pre-move hooks veto it, commits exactly the
// plan the hooks were told (or nothing, if the inventory changed meanwhile),
// runs the post-move hooks and then wakes and reboots as asked. Everything
// that can be checked before the commit is: a move never commits and then
// finds that its reboot could not have run.
func (o *Ops) Move(ctx context.Context, r MoveRequest) (Report, error) {
	commit := func(dryRun bool, plan *nodes.Change) (nodes.Change, error) {
		return o.Store.Move(ctx, r.Actor, nodes.MoveRequest{Range: r.Range, To: r.To, Reason: r.Reason, Force: r.Force, DryRun: dryRun, Plan: plan})
	}
	what := fmt.Sprintf("move %s to %s", r.Range, r.To)
	if r.Once {
		commit = func(dryRun bool, plan *nodes.Change) (nodes.Change, error) {
			return o.Store.SetOnce(ctx, r.Actor, nodes.OnceRequest{Range: r.Range, To: r.To, Reason: r.Reason, Force: r.Force, DryRun: dryRun, Plan: plan})
		}
		what += " once"
	}
	plan, err := commit(true, nil)
	if err != nil {
		return Report{}, err
	}
	warning, err := o.checkProfile(ctx, r.To, r.Force)
	if err == nil && r.Once {
		err = o.checkOnceTarget(ctx, r.To)
	}
	if err != nil {
		return Report{}, fmt.Errorf("%s: nothing changed: %w", what, err)
	}
	if r.DryRun {
		rep := reportOf(plan)
		rep.Warnings = warning
		return rep, nil
	}
	var rp *rebootPlan
	if r.Reboot {
		// The nodes as they are now decide which would be refused: a
		// node leaving Windows runs Windows until it restarts.
		if rp, err = o.planReboot(ctx, plan.Changed, r.Via, r.RebootLocalDisk, "--reboot-localdisk"); err != nil {
			return Report{}, fmt.Errorf("%s: nothing changed: --reboot: %w", what, err)
		}
	}
	if r.Wake {
		if err := o.canWake(); err != nil {
			return Report{}, fmt.Errorf("%s: nothing changed: --wake: %w", what, err)
		}
	}
	// A once runs the move hooks: for one boot the nodes leave their
	// cluster, which is what a scheduler's drain hook must hear.
	ev := hooks.Event{Stage: hooks.Pre, Action: nodes.ActionMove, Nodes: plan.Names(), From: plan.From(), To: r.To, Reason: r.Reason, Once: r.Once}
	if err := o.runHooks(ctx, r.Actor, ev); err != nil {
		return Report{}, fmt.Errorf("%s: vetoed, nothing changed: %w", what, err)
	}
	ch, err := commit(false, &plan)
	if err != nil {
		return Report{}, err
	}
	rep := reportOf(ch)
	rep.Warnings = warning
	o.syncServers(ctx, r.Request, ch, &rep)
	ev.Stage = hooks.Post
	o.postHooks(ctx, r.Actor, ev, &rep)
	var errs []error
	if r.Wake {
		res, err := o.wake(ctx, r.Actor, r.Reason, ch.Changed)
		rep.Wake = res
		if err != nil {
			errs = append(errs, fmt.Errorf("wake: %w", err))
		}
	}
	if rp != nil {
		res, err := o.reboot(ctx, r.Actor, r.Reason, ch.Changed, rp, r.Progress)
		rep.Reboot = res
		if err != nil {
			errs = append(errs, fmt.Errorf("reboot: %w", err))
		}
	}
	if len(errs) > 0 {
		return rep, &AfterCommitError{Action: ch.Action, Event: ch.Event, Err: errors.Join(errs...)}
	}
	return rep, nil
}

// checkProfile refuses a move into a cluster whose boot profile cannot boot
// a node: a template that does not render always, a kernel or initrd missing
// from the boot root unless forced. A boot root that does not exist here (a
// head node that serves from elsewhere) is only a warning.
func (o *Ops) checkProfile(ctx context.Context, cluster string, force bool) ([]string, error) {
	c, err := o.Store.Cluster(ctx, cluster)
	if err != nil {
		return nil, nodes.Invalid(fmt.Errorf("unknown cluster %q", cluster))
	}
	p, err := o.Store.Profile(ctx, c.Profile)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: profile %s: %w", c.Name, c.Profile, err)
	}
	if o.settings.BootRoot == "" {
		return nil, nil
	}
	err = bootprofiles.Check(p, o.settings.BootRoot)
	switch {
	case err == nil:
		return nil, nil
	case errors.Is(err, bootprofiles.ErrNoBootRoot):
		return []string{err.Error()}, nil
	case errors.Is(err, bootprofiles.ErrMissingFile) && force:
		return []string{err.Error() + " (forced)"}, nil
	case errors.Is(err, bootprofiles.ErrMissingFile):
		return nil, fmt.Errorf("cluster %s: %w: %w", c.Name, err, nodes.ErrRefused)
	}
	return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
}

// postHooks runs post-event hooks; the change has committed, so a failing
// hook is reported as a warning, not undone.
func (o *Ops) postHooks(ctx context.Context, actor nodes.Actor, ev hooks.Event, rep *Report) {
	if err := o.runHooks(ctx, actor, ev); err != nil {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s hook: %v (the change stands)", ev.Name(), err))
	}
}

// MaskRequest masks nodes (our DHCP and TFTP ignore them so the Windows
// head's WDS can reinstall them; they keep their cluster) or unmasks them.
type MaskRequest struct {
	Request
	Mask   bool
	DryRun bool
	// Force unmasks even into a cluster whose NFS root has not passed its
	// check.
	Force bool
}

// Mask masks or unmasks nodes with the same plan, hooks and exact commit as
// Move.
func (o *Ops) Mask(ctx context.Context, r MaskRequest) (Report, error) {
	req := nodes.MaskRequest{Range: r.Range, Mask: r.Mask, Reason: r.Reason, DryRun: true, Force: r.Force}
	plan, err := o.Store.SetMask(ctx, r.Actor, req)
	if err != nil {
		return Report{}, err
	}
	if r.DryRun {
		return reportOf(plan), nil
	}
	ev := hooks.Event{Stage: hooks.Pre, Action: plan.Action, Nodes: plan.Names(), From: plan.From(), Reason: r.Reason}
	if err := o.runHooks(ctx, r.Actor, ev); err != nil {
		return Report{}, fmt.Errorf("%s %s: vetoed, nothing changed: %w", plan.Action, r.Range, err)
	}
	req.DryRun, req.Plan = false, &plan
	ch, err := o.Store.SetMask(ctx, r.Actor, req)
	if err != nil {
		return Report{}, err
	}
	rep := reportOf(ch)
	o.syncServers(ctx, r.Request, ch, &rep)
	ev.Stage = hooks.Post
	o.postHooks(ctx, r.Actor, ev, &rep)
	return rep, nil
}

// DefaultSyncTimeout is how long a change waits, by default, for every live
// boot server to answer from it.
const DefaultSyncTimeout = 2 * time.Second

// syncServers waits after a commit until every live boot server answers
// from it (nodes.WaitServers), so the next DHCP request to any server sees
// the change and a mask is in every server's copy before the database
// could stop. It runs before the post-hooks, the wake and the reboot: what
// they set off (a node booting) must meet the new answer. A server still
// behind after the bound is named in the report and the logbook; the
// change stands either way (the server may have just died: it is waited
// for until it misses three heartbeats).
func (o *Ops) syncServers(ctx context.Context, r Request, ch nodes.Change, rep *Report) {
	bound := r.SyncTimeout
	if bound == 0 {
		bound = DefaultSyncTimeout
	}
	if bound < 0 || ch.DryRun {
		return
	}
	gen, err := o.Store.Generation(ctx)
	var behind []nodes.BootServer
	if err == nil {
		behind, err = o.Store.WaitServers(ctx, gen, bound)
	}
	if err != nil {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("could not confirm that every boot server answers from this change: %v (the change stands)", err))
		return
	}
	if len(behind) == 0 {
		return
	}
	text := nodes.Behind(behind, gen)
	for _, b := range behind {
		rep.Lagging = append(rep.Lagging, b.String())
	}
	rep.Warnings = append(rep.Warnings, fmt.Sprintf("after %v, boot servers still answer from before this change: %s; their next answers may not reflect it (the change stands)", bound, text))
	if _, err := o.Store.Record(context.WithoutCancel(ctx), r.Actor, nodes.Event{Action: nodes.ActionServersBehind, Nodes: ch.Names(),
		Reason: fmt.Sprintf("%s (logbook #%d)", ch.Action, ch.Event), Result: fmt.Sprintf("after %v still behind: %s", bound, text)}); err != nil {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("logbook entry for the servers behind: %v", err))
	}
}
