package ops

import (
	"context"
	"fmt"

	"github.com/node-switch/node-switch/bootprofiles"
	"github.com/node-switch/node-switch/nodes"
)

// Boot once is Move with Once set: the same plan, hooks (pre-move and
// post-move, with NODE_SWITCH_ONCE=1), exact commit, wake and reboot. The
// boot server ends the once when the node fetches that boot's config (see
// nodes/once.go).

// checkOnceTarget refuses a once into a cluster whose profile sends some
// firmware no boot file (a localdisk profile's "none" for UEFI): such a
// boot fetches no config, so nothing would ever end the once and every
// later boot of the node would go there as well.
func (o *Ops) checkOnceTarget(ctx context.Context, cluster string) error {
	c, err := o.Store.Cluster(ctx, cluster)
	if err != nil {
		return nodes.Invalid(fmt.Errorf("unknown cluster %q", cluster))
	}
	p, err := o.Store.Profile(ctx, c.Profile)
	if err != nil {
		return fmt.Errorf("cluster %s: profile %s: %w", c.Name, c.Profile, err)
	}
	for _, key := range []string{nodes.BootBIOS, nodes.BootUEFI, nodes.BootARM64} {
		for _, ipxe := range []bool{false, true} {
			if _, ok := bootprofiles.BootFile(p, key, ipxe); ok {
				continue
			}
			fw := key
			if ipxe {
				fw += " (iPXE)"
			}
			return nodes.Invalid(fmt.Errorf("cluster %s: profile %s sends %s firmware no boot file, so such a node fetches no boot config "+
				"and nothing would end the once: every later boot would go to %s too. Boot once only into a cluster whose profile always "+
				"sends a boot file (for localdisk: --uefi-local-boot exit or chainload), or move the nodes without --once",
				c.Name, p.Name, fw, c.Name))
		}
	}
	return nil
}

// CancelOnceRequest drops the pending boot-once of a range's nodes.
type CancelOnceRequest struct {
	Request
	DryRun bool
}

// CancelOnce drops the nodes' pending boot-once, as planned: their next
// boot goes to their own cluster again. No hooks run: nothing has booted
// anywhere yet. The report's From is the once clusters dropped, To the
// clusters the nodes boot instead.
func (o *Ops) CancelOnce(ctx context.Context, r CancelOnceRequest) (Report, error) {
	req := nodes.CancelOnceRequest{Range: r.Range, Reason: r.Reason, DryRun: true}
	plan, err := o.Store.CancelOnce(ctx, r.Actor, req)
	if err != nil {
		return Report{}, err
	}
	ch := plan
	if !r.DryRun {
		req.DryRun, req.Plan = false, &plan
		if ch, err = o.Store.CancelOnce(ctx, r.Actor, req); err != nil {
			return Report{}, err
		}
	}
	rep := reportOf(ch)
	o.syncServers(ctx, r.Request, ch, &rep)
	rep.From, rep.To = nodes.OnceClusters(ch.Changed), ch.From()
	return rep, nil
}
