// Package powertest runs OpenIPMI's ipmi_sim as a real IPMI v2.0 BMC for
// tests: either a "chassis" that is a state file (fast, many at once), or
// one whose power-on starts a QEMU VM wired back to it with QEMU's
// ipmi-bmc-extern device, so power off, reset and cycle really act on the VM.
package powertest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/power"
)

// Options describe one simulated BMC.
type Options struct {
	Addr           string // listen address; "" = 127.0.0.1
	Port           int    // UDP port; 0 = a free one
	User, Password string // "" = admin / secret
	// StartCmd, when set, is the command power-on runs (ipmi_sim runs it as
	// "/bin/sh -c 'exec CMD'" and power state is "that child is alive");
	// VMPort is then the loopback port of the VM link (QEMU's
	// ipmi-bmc-extern chardev connects there). Unset: the chassis is a
	// state file the test reads with Power and Resets.
	StartCmd string
	VMPort   int
	// NetNS runs ipmi_sim inside that network namespace.
	NetNS string
}

// Sim is a running ipmi_sim.
type Sim struct {
	Endpoint power.Endpoint
	Dir      string
	cmd      *exec.Cmd
	netns    string
}

// Need skips the test when ipmi_sim is not installed.
func Need(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("ipmi_sim"); err != nil {
		t.Skip("ipmi_sim not installed (Debian package openipmi)")
	}
}

// FreeUDPPort returns a UDP port nothing listens on at the moment.
func FreeUDPPort(t testing.TB, addr string) int {
	t.Helper()
	c, err := net.ListenPacket("udp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// chassis is ipmi_sim's chassis_control program: "get power" prints
// power:0|1 from the state file, "set power N" writes it, "set reset 1"
// counts a reset.
const chassis = `#!/bin/sh
d=$(dirname "$0")
op=$1; shift
case "$op" in
get) for p in "$@"; do [ "$p" = power ] && echo "power:$(cat "$d/power" 2>/dev/null || echo 0)"; done ;;
set) case "$1" in
     power) echo "$2" > "$d/power" ;;
     reset) echo reset >> "$d/resets" ;;
     esac ;;
esac
exit 0
`

// Start runs ipmi_sim and waits until it answers a lanplus session; it is
// stopped when the test ends.
func Start(t testing.TB, o Options) *Sim {
	t.Helper()
	Need(t)
	if o.Addr == "" {
		o.Addr = "127.0.0.1"
	}
	if o.User == "" {
		o.User, o.Password = "admin", "secret"
	}
	if o.Port == 0 {
		o.Port = FreeUDPPort(t, o.Addr)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	var mc strings.Builder
	if o.StartCmd != "" {
		fmt.Fprintf(&mc, "  serial 15 127.0.0.1 %d codec VM\n", o.VMPort)
		fmt.Fprintf(&mc, "  startcmd \"%s\"\n  startnow false\n", o.StartCmd)
		// Power off: ipmi_sim asks the VM over its link first (QEMU exits
		// at once), signals it after these many seconds.
		mc.WriteString("  poweroff_wait 2\n  kill_wait 2\n")
	} else {
		script := filepath.Join(dir, "chassis")
		if err := os.WriteFile(script, []byte(chassis), 0o755); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&mc, "  chassis_control \"%s\"\n", script)
	}
	// ipmi_lan(5). "guid" makes it advertise IPMI v2.0; user 1 is left out
	// so there is no anonymous login.
	conf := fmt.Sprintf(`name "sim%d"
set_working_mc 0x20
  startlan 1
    addr %s %d
    priv_limit admin
    guid a123456789abcdefa123456789abcdef
  endlan
%s  user 2 true "%s" "%s" admin 10
`, o.Port, o.Addr, o.Port, mc.String(), o.User, o.Password)
	emu := "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nmc_enable 0x20\n"
	for name, text := range map[string]string{"lan.conf": conf, "bmc.emu": emu} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"-n", "-c", filepath.Join(dir, "lan.conf"), "-f", filepath.Join(dir, "bmc.emu"), "-s", filepath.Join(dir, "state")}
	name := "ipmi_sim"
	if o.NetNS != "" {
		args = append([]string{"netns", "exec", o.NetNS, "ipmi_sim"}, args...)
		name = "ip"
	}
	out, err := os.Create(filepath.Join(dir, "ipmi_sim.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ipmi_sim: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s := &Sim{Endpoint: power.Endpoint{Host: o.Addr, Port: o.Port, User: o.User, Password: o.Password}, Dir: dir, cmd: cmd, netns: o.NetNS}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	for i := 0; ; i++ {
		err := s.ready(o.NetNS)
		if err == nil {
			return s
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "ipmi_sim.out"))
			t.Fatalf("ipmi_sim exited: %s", log)
		default:
		}
		// A hang detector: ipmi_sim answers within ~0.1 s on a quiet machine.
		if i == 200 {
			t.Fatalf("ipmi_sim at %s does not answer: %v", s.Endpoint.Addr(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Power is the state-file chassis's power: "1", "0", or "" before any set.
func (s *Sim) Power() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "power"))
	return strings.TrimSpace(string(b))
}

// Resets counts the state-file chassis's hard resets.
func (s *Sim) Resets() int {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "resets"))
	return strings.Count(string(b), "reset")
}

// PID is ipmi_sim's process (QEMU, with StartCmd, is its child).
func (s *Sim) PID() string { return strconv.Itoa(s.cmd.Process.Pid) }

// Ipmitool runs "ipmitool -I lanplus" against the sim, a second client
// to check what node-switch reports; it skips the test without ipmitool.
func (s *Sim) Ipmitool(t testing.TB, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("ipmitool"); err != nil {
		t.Skip("ipmitool not installed (Debian package ipmitool)")
	}
	name, argv := "ipmitool", s.ipmitoolArgs(args...)
	if s.netns != "" {
		name, argv = "ip", append([]string{"netns", "exec", s.netns, "ipmitool"}, argv...)
	}
	out, err := exec.Command(name, argv...).CombinedOutput()
	if err != nil {
		t.Fatalf("ipmitool %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// ready asks for the power status: with our client on the host, with
// ipmitool inside a namespace (this process is not in it).
func (s *Sim) ready(netns string) error {
	if netns == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := power.IPMI{Exchange: 100 * time.Millisecond}.Do(ctx, s.Endpoint, power.Status)
		return err
	}
	out, err := exec.Command("ip", append([]string{"netns", "exec", netns, "timeout", "2", "ipmitool"}, s.ipmitoolArgs("chassis", "power", "status")...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func (s *Sim) ipmitoolArgs(args ...string) []string {
	// -C 3: without it ipmitool first asks for cipher suites, which
	// ipmi_sim never answers (10 s lost).
	return append([]string{"-I", "lanplus", "-C", "3", "-H", s.Endpoint.Host, "-p", strconv.Itoa(s.Endpoint.Port),
		"-U", s.Endpoint.User, "-P", s.Endpoint.Password}, args...)
}
