package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/ops"
	"github.com/node-switch/node-switch/sshfront"
)

// Twenty SSH sessions at once, each with flags of its own, as the Windows
// head's script and a monitor may send them: every command is built fresh
// for its session, so no session sees another's flags. Under -race (CI runs
// the suite so) a flag value shared between the commands of two sessions is
// reported as a data race even when the outputs happen to come out right.
func TestSSHSessionsDoNotShareFlags(t *testing.T) {
	db := filepath.Join(t.TempDir(), "inventory.db")
	mustRun(t, db, "import", "dhcpd", um64Conf, "--name-map", "um64_win=windows", "--name-map", "um64_linux=linux")
	for i := range 6 {
		mustRun(t, db, "mask", "umu20", "--reason", fmt.Sprintf("entry %d", i))
		mustRun(t, db, "unmask", "umu20")
	}
	st, err := nodes.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	run := testSSHRunner(t, st)
	id := sshfront.Identity{Fingerprint: "SHA256:test", Comment: "head", Role: nodes.RoleOperate, Addr: "192.0.2.7:50000"}

	const sessions = 20
	type result struct {
		line     []string
		code     int
		out, err string
	}
	results := make([]result, sessions)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range sessions {
		var line []string
		switch i % 4 {
		case 0:
			line = []string{"log", "--limit", fmt.Sprint(1 + i%7), "--json"}
		case 1:
			line = []string{"node", "list"}
		case 2:
			line = []string{"move", "umu18", "--to", "linux", "--dry-run", "--json", "--reason", fmt.Sprintf("session %d", i)}
		case 3:
			line = []string{"status", "--json"}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var out, errb bytes.Buffer
			code := run(context.Background(), line, id, &out, &errb)
			results[i] = result{line, code, out.String(), errb.String()}
		}()
	}
	close(start)
	wg.Wait()

	for i, r := range results {
		if r.code != 0 {
			t.Errorf("session %d %q: exit %d: %s", i, r.line, r.code, r.err)
			continue
		}
		switch i % 4 {
		case 0:
			var entries []json.RawMessage
			if err := json.Unmarshal([]byte(r.out), &entries); err != nil || len(entries) != 1+i%7 {
				t.Errorf("session %d %q: %d entries (%v), want %d:\n%s", i, r.line, len(entries), err, 1+i%7, r.out)
			}
		case 1:
			if strings.HasPrefix(strings.TrimSpace(r.out), "[") || !strings.Contains(r.out, "umu18") {
				t.Errorf("session %d %q: want the text table, got:\n%s", i, r.line, r.out)
			}
		case 2:
			var rep ops.Report
			if err := json.Unmarshal([]byte(r.out), &rep); err != nil || !rep.DryRun || rep.To != "linux" {
				t.Errorf("session %d %q: want a dry-run report to linux, got %+v (%v):\n%s", i, r.line, rep, err, r.out)
			}
		case 3:
			var d nodes.Distribution
			if err := json.Unmarshal([]byte(r.out), &d); err != nil || len(d.Clusters) != 2 {
				t.Errorf("session %d %q: want the JSON distribution, got (%v):\n%s", i, r.line, err, r.out)
			}
		}
	}
}
