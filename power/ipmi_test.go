package power_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/node-switch/node-switch/power"
	"github.com/node-switch/node-switch/power/powertest"
)

// TestIPMIAgainstOpenIPMI drives a real IPMI v2.0 BMC (OpenIPMI's
// ipmi_sim, lanplus, cipher suite 3) and checks every action against the
// chassis it controls and against ipmitool's view.
func TestIPMIAgainstOpenIPMI(t *testing.T) {
	sim := powertest.Start(t, powertest.Options{})
	ctl := power.IPMI{}
	do := func(a power.Action) (power.State, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return ctl.Do(ctx, sim.Endpoint, a)
	}
	steps := []struct {
		action     power.Action
		wantState  power.State // from Status
		wantPower  string      // the chassis's state file after the action
		wantResets int
		ipmitool   string // "chassis power status" after it
	}{
		{power.Status, power.StateOff, "", 0, "Chassis Power is off"},
		{power.On, "", "1", 0, "Chassis Power is on"},
		{power.Status, power.StateOn, "1", 0, "Chassis Power is on"},
		{power.Reset, "", "1", 1, "Chassis Power is on"},
		{power.Off, "", "0", 1, "Chassis Power is off"},
		{power.Status, power.StateOff, "0", 1, "Chassis Power is off"},
	}
	for _, s := range steps {
		st, err := do(s.action)
		if err != nil {
			t.Fatalf("%s: %v", s.action, err)
		}
		if st != s.wantState {
			t.Errorf("%s: state %q, want %q", s.action, st, s.wantState)
		}
		if got := sim.Power(); got != s.wantPower {
			t.Errorf("after %s the chassis power is %q, want %q", s.action, got, s.wantPower)
		}
		if got := sim.Resets(); got != s.wantResets {
			t.Errorf("after %s the chassis saw %d resets, want %d", s.action, got, s.wantResets)
		}
		if got := sim.Ipmitool(t, "chassis", "power", "status"); got != s.ipmitool {
			t.Errorf("after %s ipmitool says %q, want %q", s.action, got, s.ipmitool)
		}
	}
	// Cycle: ipmi_sim powers off at once and on again on its own timer.
	if _, err := do(power.Cycle); err != nil {
		t.Fatalf("cycle: %v", err)
	}
	if got := sim.Power(); got != "0" {
		t.Errorf("right after cycle the chassis power is %q, want 0 (off first)", got)
	}
}

// TestIPMIFailures: each failure is that node's, with an outcome that says
// which kind, and changes nothing on the BMC.
func TestIPMIFailures(t *testing.T) {
	sim := powertest.Start(t, powertest.Options{})
	// A UDP socket that reads and never answers: a BMC that hangs.
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := hole.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	wrong := sim.Endpoint
	wrong.Password = "wrong"
	nobody := sim.Endpoint
	nobody.User = "nobody"
	silent := power.Endpoint{Host: "127.0.0.1", Port: hole.LocalAddr().(*net.UDPAddr).Port, User: "admin", Password: "secret"}
	closed := power.Endpoint{Host: "127.0.0.1", Port: powertest.FreeUDPPort(t, "127.0.0.1"), User: "admin", Password: "secret"}
	targets := []power.Target{
		{Node: "wrongpass", Endpoint: wrong},
		{Node: "unknownuser", Endpoint: nobody},
		{Node: "silent", Endpoint: silent},
		{Node: "closed", Endpoint: closed},
		{Node: "good", Endpoint: sim.Endpoint},
	}
	want := map[string]power.Outcome{"wrongpass": power.AuthFailed, "unknownuser": power.AuthFailed,
		"silent": power.Timeout, "closed": power.Unreachable, "good": power.OK}
	rs := power.Run(context.Background(), power.IPMI{Exchange: 200 * time.Millisecond}, targets, power.On,
		power.Config{Parallel: 5, Timeout: time.Second}, nil)
	for _, r := range rs {
		if r.Outcome != want[r.Node] {
			t.Errorf("%s: %q (%s), want %q", r.Node, r.Outcome, r.Detail, want[r.Node])
		}
		t.Logf("%s: %s %s (%v)", r.Node, r.Outcome, r.Detail, r.Duration.Round(time.Millisecond))
	}
	// Only the good login switched the chassis on: power is "1" once.
	if got := sim.Power(); got != "1" {
		t.Errorf("chassis power %q after one good power on among refused ones, want 1", got)
	}
}
