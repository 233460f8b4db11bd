package qemu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/assets"
	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/power/powertest"
)

// ipmiNode's BMC is OpenIPMI's ipmi_sim inside the lab namespace: power-on
// starts the VM, and QEMU's ipmi-bmc-extern device links it back to the
// BMC, which carries reset and power-off to it. node-switch talks IPMI v2.0
// (lanplus) to it from the same namespace; ipmitool checks what it says.
var ipmiNode = labNode{"ipmi51", "52:54:00:99:00:51", "10.99.0.51", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e151"}

// TestIPMIPower is issue 14's proof on a real machine model: power on
// PXE-boots the node's cluster; "move --to windows --reboot" resets it
// through its BMC (it runs Linux, has no SSH, and is rebooted anyway) and it
// boots its disk; power off stops it.
func TestIPMIPower(t *testing.T) {
	RequireQEMU(t)
	powertest.Need(t)
	netlab.Require(t, "ipmitool")
	a := getAssets(t)
	l, n := newNodeSwitchLab(t, a)
	n.Serve()

	const vmPort = 9002
	vm, args := l.PrepareVM(t, VMConfig{Name: ipmiNode.Name, MAC: ipmiNode.MAC, UUID: ipmiNode.UUID, Disk: a.BIOSDisk, BMCPort: vmPort})
	pidFile := filepath.Join(l.Dir, "ipmi-vm.pid")
	// ipmi_sim runs its startcmd with /bin/sh: the arguments must be plain.
	startCmd := "qemu-system-x86_64 " + strings.Join(args, " ") + " -pidfile " + pidFile + " >>" + filepath.Join(l.Dir, "ipmi-vm.out") + " 2>&1 </dev/null"
	if strings.ContainsAny(startCmd, "\"'") {
		t.Fatalf("QEMU command line needs quoting: %s", startCmd)
	}
	sim := powertest.Start(t, powertest.Options{NetNS: l.NS.Name, StartCmd: startCmd, VMPort: vmPort})
	t.Cleanup(func() {
		// QEMU outlives ipmi_sim; the lab's cleanup kills what is left in
		// the namespace, this names it first.
		if b, err := os.ReadFile(pidFile); err == nil {
			l.NS.Run("kill", "-9", strings.TrimSpace(string(b)))
		}
	})
	pw := filepath.Join(l.Dir, "bmc.pass")
	if err := os.WriteFile(pw, []byte(sim.Endpoint.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n.MustCLI(t, "node", "add", ipmiNode.Name, "--mac", ipmiNode.MAC, "--ip", ipmiNode.IP, "--cluster", "linux",
		"--bmc", sim.Endpoint.Addr(), "--bmc-user", sim.Endpoint.User, "--bmc-password-file", pw)

	// The CLI must run where the BMC is: inside the lab namespace.
	cli := func(t *testing.T, args ...string) string {
		t.Helper()
		base := []string{"--db", n.DB, "--hooks-dir", filepath.Join(l.Dir, "no-hooks")}
		out, err := l.NS.Run(n.Bin, append(base, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	status := func(t *testing.T, want string) {
		t.Helper()
		out := cli(t, "power", "status", ipmiNode.Name)
		if !strings.Contains(out, " ok ") || !strings.Contains(out, " "+want+" ") {
			t.Errorf("power status: want %s:\n%s", want, out)
		}
		if got := sim.Ipmitool(t, "chassis", "power", "status"); got != "Chassis Power is "+want {
			t.Errorf("ipmitool says %q, node-switch %s", got, want)
		}
	}
	vmAlive := func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		_, err = os.Stat("/proc/" + strings.TrimSpace(string(b)) + "/cmdline")
		return err == nil && !zombie(strings.TrimSpace(string(b)))
	}

	var times []string
	record := func(name string, d time.Duration) {
		times = append(times, name+": "+d.Round(100*time.Millisecond).String())
	}
	defer func() { t.Logf("IPMI scenario times:\n  %s", strings.Join(times, "\n  ")) }()

	if !t.Run("power-on-pxe-boots-linux", func(t *testing.T) {
		status(t, "off")
		vm.Mark()
		t0 := time.Now()
		cli(t, "power", "on", ipmiNode.Name, "--reason", "e2e")
		res := wait(t, vm, n, assets.MarkerLinux)
		record("power on -> linux marker", time.Since(t0))
		t.Logf("%s", res.Line)
		status(t, "on")
	}) {
		t.FailNow()
	}
	t.Run("move-reboot-resets-through-bmc", func(t *testing.T) {
		vm.Mark()
		t0 := time.Now()
		out := cli(t, "move", ipmiNode.Name, "--to", "windows", "--reboot", "--reason", "e2e")
		if !strings.Contains(out, "hard reset through the BMC") {
			t.Errorf("move --reboot did not reset through the BMC:\n%s", out)
		}
		wait(t, vm, n, assets.MarkerWindowsBIOS)
		record("move --reboot -> disk marker", time.Since(t0))
		log := cli(t, "log", ipmiNode.Name)
		if !strings.Contains(log, "hard reset through the BMC") {
			t.Errorf("logbook lacks the BMC reboot:\n%s", log)
		}
	})
	t.Run("power-off-stops-power-on-boots-cluster", func(t *testing.T) {
		// The stand-in Windows ends its VM; power on starts a new one.
		cli(t, "move", ipmiNode.Name, "--to", "linux")
		vm.Mark()
		t0 := time.Now()
		cli(t, "power", "on", ipmiNode.Name)
		wait(t, vm, n, assets.MarkerLinux)
		record("power on (after move to linux) -> linux marker", time.Since(t0))
		t0 = time.Now()
		cli(t, "power", "off", ipmiNode.Name, "--reason", "e2e")
		if !netlab.WaitFor(30*time.Second, func() bool { return !vmAlive() }) {
			t.Fatal("the VM still runs after power off")
		}
		record("power off -> QEMU gone", time.Since(t0))
		status(t, "off")
	})
}

// zombie reports whether pid has exited and not been reaped.
func zombie(pid string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || len(s) < i+3 || s[i+2] == 'Z'
}
