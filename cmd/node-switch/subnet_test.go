package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
)

// subnet set changes what is given and nothing else; the logbook says what
// changed; JSON gives the lease in seconds.
func TestSubnetSetChangesOnlyWhatIsGiven(t *testing.T) {
	db := filepath.Join(t.TempDir(), "inventory.db")
	mustRun(t, db, "subnet", "set", "192.168.1.0/24", "--router", "192.168.1.1", "--dns", "192.168.1.2",
		"--domain", "um64.example", "--next-server", "192.168.1.9", "--lease-time", "12h")
	out := mustRun(t, db, "subnet", "set", "192.168.1.0/24", "--dns", "192.168.1.3,192.168.1.4", "--option", "42=192.168.1.2,192.168.1.5")
	wantResult := "dns 192.168.1.2 → 192.168.1.3,192.168.1.4; option 42 - → 192.168.1.2,192.168.1.5"
	if !strings.Contains(out, wantResult) {
		t.Errorf("subnet set said %q, want it to contain %q", out, wantResult)
	}
	want := `[{"subnet":"192.168.1.0/24","routers":["192.168.1.1"],"dns":["192.168.1.3","192.168.1.4"],"domain":"um64.example",` +
		`"next_server":"192.168.1.9","options":[{"code":42,"name":"ntp-servers","value":"192.168.1.2,192.168.1.5"}],"lease_time_seconds":43200}]`
	list := func() string {
		t.Helper()
		var v any
		if err := json.Unmarshal([]byte(mustRun(t, db, "subnet", "list", "--json")), &v); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	// encoding/json sorts object keys when re-marshalling a map: compare
	// that way on both sides.
	var wv any
	json.Unmarshal([]byte(want), &wv)
	wb, _ := json.Marshal(wv)
	if got := list(); got != string(wb) {
		t.Fatalf("subnet list --json:\n got %s\nwant %s", got, wb)
	}
	var evs []struct {
		Action nodes.Action
		Result string
	}
	if err := json.Unmarshal([]byte(mustRun(t, db, "log", "--json")), &evs); err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Action != nodes.ActionSubnetSet || last.Result != wantResult {
		t.Errorf("last logbook entry %+v, want subnet-set with result %q", last, wantResult)
	}

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"--option", "3=192.168.1.1"}, "option 3 cannot be set per subnet: use --router"},
		{[]string{"--option", "15=x.example"}, "use --domain"},
		{[]string{"--option", "66=tftp"}, "use --next-server"},
		{[]string{"--option", "26=huge"}, "option 26 (interface-mtu)"},
		{[]string{"--option", "224=1"}, "224=hex:0a0b"},
		{[]string{"--option", "42"}, "want CODE=VALUE"},
		{[]string{"--dns", "192.168.1.300"}, "--dns"},
		{[]string{"--lease-time", "1500ms"}, "whole seconds"},
		// a valid change given with a bad one is not made either
		{[]string{"--domain", "other.example", "--option", "51=60"}, "use --lease-time"},
	}
	before := list()
	for _, tt := range bad {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, errs, st := run(t, db, append([]string{"subnet", "set", "192.168.1.0/24"}, tt.args...)...)
			if st != 2 || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", st, errs, tt.want)
			}
			if got := list(); got != before {
				t.Fatalf("a refused subnet set changed the subnet:\n%s", got)
			}
		})
	}
}

func TestNodeAddRefusesBroadcastAddress(t *testing.T) {
	db := filepath.Join(t.TempDir(), "inventory.db")
	mustRun(t, db, "profile", "add", "linux", "--kind", "linux")
	mustRun(t, db, "cluster", "add", "linux", "--profile", "linux")
	mustRun(t, db, "subnet", "set", "192.168.1.0/24")
	for _, tt := range []struct{ mac, ip, want string }{
		{"02:00:00:00:00:01", "192.168.1.255", "192.168.1.255 is the broadcast address of subnet 192.168.1.0/24"},
		{"02:00:00:00:00:01", "127.0.0.1", "loopback"},
		{"ff:ff:ff:ff:ff:ff", "192.168.1.20", "broadcast or multicast"},
	} {
		_, errs, st := run(t, db, "node", "add", "bc", "--mac", tt.mac, "--ip", tt.ip, "--cluster", "linux")
		if st == 0 || !strings.Contains(errs, tt.want) || !strings.Contains(errs, "bc") {
			t.Errorf("node add %s %s: exit %d, stderr %q; want a refusal naming bc and %q", tt.mac, tt.ip, st, errs, tt.want)
		}
	}
	if out := mustRun(t, db, "node", "list"); strings.Contains(out, "bc") {
		t.Errorf("a refused node was added:\n%s", out)
	}
}
