// Package listene2e checks which addresses serve's TFTP, HTTP and SSH
// listeners answer on, with tftp-hpa, curl and bash's /dev/tcp from
// network namespaces: by default only the addresses of the --interface
// that faces the nodes, not the head's other side nor its loopback.
package listene2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/netlab"
)

const (
	nodeSide  = "10.71.0.1" // eno2, facing the nodes (two addresses)
	nodeSide2 = "10.72.0.1" // eno2's second address
	adminSide = "10.73.0.1" // eno1, the head's other network
)

func TestListenersFaceTheNodes(t *testing.T) {
	lab := netlab.New(t)
	netlab.Require(t, "tftp=tftp-hpa", "curl", "bash")
	bin := netlab.Binary(t)
	head := lab.Namespace("head")
	nodesNS := lab.Namespace("nodes")
	admin := lab.Namespace("admin")
	lab.Veth(head, "eno2", nodesNS, "eth0")
	head.Addr("eno2", nodeSide+"/24")
	head.Addr("eno2", nodeSide2+"/24")
	nodesNS.Addr("eth0", "10.71.0.2/24")
	nodesNS.Addr("eth0", "10.72.0.2/24")
	lab.Veth(head, "eno1", admin, "eth0")
	head.Addr("eno1", adminSide+"/24")
	admin.Addr("eth0", "10.73.0.2/24")

	tests := []struct {
		name  string
		flags []string
		// everywhere: the admin side and loopback answer too.
		everywhere bool
	}{
		{"default: the --interface addresses", nil, false},
		// The negative control: the same probes see every address answer
		// when the administrator asks for every address.
		{"explicit every address", []string{"--tftp-listen", ":69", "--http-listen", ":8080", "--ssh-listen", ":2222"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			root := filepath.Join(dir, "boot")
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"--db", filepath.Join(dir, "inventory.db"), "--hooks-dir", filepath.Join(dir, "hooks.d"),
				"serve", "--interface", "eno2", "--boot-root", root}, tt.flags...)
			srv := head.Start(nil, bin, args...)
			if !netlab.WaitFor(30*time.Second, func() bool {
				return strings.Contains(srv.Output(), "node-switch serving") || srv.Exited()
			}) || srv.Exited() {
				t.Fatalf("serve did not start:\n%s", srv.Output())
			}
			defer srv.Stop()
			log := srv.Output()
			for _, svc := range []string{"tftp listening", "http listening", "SSH front door listening"} {
				for _, a := range []string{nodeSide, nodeSide2} {
					if !tt.everywhere && !logHas(log, svc, a) {
						t.Errorf("no log line %q for %s:\n%s", svc, a, log)
					}
				}
			}
			type probe struct {
				ns   *netlab.NS
				addr string
				want bool
			}
			probes := []probe{
				{nodesNS, nodeSide, true},
				{nodesNS, nodeSide2, true},
				{admin, adminSide, tt.everywhere},
				{head, "127.0.0.1", tt.everywhere},
			}
			for _, p := range probes {
				if got, out := tftpAnswers(p.ns, p.addr); got != p.want {
					t.Errorf("TFTP on %s answers: %v, want %v\n%s", p.addr, got, p.want, out)
				}
				if got, out := httpAnswers(p.ns, p.addr); got != p.want {
					t.Errorf("HTTP on %s answers: %v, want %v\n%s", p.addr, got, p.want, out)
				}
				if got, out := sshAnswers(p.ns, p.addr); got != p.want {
					t.Errorf("SSH on %s answers: %v, want %v\n%s", p.addr, got, p.want, out)
				}
			}
		})
	}
}

// logHas finds a slog text line of service msg with addr=a:port.
func logHas(log, msg, a string) bool {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, msg) && strings.Contains(l, " addr="+a+":") {
			return true
		}
	}
	return false
}

// tftpAnswers fetches hello.txt with tftp-hpa; no listener means no answer
// within its timeout.
func tftpAnswers(ns *netlab.NS, addr string) (bool, string) {
	dst := filepath.Join(os.TempDir(), fmt.Sprintf("listene2e-%d", time.Now().UnixNano()))
	defer os.Remove(dst)
	out, _ := ns.Run("bash", "-c", fmt.Sprintf("printf 'binary\\ntimeout 3\\nget hello.txt %s\\n' | tftp %s", dst, addr))
	b, _ := os.ReadFile(dst)
	return string(b) == "hello\n", out
}

func httpAnswers(ns *netlab.NS, addr string) (bool, string) {
	out, err := ns.Run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "http://"+addr+":8080/")
	return err == nil && out != "000", out
}

// sshAnswers reads the front door's SSH banner.
func sshAnswers(ns *netlab.NS, addr string) (bool, string) {
	out, _ := ns.Run("bash", "-c", "exec 3<>/dev/tcp/"+addr+"/2222 && head -c 4 <&3")
	return strings.HasPrefix(out, "SSH-"), out
}
