package power_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/node-switch/node-switch/power"
)

// fake is a Controller whose BMCs are a map; "silent" never answers, and
// answers only once every other node has finished, so a test can see that
// nobody waited for it.
type fake struct {
	others  sync.WaitGroup
	running atomic.Int32
	maxSeen atomic.Int32
	state   map[string]power.State
}

func (f *fake) Do(ctx context.Context, e power.Endpoint, a power.Action) (power.State, error) {
	n := f.running.Add(1)
	defer f.running.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	switch e.Host {
	case "silent":
		f.others.Wait()
		<-ctx.Done()
		return "", ctx.Err()
	case "badpass":
		defer f.others.Done()
		return "", &power.Error{Outcome: power.AuthFailed, Err: errors.New("RAKP 2 HMAC is invalid")}
	}
	defer f.others.Done()
	// Let the others pile up so the parallelism bound is exercised.
	time.Sleep(time.Millisecond)
	return f.state[e.Host], nil
}

func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		hosts    []string
		parallel int
		want     map[string]power.Outcome
	}{
		{"all answer", []string{"a", "b", "c"}, 2, map[string]power.Outcome{"a": power.OK, "b": power.OK, "c": power.OK}},
		{"silent BMC times out alone", []string{"a", "silent", "b", "c", "d"}, 2,
			map[string]power.Outcome{"a": power.OK, "silent": power.Timeout, "b": power.OK, "c": power.OK, "d": power.OK}},
		{"wrong password is that node's", []string{"a", "badpass", "b"}, 1,
			map[string]power.Outcome{"a": power.OK, "badpass": power.AuthFailed, "b": power.OK}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{state: map[string]power.State{"a": power.StateOn, "b": power.StateOff, "c": power.StateOn, "d": power.StateOff}}
			var targets []power.Target
			for _, h := range tt.hosts {
				targets = append(targets, power.Target{Node: "n-" + h, Endpoint: power.Endpoint{Host: h, User: "u", Password: "p"}})
				if h != "silent" {
					f.others.Add(1)
				}
			}
			var order []string
			rs := power.Run(context.Background(), f, targets, power.Status,
				power.Config{Parallel: tt.parallel, Timeout: 100 * time.Millisecond},
				func(done, total int, r power.Result) { order = append(order, r.Node) })
			if len(rs) != len(targets) || len(order) != len(targets) {
				t.Fatalf("got %d results, %d progress calls for %d targets", len(rs), len(order), len(targets))
			}
			for i, r := range rs {
				if r.Node != targets[i].Node {
					t.Errorf("result %d is %s, want %s (target order)", i, r.Node, targets[i].Node)
				}
				if want := tt.want[targets[i].Endpoint.Host]; r.Outcome != want {
					t.Errorf("%s: outcome %q (%s), want %q", r.Node, r.Outcome, r.Detail, want)
				}
				if r.Outcome == power.OK && r.State != f.state[targets[i].Endpoint.Host] {
					t.Errorf("%s: state %q, want %q", r.Node, r.State, f.state[targets[i].Endpoint.Host])
				}
				if r.Outcome != power.OK && r.Detail == "" {
					t.Errorf("%s failed without a detail", r.Node)
				}
			}
			if _, ok := tt.want["silent"]; ok && order[len(order)-1] != "n-silent" {
				t.Errorf("progress order %v: the silent BMC's result should come last", order)
			}
			if m := f.maxSeen.Load(); int(m) > tt.parallel {
				t.Errorf("%d BMCs talked to at once, bound is %d", m, tt.parallel)
			}
		})
	}
}

func TestSecretsNotFormatted(t *testing.T) {
	e := power.Endpoint{Host: "10.0.0.1", Port: 623, User: "admin", Password: "hunter2"}
	f := &fake{}
	f.others.Add(1)
	rs := power.Run(context.Background(), f, []power.Target{{Node: "n", Endpoint: power.Endpoint{Host: "badpass", User: "u", Password: "hunter2"}}},
		power.Off, power.Config{}, nil)
	for _, s := range []string{fmt.Sprint(e), fmt.Sprintf("%+v", rs), e.Addr()} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("password in %q", s)
		}
	}
}
