// Package ipmie2e drives many simulated BMCs (OpenIPMI's ipmi_sim on
// loopback) through the node-switch binary: the parallel power path with
// its per-node deadlines, wrong passwords and a BMC that never answers.
package ipmie2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/ops"
	"github.com/node-switch/node-switch/power"
	"github.com/node-switch/node-switch/power/powertest"
)

type cli struct{ bin, db, hooks string }

func (c cli) run(args ...string) (string, string, int) {
	cmd := exec.Command(c.bin, append([]string{"--db", c.db, "--hooks-dir", c.hooks}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return out.String(), errb.String(), code
}

func (c cli) must(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := c.run(args...)
	if code != 0 {
		t.Fatalf("node-switch %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

// blackHole is a UDP port that reads and never answers: a hung BMC.
func blackHole(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		b := make([]byte, 1500)
		for {
			if _, _, err := c.ReadFrom(b); err != nil {
				return
			}
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestFiftyBMCs: 50 nodes, each with its own ipmi_sim; one BMC never
// answers and one node's password is wrong. "power status" gives every
// node its result, the silent one a timeout at its deadline, the wrong
// password an auth failure; the whole run takes a few deadlines, not 50.
// Then "power on" changes exactly the chassis it could log in to.
func TestFiftyBMCs(t *testing.T) {
	powertest.Need(t)
	const nodes = 50
	const deadline = 3 * time.Second
	c := cli{bin: netlab.Binary(t), db: filepath.Join(t.TempDir(), "inventory.db"), hooks: filepath.Join(t.TempDir(), "hooks")}
	c.must(t, "profile", "add", "p", "--kind", "localdisk")
	c.must(t, "cluster", "add", "rack", "--profile", "p")
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.pass"), filepath.Join(dir, "bad.pass")
	// Passwords no output would hold by chance ("secret" and "wrong" are
	// words an error message may use), each ending in a newline as an
	// editor leaves it: the file's newline is not part of the password.
	const goodPW, badPW = "gd-Pw-7Qx3", "bd-Pw-9Kz4"
	must(t, os.WriteFile(good, []byte(goodPW+"\n"), 0o600))
	must(t, os.WriteFile(bad, []byte(badPW+"\n"), 0o600))
	var shown strings.Builder // everything node-switch printed, checked for the passwords at the end

	sims := make([]*powertest.Sim, nodes)
	t0 := time.Now()
	// One after the other: Start fails the test, which only the test's
	// own goroutine may do.
	for i := range nodes - 1 {
		sims[i] = powertest.Start(t, powertest.Options{User: "admin", Password: goodPW})
	}
	t.Logf("%d ipmi_sim BMCs ready in %v", nodes-1, time.Since(t0).Round(time.Millisecond))
	silentPort := blackHole(t)

	var csv strings.Builder
	for i := range nodes {
		name := fmt.Sprintf("r%02d", i+1)
		c.must(t, "node", "add", name, "--mac", fmt.Sprintf("02:00:00:00:01:%02x", i+1), "--ip", fmt.Sprintf("10.50.0.%d", i+1), "--cluster", "rack")
		pw, addr := good, ""
		switch {
		case i == nodes-1:
			addr = fmt.Sprintf("127.0.0.1:%d", silentPort)
		default:
			addr = sims[i].Endpoint.Addr()
		}
		if i == 9 {
			pw = bad
		}
		fmt.Fprintf(&csv, "%s,%s,admin,%s\n", name, addr, pw)
	}
	csvFile := filepath.Join(dir, "bmcs.csv")
	must(t, os.WriteFile(csvFile, []byte(csv.String()), 0o644))
	c.must(t, "node", "bmc-import", csvFile)

	t0 = time.Now()
	out, errs, code := c.run("power", "status", "r[01-50]", "--json", "--bmc-timeout", deadline.String())
	elapsed := time.Since(t0)
	shown.WriteString(out + errs)
	t.Logf("power status of %d nodes (1 silent BMC, deadline %v): %v", nodes, deadline, elapsed.Round(time.Millisecond))
	if code != 1 || !strings.Contains(errs, "r10 (auth failed)") || !strings.Contains(errs, "r50 (timeout)") {
		t.Errorf("exit %d, stderr %q: want 1 naming r10 (auth failed) and r50 (timeout)", code, errs)
	}
	var rep ops.PowerReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if len(rep.Results) != nodes || rep.OK != nodes-2 || rep.Failed != 2 {
		t.Errorf("report: %d results, %d ok, %d failed", len(rep.Results), rep.OK, rep.Failed)
	}
	for _, r := range rep.Results {
		want := power.OK
		switch r.Node {
		case "r10":
			want = power.AuthFailed
		case "r50":
			want = power.Timeout
			if r.Duration < deadline {
				t.Errorf("r50 gave up after %v, before its deadline %v", r.Duration, deadline)
			}
		}
		if r.Outcome != want || (want == power.OK && r.State != power.StateOff) {
			t.Errorf("%s: %s %q (%s), want %s off", r.Node, r.Outcome, r.State, r.Detail, want)
		}
	}
	// Serially the silent BMC alone costs a deadline and the others a few
	// ms each; in parallel the run is bounded by a couple of deadlines,
	// where one deadline per node would be 50.
	if elapsed > 3*deadline {
		t.Errorf("power status of %d nodes took %v, more than 3 deadlines (%v)", nodes, elapsed, 3*deadline)
	}
	out, errs, code = c.run("power", "on", "r[01-49]", "--reason", "rack 3 back")
	shown.WriteString(out + errs)
	if code != 1 || !strings.Contains(out, "power on: 48 ok, 1 failed") {
		t.Errorf("power on: exit %d:\n%s", code, out)
	}
	for i, s := range sims[:nodes-1] {
		want := "1"
		if i == 9 {
			want = "" // wrong password: never touched
		}
		if got := s.Power(); got != want {
			t.Errorf("r%02d chassis power %q, want %q", i+1, got, want)
		}
	}
	if got := sims[0].Ipmitool(t, "chassis", "power", "status"); got != "Chassis Power is on" {
		t.Errorf("ipmitool on r01: %q", got)
	}
	log := c.must(t, "log", "r10", "--action", "power-on")
	if !strings.Contains(log, "r10") || !strings.Contains(log, "wrong password") {
		t.Errorf("logbook for r10:\n%s", log)
	}
	shown.WriteString(log)
	for _, pw := range []string{goodPW, badPW} {
		if strings.Contains(shown.String(), pw) {
			t.Errorf("password %q in what node-switch printed:\n%s", pw, shown.String())
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
