package sshe2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

// TestSlurmHooks installs the shipped Slurm hooks and moves nodes out of and
// back into the Linux cluster against a real slurmctld (Debian's, auth/none,
// alone in a namespace: no slurmd, no munge, nothing on the host's network).
func TestSlurmHooks(t *testing.T) {
	netlab.Require(t, "slurmctld=slurmctld", "scontrol=slurm-client")
	lab := netlab.New(t)
	bin := netlab.Binary(t)
	dir := t.TempDir()
	db := inventory(t, dir, 3, 0, netip.MustParseAddr("10.79.1.0"))

	ns := lab.Namespace("slurm")
	// Slurm resolves even numeric addresses with AI_ADDRCONFIG, which fails
	// with only loopback up: give the namespace a real interface.
	ns.MustRun("ip", "link", "add", "s0", "type", "veth", "peer", "name", "s1")
	ns.Addr("s0", "10.79.0.1/24")
	ns.MustRun("ip", "link", "set", "s1", "up")
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	conf := filepath.Join(dir, "slurm.conf")
	must(t, os.MkdirAll(filepath.Join(dir, "state"), 0o700))
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf(`ClusterName=nodeswitch
SlurmctldHost=%s(10.79.0.1)
SlurmctldPort=6817
AuthType=auth/none
CredType=cred/none
SlurmUser=root
StateSaveLocation=%s/state
SlurmdSpoolDir=%s/spool
SlurmctldPidFile=%s/slurmctld.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/linear
MpiDefault=none
NodeName=n[01-03] CPUs=1 NodeAddr=10.79.0.1 State=UNKNOWN
PartitionName=all Nodes=ALL Default=YES State=UP
`, host, dir, dir, dir)), 0o644))
	env := []string{"SLURM_CONF=" + conf}
	ctld := ns.Start(env, "slurmctld", "-D", "-i", "-f", conf)
	scontrol := func(args ...string) (string, error) {
		cmd := ns.Command("scontrol", args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if !netlab.WaitFor(60*time.Second, func() bool {
		out, _ := scontrol("ping")
		return strings.Contains(out, "is UP") || ctld.Exited()
	}) || ctld.Exited() {
		t.Fatalf("slurmctld did not come up:\n%s", ctld.Output())
	}
	// An administrator drained n03 for a hardware fault.
	if out, err := scontrol("update", "NodeName=n03", "State=DRAIN", "Reason=bad DIMM"); err != nil {
		t.Fatalf("drain n03: %v %s", err, out)
	}

	hooksDir := filepath.Join(dir, "hooks.d")
	must(t, os.Mkdir(hooksDir, 0o755))
	_, file, _, _ := runtime.Caller(0)
	shipped := filepath.Join(filepath.Dir(file), "..", "..", "hooks", "slurm")
	for _, h := range []string{"10-slurm-drain", "90-slurm-resume"} {
		must(t, os.Symlink(filepath.Join(shipped, h), filepath.Join(hooksDir, h)))
	}
	nodeSwitch := func(args ...string) (string, string, int) {
		cmd := ns.Command(bin, append([]string{"--db", db, "--hooks-dir", hooksDir}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		return run(t, cmd)
	}
	state := func(n string) string {
		out, err := scontrol("-o", "show", "node", n)
		if err != nil {
			t.Fatalf("show node %s: %v %s", n, err, out)
		}
		return out
	}

	out, errOut, code := nodeSwitch("move", "n[01-03]", "--to", "windows", "--reason", "Windows job")
	if code != 0 {
		t.Fatalf("move to windows: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, n := range []string{"n01", "n02"} {
		if s := state(n); !strings.Contains(s, "DRAIN") || !strings.Contains(s, "Reason=node-switch: moving to windows (Windows job) by") {
			t.Errorf("%s after moving out: %s", n, s)
		}
	}
	if s := state("n03"); !strings.Contains(s, "Reason=bad DIMM") {
		t.Errorf("n03 lost its administrator's drain reason: %s", s)
	}

	out, errOut, code = nodeSwitch("move", "n[01-03]", "--to", "linux")
	if code != 0 {
		t.Fatalf("move back: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, n := range []string{"n01", "n02"} {
		if s := state(n); strings.Contains(s, "DRAIN") {
			t.Errorf("%s still drained after moving back: %s", n, s)
		}
	}
	if s := state("n03"); !strings.Contains(s, "DRAIN") || !strings.Contains(s, "Reason=bad DIMM") {
		t.Errorf("n03 was resumed, but an administrator drained it: %s", s)
	}

	// With slurmctld gone the drain hook vetoes: nothing moves.
	ctld.Stop()
	_, errOut, code = nodeSwitch("move", "n01", "--to", "windows")
	if code == 0 || !strings.Contains(errOut, "vetoed") || !strings.Contains(errOut, "slurmctld does not answer") {
		t.Fatalf("move with Slurm down: exit %d: %s", code, errOut)
	}
	st, err := nodes.Open(db)
	must(t, err)
	defer st.Close()
	if n, err := st.Node(t.Context(), "n01"); err != nil || n.Cluster != "linux" {
		t.Fatalf("n01 after the veto: %+v %v", n, err)
	}
}
