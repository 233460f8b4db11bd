package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/node-switch/node-switch/bootprofiles"
	"github.com/node-switch/node-switch/bootprofiles/bootfs"
	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/ops"
)

// bootOnce is the cluster a node boots once next (move --once), "" for none.
func bootOnce(n nodes.Node) string { return n.OnceCluster }

// paletteSize is how many cluster colours style.css defines (.c0 ...).
const paletteSize = 8

type cellView struct {
	Name, Cluster string
	IP, Class     string
	Masked        bool
	MaskReason    string
	Stale         bool
	Once          string
	LastSeen      time.Time
}

type groupView struct {
	Name, Profile string
	Kind          nodes.ProfileKind
	Class         string
	Cells         []cellView
	Masked, Stale int
}

type mapView struct {
	Title string
	// Generation is the inventory's as the page was made: the live map
	// refreshes when the stream says otherwise.
	Generation int64
	User       user
	Range      string
	Error      string
	Groups     []groupView
	Shown      int
	Clusters   []nodes.Cluster
}

// mapData builds the map of the nodes a range names ("" = all): every
// cluster a group, in cluster order, each with a colour of its own.
func (s *Server) mapData(ctx context.Context, expr string) ([]groupView, int, []nodes.Cluster, error) {
	cs, err := s.st.Clusters(ctx)
	if err != nil {
		return nil, 0, nil, err
	}
	ps, err := s.st.Profiles(ctx)
	if err != nil {
		return nil, 0, nil, err
	}
	kinds := map[string]nodes.ProfileKind{}
	for _, p := range ps {
		kinds[p.Name] = p.Kind
	}
	groups := make([]groupView, len(cs))
	idx := map[string]int{}
	for i, c := range cs {
		idx[c.Name] = i
		groups[i] = groupView{Name: c.Name, Profile: c.Profile, Kind: kinds[c.Profile], Class: fmt.Sprintf("c%d", i%paletteSize)}
	}
	ns, err := s.st.Nodes(ctx, expr)
	if err != nil {
		return nil, 0, cs, err
	}
	times, err := s.st.EventTimes(ctx)
	if err != nil {
		return nil, 0, cs, err
	}
	for _, n := range ns {
		g := &groups[idx[n.Cluster]]
		c := cellView{Name: n.Name, Cluster: n.Cluster, IP: n.IP.String(), Class: g.Class, Masked: n.Masked, MaskReason: n.MaskReason,
			Stale: stale(n, times), Once: bootOnce(n), LastSeen: n.LastSeen}
		if c.Masked {
			g.Masked++
		}
		if c.Stale {
			g.Stale++
		}
		g.Cells = append(g.Cells, c)
	}
	return groups, len(ns), cs, nil
}

// stale says a node has not asked our DHCP for its boot since the change
// that last set what it boots: it still runs what it ran before.
func stale(n nodes.Node, eventTimes map[int64]time.Time) bool {
	t, ok := eventTimes[n.Event]
	return ok && n.LastSeen.Before(t)
}

func (s *Server) mapPage(w http.ResponseWriter, r *http.Request, u user) {
	expr := r.URL.Query().Get("range")
	v := mapView{Title: "Cluster map", User: u, Range: expr}
	status := http.StatusOK
	// Read before the map, so a change in between shows as a newer
	// generation and the page fetches the map again.
	g, err := s.st.Generation(r.Context())
	if err != nil {
		s.fail(w, r, u, http.StatusInternalServerError, err)
		return
	}
	v.Generation = g
	v.Groups, v.Shown, v.Clusters, err = s.mapData(r.Context(), expr)
	if err != nil {
		status = statusOf(err)
		if status >= 500 {
			s.fail(w, r, u, status, err)
			return
		}
		v.Error = err.Error()
	}
	s.render(w, status, "map", v)
}

// mapFragment is the part of the map the live page swaps in.
func (s *Server) mapFragment(w http.ResponseWriter, r *http.Request, u user) {
	expr := r.URL.Query().Get("range")
	v := mapView{User: u, Range: expr}
	var err error
	if v.Groups, v.Shown, v.Clusters, err = s.mapData(r.Context(), expr); err != nil {
		http.Error(w, err.Error(), statusOf(err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.pages["map"].ExecuteTemplate(w, "cells", v); err != nil {
		s.log.Error("web: render map fragment", "err", err)
	}
}

type renderView struct {
	Firmware string
	BootFile string // "" = the DHCP answer names none
	File     string // what the boot loader reads
	Config   string
	Note     string
}

type nodeView struct {
	Title     string
	User      user
	Node      nodes.Node
	Class     string
	Profile   nodes.Profile
	Stale     bool
	Once      string
	EventTime time.Time
	Renders   []renderView
	Log       []nodes.Event
}

func (s *Server) nodePage(w http.ResponseWriter, r *http.Request, u user) {
	ctx := r.Context()
	n, err := s.st.Node(ctx, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, u, statusOf(err), err)
		return
	}
	v := nodeView{Title: n.Name, User: u, Node: n, Once: bootOnce(n)}
	times, err := s.st.EventTimes(ctx)
	if err != nil {
		s.fail(w, r, u, http.StatusInternalServerError, err)
		return
	}
	v.Stale, v.EventTime = stale(n, times), times[n.Event]
	cs, err := s.st.Clusters(ctx)
	if err != nil {
		s.fail(w, r, u, http.StatusInternalServerError, err)
		return
	}
	for i, c := range cs {
		if c.Name == n.Cluster {
			v.Class = fmt.Sprintf("c%d", i%paletteSize)
		}
	}
	_, p, err := s.st.BootOf(ctx, n)
	if err != nil {
		s.fail(w, r, u, http.StatusInternalServerError, err)
		return
	}
	v.Profile = p
	if v.Renders, err = s.renders(ctx, n, p); err != nil {
		s.fail(w, r, u, http.StatusInternalServerError, err)
		return
	}
	if v.Log, err = s.st.Log(ctx, nodes.LogFilter{Nodes: []string{n.Name}, Limit: 200}); err != nil {
		s.fail(w, r, u, http.StatusInternalServerError, err)
		return
	}
	slices.Reverse(v.Log) // newest first on a page
	s.render(w, http.StatusOK, "node", v)
}

// renders is what the node is served now for each firmware, as "node-switch
// render" prints it: the DHCP boot file, then the config the boot loader
// reads, rendered from the inventory as it is.
func (s *Server) renders(ctx context.Context, n nodes.Node, p nodes.Profile) ([]renderView, error) {
	subnets, err := s.st.Subnets(ctx)
	if err != nil {
		return nil, err
	}
	base := ""
	if sn, ok := nodes.SubnetFor(subnets, n.IP); ok {
		base = bootfs.HTTPBase(sn.NextServer, s.cfg.HTTPPort)
	}
	mac := strings.ReplaceAll(n.MAC, ":", "-")
	var out []renderView
	for _, fw := range []struct {
		fw   bootprofiles.Firmware
		key  string
		file string
	}{
		{bootprofiles.BIOS, nodes.BootBIOS, "pxelinux.cfg/01-" + mac},
		{bootprofiles.UEFI, nodes.BootUEFI, "grub.cfg-01-" + mac},
	} {
		rv := renderView{Firmware: string(fw.fw), File: fw.file}
		if n.Masked {
			rv.Note = fmt.Sprintf("masked (%s): no DHCP answer, and every TFTP/HTTP read is refused", n.MaskReason)
			out = append(out, rv)
			continue
		}
		if f, ok := bootprofiles.BootFile(p, fw.key, false); ok {
			rv.BootFile = f
		} else {
			rv.Note = "the DHCP answer carries no boot file: the firmware moves on to its next boot entry; a boot loader loaded anyway would get:"
		}
		if p.HTTP && base == "" && s.cfg.HTTPPort > 0 {
			rv.Note = fmt.Sprintf("profile %s loads kernels over HTTP: set the subnet's --next-server to render it", p.Name)
			out = append(out, rv)
			continue
		}
		in, err := bootfs.InputFor(ctx, s.st, n, fw.fw, base)
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", n.Name, err)
		}
		b, err := bootprofiles.Render(in)
		if err != nil {
			rv.Note = "does not render: " + err.Error()
		}
		rv.Config = string(b)
		out = append(out, rv)
	}
	return out, nil
}

// pageLogLimit is how many entries the logbook page shows unless asked.
const pageLogLimit = 200

type logView struct {
	Title   string
	User    user
	Q       url.Values
	Actions []string
	Error   string
	Events  []nodes.Event
}

// logFilter reads the logbook filters the page and the API share, with the
// meaning "node-switch log" gives them.
func (s *Server) logFilter(ctx context.Context, q url.Values, limit int) (nodes.LogFilter, error) {
	var f nodes.LogFilter
	var err error
	if f.Limit, err = atoiDefault(q.Get("limit"), limit); err != nil {
		return f, err
	}
	if a := q.Get("action"); a != "" {
		if !nodes.KnownAction(nodes.Action(a)) {
			return f, nodes.Invalid(fmt.Errorf("action %q: no such action; actions are %s", a, nodes.ActionList()))
		}
		f.Action = nodes.Action(a)
	}
	f.Actor = q.Get("actor")
	if expr := q.Get("range"); expr != "" {
		if f.Nodes, err = s.st.LogNodes(ctx, expr); err != nil {
			return f, fmt.Errorf("range %q: %w", expr, err)
		}
	}
	if v := q.Get("since"); v != "" {
		if f.Since, err = nodes.ParseSince(v, s.cfg.Now()); err != nil {
			return f, fmt.Errorf("since: %w", err)
		}
	}
	return f, nil
}

func (s *Server) logPage(w http.ResponseWriter, r *http.Request, u user) {
	q := r.URL.Query()
	v := logView{Title: "Logbook", User: u, Q: q, Actions: strings.Split(nodes.ActionList(), ", ")}
	f, err := s.logFilter(r.Context(), q, pageLogLimit)
	if err == nil {
		v.Events, err = s.st.Log(r.Context(), f)
	}
	if err != nil {
		status := statusOf(err)
		if status >= 500 {
			s.fail(w, r, u, status, err)
			return
		}
		v.Error = err.Error()
		s.render(w, status, "log", v)
		return
	}
	slices.Reverse(v.Events)
	s.render(w, http.StatusOK, "log", v)
}

type nfsrootsView struct {
	Title string
	User  user
	Roots []nodes.NFSRoot
}

func (s *Server) nfsrootsPage(w http.ResponseWriter, r *http.Request, u user) {
	rs, err := s.st.NFSRoots(r.Context())
	if err != nil {
		s.fail(w, r, u, http.StatusInternalServerError, err)
		return
	}
	s.render(w, http.StatusOK, "nfsroots", nfsrootsView{Title: "NFS roots", User: u, Roots: rs})
}

// keyView is all the console shows of an SSH key: never the key itself.
type keyView struct{ Fingerprint, Comment, Role string }

type sshkeysView struct {
	Title string
	User  user
	Keys  []keyView
}

func (s *Server) sshkeysPage(w http.ResponseWriter, r *http.Request, u user) {
	ks, err := s.st.SSHKeys(r.Context())
	if err != nil {
		s.fail(w, r, u, http.StatusInternalServerError, err)
		return
	}
	v := sshkeysView{Title: "SSH keys", User: u}
	for _, k := range ks {
		v.Keys = append(v.Keys, keyView{Fingerprint: k.Fingerprint, Comment: k.Comment, Role: k.Role})
	}
	s.render(w, http.StatusOK, "sshkeys", v)
}

// Operations the console offers, by their form value.
const (
	opMove   = "move"
	opMask   = "mask"
	opUnmask = "unmask"
	opReboot = "reboot"
)

// maxReason bounds a reason; the logbook is read on a terminal.
const maxReason = 500

// actionForm is an operation as the map's form (or the plan's confirmation
// form) asks for it.
type actionForm struct {
	Op     string
	Range  string
	To     string
	Reason string
}

func parseAction(f url.Values) (actionForm, error) {
	a := actionForm{Op: f.Get("op"), To: strings.TrimSpace(f.Get("to")), Reason: strings.TrimSpace(f.Get("reason"))}
	var parts []string
	for _, n := range f["node"] {
		if n = strings.TrimSpace(n); n != "" {
			parts = append(parts, n)
		}
	}
	if rg := strings.TrimSpace(f.Get("range")); rg != "" {
		parts = append(parts, rg)
	}
	a.Range = strings.Join(parts, ",")
	switch a.Op {
	case opMove, opMask, opUnmask, opReboot:
	default:
		return a, nodes.Invalid(fmt.Errorf("operation %q: want move, mask, unmask or reboot", a.Op))
	}
	if a.Range == "" {
		return a, nodes.Invalid(errors.New("no nodes: tick nodes on the map or give a range such as umu[18-23]"))
	}
	if a.Reason == "" {
		return a, nodes.Invalid(errors.New("a reason is required: it goes in the logbook with your name"))
	}
	if len(a.Reason) > maxReason || strings.ContainsAny(a.Reason, "\r\n") {
		return a, nodes.Invalid(fmt.Errorf("reason: one line of at most %d characters", maxReason))
	}
	if a.Op == opMove && a.To == "" {
		return a, nodes.Invalid(errors.New("move: choose the cluster to move to"))
	}
	return a, nil
}

type planView struct {
	Title  string
	User   user
	Form   actionForm
	Report ops.Report // move, mask, unmask
	Reboot []nodes.Node
	Plan   string // the nodes that will change, as confirmed
}

// dryRun plans an operation without changing anything: ops' own dry run
// for move, mask and unmask; the nodes a reboot would reach otherwise.
func (s *Server) dryRun(ctx context.Context, a actionForm, u user) (planView, error) {
	v := planView{Title: "Confirm " + a.Op, User: u, Form: a}
	req := ops.Request{Actor: u.actor(), Range: a.Range, Reason: a.Reason}
	var err error
	switch a.Op {
	case opMove:
		v.Report, err = s.ops.Move(ctx, ops.MoveRequest{Request: req, To: a.To, DryRun: true})
		v.Plan = nodes.Compress(v.Report.Nodes)
	case opMask, opUnmask:
		v.Report, err = s.ops.Mask(ctx, ops.MaskRequest{Request: req, Mask: a.Op == opMask, DryRun: true})
		v.Plan = nodes.Compress(v.Report.Nodes)
	case opReboot:
		v.Reboot, err = s.st.Nodes(ctx, a.Range)
		v.Plan = nodes.Compress(namesOf(v.Reboot))
	}
	return v, err
}

func namesOf(ns []nodes.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
}

// plan shows what an operation would do, with the form that confirms it.
func (s *Server) plan(w http.ResponseWriter, r *http.Request, u user) {
	a, err := parseAction(r.PostForm)
	if err != nil {
		s.fail(w, r, u, statusOf(err), err)
		return
	}
	v, err := s.dryRun(r.Context(), a, u)
	if err != nil {
		s.fail(w, r, u, statusOf(err), err)
		return
	}
	s.render(w, http.StatusOK, "plan", v)
}

type doneView struct {
	Title  string
	User   user
	Form   actionForm
	Report ops.Report
	Reboot *ops.RebootReport
	Error  string
}

// do runs a confirmed operation, if the plan is still what was shown.
func (s *Server) do(w http.ResponseWriter, r *http.Request, u user) {
	a, err := parseAction(r.PostForm)
	if err != nil {
		s.fail(w, r, u, statusOf(err), err)
		return
	}
	v, err := s.dryRun(r.Context(), a, u)
	if err != nil {
		s.fail(w, r, u, statusOf(err), err)
		return
	}
	if shown := r.PostForm.Get("plan"); shown != v.Plan {
		s.fail(w, r, u, http.StatusConflict, fmt.Errorf("the plan changed since it was shown (it was %q, now %q): nothing was changed; look at the new plan and confirm again", shown, v.Plan))
		return
	}
	ctx := r.Context()
	req := ops.Request{Actor: u.actor(), Range: a.Range, Reason: a.Reason}
	d := doneView{Title: a.Op + " done", User: u, Form: a}
	switch a.Op {
	case opMove:
		d.Report, err = s.ops.Move(ctx, ops.MoveRequest{Request: req, To: a.To})
	case opMask, opUnmask:
		d.Report, err = s.ops.Mask(ctx, ops.MaskRequest{Request: req, Mask: a.Op == opMask})
	case opReboot:
		var rep ops.RebootReport
		rep, err = s.ops.Reboot(ctx, ops.RebootRequest{Request: req})
		if len(rep.Results) > 0 {
			d.Reboot = &rep
		}
	}
	s.log.Info("web: operation", "op", a.Op, "range", a.Range, "to", a.To, "user", u.Name, "from", u.From, "err", err)
	if err != nil {
		if d.Report.Action == "" && d.Reboot == nil {
			s.fail(w, r, u, statusOf(err), err)
			return
		}
		d.Error = err.Error() // it ran; what came after failed
	}
	s.render(w, http.StatusOK, "done", d)
}
