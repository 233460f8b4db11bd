package ops

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/wol"
)

// PowerOnRequest starts nodes.
type PowerOnRequest struct {
	Request
}

// WakeResult is one node's Wake-on-LAN outcome.
type WakeResult struct {
	Node      string `json:"node"`
	MAC       string `json:"mac"`
	Interface string `json:"interface,omitempty"`
	Broadcast string `json:"broadcast,omitempty"`
	OK        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`
}

// PowerOn sends Wake-on-LAN magic packets to every node of a range. A sent
// packet does not prove the node woke; its next DHCP request does.
func (o *Ops) PowerOn(ctx context.Context, r PowerOnRequest) ([]WakeResult, error) {
	ns, err := o.Store.Nodes(ctx, r.Range)
	if err != nil {
		return nil, fmt.Errorf("power on %s: %w", r.Range, err)
	}
	if err := o.canWake(); err != nil {
		return nil, fmt.Errorf("power on %s: %w", r.Range, err)
	}
	return o.wake(ctx, r.Actor, r.Reason, ns)
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
