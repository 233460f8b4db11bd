package qemu

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/e2e/assets"
	"github.com/node-switch/node-switch/e2e/netlab"
)

// TestDemo runs the demo as the README tells a newcomer to, from the source
// tree with "go run", and checks that the one thing the tool does is seen
// on the terminal: umu20's console shows Linux, then, after the demo's
// move to Windows and a reset, its local disk. The commands the demo prints
// must still work once it (and go run's temporary binary) are gone.
func TestDemo(t *testing.T) {
	netlab.RequireRoot(t)
	netlab.Require(t, append(BIOSNeeds, "ip=iproute2", "go")...)
	cache, err := assets.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	dir := filepath.Join(t.TempDir(), "demo")

	start := time.Now()
	cmd := exec.Command("go", "run", "./cmd/node-switch-demo", "--dir", dir, "--exit-after-switch")
	cmd.Dir = root
	// The e2e suite's cache: the kernel is fetched once for both.
	cmd.Env = append(os.Environ(), assets.CacheEnv+"="+cache)
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	t.Logf("demo took %s", time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	linux := strings.Index(out, "vm| "+assets.Marker+assets.MarkerLinux)
	disk := strings.Index(out, "vm| "+assets.Marker+assets.MarkerWindowsBIOS)
	if linux < 0 || disk < linux {
		t.Fatalf("want the VM's Linux marker and then its disk marker on the console; at %d and %d in:\n%s", linux, disk, out)
	}

	// The printed commands name a binary that outlives go run.
	m := regexp.MustCompile(`(?m)^  (\S+) --db (\S+) log$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("demo printed no log command:\n%s", out)
	}
	if want := filepath.Join(dir, "node-switch"); m[1] != want {
		t.Errorf("printed binary %s, want the copy %s (go run's own is deleted when it exits)", m[1], want)
	}
	logOut, err := exec.Command(m[1], "--db", m[2], "log").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --db %s log after the demo: %v\n%s", m[1], m[2], err, logOut)
	}
	if !regexp.MustCompile(`node-switch demo.*move.*umu20.*windows`).Match(logOut) {
		t.Errorf("logbook has no move of umu20 to windows by the demo:\n%s", logOut)
	}
}
