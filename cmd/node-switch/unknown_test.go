package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/sshfront"
)

const (
	strangerUEFI = "02:77:00:00:00:99" // seen last
	strangerOS   = "02:77:00:00:00:98"
)

// unknownDB is the source system's inventory with two machines the DHCP
// server heard without a reservation.
func unknownDB(t *testing.T) string {
	t.Helper()
	db := sourceDB(t)
	st, err := nodes.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	_, err = st.RecordUnknown(context.Background(), []nodes.Unknown{
		{MAC: strangerOS, FirstSeen: at, LastSeen: at, TimesSeen: 1, Interface: "eth1"},
		{MAC: strangerUEFI, FirstSeen: at, LastSeen: at.Add(time.Minute), TimesSeen: 4, Firmware: "uefi",
			VendorClass: "PXEClient:Arch:00007:UNDI:003016", Interface: "eth1", Relay: "10.5.0.1", Hostname: "rack7"},
	}, nodes.DefaultUnknownMax)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func unknownList(t *testing.T, db string) []map[string]any {
	t.Helper()
	var got []map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, db, "node", "unknown", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestNodeUnknownList(t *testing.T) {
	db := unknownDB(t)
	got := unknownList(t, db)
	if len(got) != 2 || got[0]["mac"] != strangerUEFI || got[1]["mac"] != strangerOS {
		t.Fatalf("node unknown --json: %v, want %s then %s", got, strangerUEFI, strangerOS)
	}
	keys := []string{"mac", "first_seen", "last_seen", "times_seen", "firmware", "vendor_class", "interface", "relay", "hostname"}
	for _, u := range got {
		for _, k := range keys {
			if _, ok := u[k]; !ok {
				t.Errorf("%s: key %q missing", u["mac"], k)
			}
		}
		if len(u) != len(keys) {
			t.Errorf("%s: keys %v, want exactly %v", u["mac"], u, keys)
		}
	}
	if got[0]["firmware"] != "uefi" || got[0]["relay"] != "10.5.0.1" || got[0]["times_seen"] != 4.0 {
		t.Errorf("UEFI stranger: %v", got[0])
	}
	if got[1]["firmware"] != nil || got[1]["hostname"] != nil || got[1]["interface"] != "eth1" {
		t.Errorf("OS stranger: %v, want null firmware and hostname, interface eth1", got[1])
	}
	text := mustRun(t, db, "node", "unknown")
	if !strings.Contains(text, strangerUEFI) || !strings.Contains(text, "eth1 relay 10.5.0.1") || strings.Index(text, strangerUEFI) > strings.Index(text, strangerOS) {
		t.Errorf("node unknown text:\n%s", text)
	}
}

// Every case starts from unknownDB; bad input exits 2 and changes nothing.
func TestNodeUnknownTakeInAndForget(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		status     int
		msg        string   // in stderr
		wantLeft   []string // unknown MACs afterwards
		wantNode   bool     // umu99 exists afterwards
		wantLogged bool     // an unknown-clear logbook entry
	}{
		{name: "add from the list", args: []string{"node", "add", "umu99", "--from-unknown", strings.ToUpper(strangerUEFI), "--ip", "192.168.1.99", "--cluster", "linux"},
			wantLeft: []string{strangerOS}, wantNode: true},
		{name: "add with --mac also takes it off", args: []string{"node", "add", "umu99", "--mac", strangerOS, "--ip", "192.168.1.99", "--cluster", "linux"},
			wantLeft: []string{strangerUEFI}, wantNode: true},
		{name: "from a MAC never heard", args: []string{"node", "add", "umu99", "--from-unknown", "02:77:00:00:00:01", "--ip", "192.168.1.99", "--cluster", "linux"},
			status: 2, msg: "not found", wantLeft: []string{strangerUEFI, strangerOS}},
		{name: "both --mac and --from-unknown", args: []string{"node", "add", "umu99", "--mac", strangerOS, "--from-unknown", strangerOS, "--ip", "192.168.1.99", "--cluster", "linux"},
			status: 2, msg: "not both", wantLeft: []string{strangerUEFI, strangerOS}},
		{name: "neither", args: []string{"node", "add", "umu99", "--ip", "192.168.1.99", "--cluster", "linux"},
			status: 2, msg: "--from-unknown", wantLeft: []string{strangerUEFI, strangerOS}},
		{name: "a failed add leaves it listed", args: []string{"node", "add", "umu99", "--from-unknown", strangerOS, "--ip", "192.168.1.20", "--cluster", "linux"},
			status: 1, msg: "duplicate IP", wantLeft: []string{strangerUEFI, strangerOS}},
		{name: "forget one", args: []string{"node", "unknown", "--clear", strangerOS, "--reason", "lab laptop"},
			wantLeft: []string{strangerUEFI}, wantLogged: true},
		{name: "forget all", args: []string{"node", "unknown", "--clear", "all"}, wantLeft: []string{}, wantLogged: true},
		{name: "forget nothing named", args: []string{"node", "unknown", "--clear"},
			status: 2, msg: "give MACs, or all", wantLeft: []string{strangerUEFI, strangerOS}},
		{name: "forget one not listed", args: []string{"node", "unknown", "--clear", strangerOS, "02:77:00:00:00:01"},
			status: 2, msg: "not in the unknown list", wantLeft: []string{strangerUEFI, strangerOS}},
		{name: "list takes no MAC", args: []string{"node", "unknown", strangerOS},
			status: 2, msg: "did you mean --clear", wantLeft: []string{strangerUEFI, strangerOS}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := unknownDB(t)
			_, errs, status := run(t, db, tt.args...)
			if status != tt.status || !strings.Contains(errs, tt.msg) {
				t.Fatalf("exit %d (%s), want %d and %q", status, errs, tt.status, tt.msg)
			}
			left := []string{}
			for _, u := range unknownList(t, db) {
				left = append(left, u["mac"].(string))
			}
			if strings.Join(left, " ") != strings.Join(tt.wantLeft, " ") {
				t.Errorf("unknown MACs left %v, want %v", left, tt.wantLeft)
			}
			_, _, st := run(t, db, "node", "list", "umu99")
			if (st == 0) != tt.wantNode {
				t.Errorf("node list umu99: exit %d, want node to exist=%v", st, tt.wantNode)
			}
			logged := mustRun(t, db, "log", "--action", string(nodes.ActionUnknownClear))
			if strings.Contains(logged, "unknown-clear") != tt.wantLogged {
				t.Errorf("logbook:\n%s\nwant an unknown-clear entry=%v", logged, tt.wantLogged)
			}
		})
	}
}

func TestSSHPolicyNodeUnknown(t *testing.T) {
	p, err := sshPolicy()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		line, role, wantErr string
	}{
		{"node unknown --json", nodes.RoleRead, ""},
		{"node unknown", nodes.RoleRead, ""},
		{"node unknown --clear all", nodes.RoleOperate, "--clear is not accepted over SSH"},
		{"node add x --from-unknown 02:77:00:00:00:99 --ip 10.0.0.9 --cluster linux", nodes.RoleOperate, "not available over SSH"},
	}
	for _, tc := range tests {
		words, err := sshfront.Split(tc.line)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Check(words, tc.role)
		if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q as %s: %v, want error %q", tc.line, tc.role, err, tc.wantErr)
		}
	}
}
