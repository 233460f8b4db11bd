package ops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/nodes/nodestest"
	"github.com/node-switch/node-switch/power"
)

// fakeBMCs is a Controller over BMCs in memory, keyed by host; it records
// every call and refuses the password "wrong".
type fakeBMCs struct {
	mu    sync.Mutex
	state map[string]power.State
	calls []string
}

func (f *fakeBMCs) Do(_ context.Context, e power.Endpoint, a power.Action) (power.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e.Password == "wrong" {
		return "", &power.Error{Outcome: power.AuthFailed, Err: errors.New("wrong password")}
	}
	f.calls = append(f.calls, e.Host+" "+string(a))
	switch a {
	case power.On, power.Cycle:
		f.state[e.Host] = power.StateOn
	case power.Off:
		f.state[e.Host] = power.StateOff
	}
	return f.state[e.Host], nil
}

func (f *fakeBMCs) log() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, ",")
}

// bmcLab is lab() with BMCs on n1 (on) and n2 (off), none on n3, a hook
// that logs its events, and the password files' paths.
func bmcLab(t *testing.T) (*Ops, *fakeBMCs, string, map[string]string) {
	t.Helper()
	st, _ := lab(t)
	dir := t.TempDir()
	pw := map[string]string{}
	for _, n := range []string{"n1", "n2"} {
		pw[n] = filepath.Join(dir, n+".pass")
		content := "secret\n"
		if n == "n2" {
			content = "wrong\n"
		}
		must(t, os.WriteFile(pw[n], []byte(content), 0o600))
	}
	must(t, st.SetBMCs(context.Background(), nodestest.Actor, []nodes.BMC{
		{Node: "n1", Host: "bmc1", User: "admin", PasswordFile: pw["n1"]},
		{Node: "n2", Host: "bmc2", User: "admin", PasswordFile: pw["n2"]},
	}, ""))
	hooks := filepath.Join(dir, "hooks")
	must(t, os.Mkdir(hooks, 0o755))
	seen := filepath.Join(dir, "seen")
	must(t, os.WriteFile(filepath.Join(hooks, "10-log"), []byte("#!/bin/sh\necho \"$NODE_SWITCH_EVENT $NODE_SWITCH_NODES\" >> "+seen+"\n"), 0o755))
	f := &fakeBMCs{state: map[string]power.State{"bmc1": power.StateOn, "bmc2": power.StateOff}}
	o, err := New(st, Settings{HooksDir: hooks, Power: PowerSettings{Controller: f}})
	must(t, err)
	return o, f, seen, pw
}

func TestPower(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		action    power.Action
		rng       string
		invalid   bool   // refused as bad input, nothing done
		calls     string // what the BMCs were asked
		failed    string // nodes named in the error
		hooks     string
		logAction nodes.Action // "" = no logbook entry
	}{
		{"off through the BMC, hooks around it", power.Off, "n1", false, "bmc1 off", "", "pre-power-off n1\npost-power-off n1\n", nodes.ActionPowerOff},
		{"wrong password is that node's failure", power.Reset, "n[1-2]", false, "bmc1 reset", "n2 (auth failed)",
			"pre-power-reset n1,n2\npost-power-reset n1\n", nodes.ActionPowerReset},
		{"status reads, logs nothing, runs no hooks", power.Status, "n1", false, "bmc1 status", "", "", ""},
		{"a node without BMC: refused, nothing done", power.Cycle, "n[1-3]", true, "", "", "", ""},
		{"status of a node without BMC: refused", power.Status, "n3", true, "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, f, seen, _ := bmcLab(t)
			before, _ := o.Store.Log(ctx, nodes.LogFilter{})
			rep, err := o.Power(ctx, PowerRequest{Request: Request{Actor: nodestest.Actor, Range: tt.rng, Reason: "r"}, Action: tt.action})
			if tt.invalid != errors.Is(err, nodes.ErrInvalid) {
				t.Fatalf("err = %v, invalid input: %v", err, tt.invalid)
			}
			if tt.failed != "" && (err == nil || !strings.Contains(err.Error(), tt.failed)) {
				t.Errorf("err = %v, want it to name %s", err, tt.failed)
			}
			if tt.failed == "" && !tt.invalid && err != nil {
				t.Errorf("err = %v", err)
			}
			if got := f.log(); got != tt.calls {
				t.Errorf("BMC calls %q, want %q", got, tt.calls)
			}
			got, _ := os.ReadFile(seen)
			if string(got) != tt.hooks {
				t.Errorf("hooks saw %q, want %q", got, tt.hooks)
			}
			after, _ := o.Store.Log(ctx, nodes.LogFilter{})
			var added []nodes.Action
			for _, e := range after[len(before):] {
				if e.Action != nodes.ActionHook {
					added = append(added, e.Action)
				}
			}
			switch {
			case tt.logAction == "" && len(added) != 0:
				t.Errorf("logbook entries %v, want none", added)
			case tt.logAction != "" && (len(added) != 1 || added[0] != tt.logAction):
				t.Errorf("logbook entries %v, want one %s", added, tt.logAction)
			}
			if tt.action == power.Status && !tt.invalid && (len(rep.Results) != 1 || rep.Results[0].State != power.StateOn) {
				t.Errorf("status report %+v", rep)
			}
		})
	}
}

// Reboot picks the BMC where a node has one, SSH otherwise, or what Via
// says, and checks what it picked before a move commits.
func TestRebootVia(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		rng     string
		via     Via
		prepare func(t *testing.T, o *Ops, pw map[string]string)
		calls   string // BMC calls after the move committed
		err     string // "" = committed and rebooted; else refused before the commit
	}{
		{"BMC node on: hard reset, no SSH key needed", "n1", ViaAuto, nil, "bmc1 status,bmc1 reset", ""},
		{"Windows node with a BMC: reset through it", "n1", ViaAuto, func(t *testing.T, o *Ops, _ map[string]string) {
			_, err := o.Store.Move(ctx, nodestest.Actor, nodes.MoveRequest{Range: "n1", To: "windows"})
			must(t, err)
		}, "bmc1 status,bmc1 reset", ""},
		{"Windows node, --via ssh: refused as before", "n1", ViaSSH, func(t *testing.T, o *Ops, _ map[string]string) {
			_, err := o.Store.Move(ctx, nodestest.Actor, nodes.MoveRequest{Range: "n1", To: "windows"})
			must(t, err)
		}, "", "Pass --reboot-localdisk"},
		{"--via bmc on a node without one", "n[1,3]", ViaBMC, nil, "", "n3 have no BMC"},
		{"no BMC: SSH, whose key is missing", "n3", ViaAuto, nil, "", "reboot key"},
		{"password file readable by others", "n1", ViaAuto, func(t *testing.T, o *Ops, pw map[string]string) {
			must(t, os.Chmod(pw["n1"], 0o644))
		}, "", "chmod 600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, f, _, pw := bmcLab(t)
			must(t, o.Store.AddProfile(ctx, nodestest.Actor, nodes.Profile{Name: "win", Kind: nodes.KindLocalDisk}))
			must(t, o.Store.AddCluster(ctx, nodestest.Actor, nodes.Cluster{Name: "windows", Profile: "win"}))
			o.settings.Reboot.KeyFile = filepath.Join(t.TempDir(), "no-such-key")
			if tt.prepare != nil {
				tt.prepare(t, o, pw)
			}
			before, _ := o.Store.Log(ctx, nodes.LogFilter{})
			rep, err := o.Move(ctx, MoveRequest{Request: Request{Actor: nodestest.Actor, Range: tt.rng}, To: "c", Reboot: true, Via: tt.via})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "nothing changed") {
					t.Fatalf("err = %v; want %q and 'nothing changed'", err, tt.err)
				}
				if after, _ := o.Store.Log(ctx, nodes.LogFilter{}); len(after) != len(before) {
					t.Errorf("logbook grew from %d to %d entries", len(before), len(after))
				}
				if f.log() != "" {
					t.Errorf("BMC calls %q after a refusal", f.log())
				}
				return
			}
			must(t, err)
			if got := f.log(); got != tt.calls {
				t.Errorf("BMC calls %q, want %q", got, tt.calls)
			}
			if len(rep.Reboot) != 1 || rep.Reboot[0].Status != "ok" || !strings.HasPrefix(rep.Reboot[0].Addr, "bmc ") {
				t.Errorf("reboot results %+v", rep.Reboot)
			}
		})
	}
}

// A node that is off is powered on, not reset (a reset would do nothing).
func TestRebootPowersOnWhatIsOff(t *testing.T) {
	o, f, _, pw := bmcLab(t)
	must(t, os.WriteFile(pw["n2"], []byte("secret\n"), 0o600))
	rep, err := o.Reboot(context.Background(), RebootRequest{Request: Request{Actor: nodestest.Actor, Range: "n2"}})
	must(t, err)
	if got := f.log(); got != "bmc2 status,bmc2 on" {
		t.Errorf("BMC calls %q", got)
	}
	if rep.OK != 1 || !strings.Contains(rep.Results[0].Detail, "powered on") {
		t.Errorf("report %+v", rep)
	}
}
