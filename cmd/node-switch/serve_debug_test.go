package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/node-switch/node-switch/nodes"
)

func TestDebugListenAddr(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:6060", true},
		{"127.0.0.1:0", true},
		{"127.1.2.3:6060", true},
		{"[::1]:6060", true},
		{"[::ffff:127.0.0.1]:6060", true},
		{"localhost:6060", true},
		{"0.0.0.0:6060", false},
		{":6060", false},
		{"10.1.2.3:6060", false},
		{"192.168.1.1:6060", false},
		{"[::]:6060", false},
		{"[fe80::1%lo]:6060", false},
		{"[::1%lo]:6060", false},
		{"example.com:6060", false},
		{"localhost.example.com:6060", false},
		{"127.0.0.1", false},
		{"127.0.0.1:http", false},
		{"127.0.0.1:70000", false},
	} {
		err := debugListenAddr(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("debugListenAddr(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}

// TestDebugRefused checks that serve does not start with a non-loopback
// --debug-listen (flag or environment). The context is cancelled before the
// run, so a wrongly accepted address makes serve return at once with status
// 0 rather than serving until the test times out.
func TestDebugRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "inventory.db")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		args []string
		env  string
	}{
		{args: []string{"--debug-listen", "0.0.0.0:6060"}},
		{args: []string{"--debug-listen", ":6060"}},
		{args: []string{"--debug-listen", "10.1.2.3:6060"}},
		{args: []string{"--debug-listen", "[::]:6060"}},
		{env: "0.0.0.0:6060"},
	} {
		t.Run(strings.Join(tc.args, "=")+tc.env, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("NODE_SWITCH_DEBUG_LISTEN", tc.env)
			}
			var errb bytes.Buffer
			env := &Env{Stdout: io.Discard, Stderr: &errb, Stdin: strings.NewReader(""), Actor: nodes.Actor{Name: "tester", Channel: nodes.ChannelCLI, From: "local"}}
			args := append([]string{"node-switch", "--db", db, "serve", "--tftp-listen=", "--http-listen=", "--ssh-listen="}, tc.args...)
			status := exitStatus(env, Run(ctx, env, args))
			if status != 2 || !strings.Contains(errb.String(), "not a loopback address") {
				t.Errorf("serve %v (NODE_SWITCH_DEBUG_LISTEN=%q): exit %d, want 2 naming the loopback rule; stderr:\n%s", tc.args, tc.env, status, errb.String())
			}
		})
	}
}

var debugAddrRE = regexp.MustCompile(`msg="debug listening".* addr=(\S+)`)

// startDebugServe runs serve in-process with only the debug service, on a
// port the kernel picks, and returns the address it logged. stop cancels
// serve and returns its exit status and log once it has returned.
func startDebugServe(t *testing.T, db, listen string) (addr string, stop func() (int, string)) {
	t.Helper()
	pr, pw := io.Pipe()
	env := &Env{Stdout: io.Discard, Stderr: pw, Stdin: strings.NewReader(""), Actor: nodes.Actor{Name: "tester", Channel: nodes.ChannelCLI, From: "local"}}
	ctx, cancel := context.WithCancel(context.Background())
	statusc := make(chan int, 1)
	go func() {
		err := Run(ctx, env, []string{"node-switch", "--db", db, "serve",
			"--tftp-listen=", "--http-listen=", "--ssh-listen=", "--debug-listen", listen})
		st := exitStatus(env, err)
		pw.Close()
		statusc <- st
	}()
	addrc := make(chan string, 1)
	logc := make(chan string, 1)
	go func() {
		var log strings.Builder
		found := false
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if m := debugAddrRE.FindStringSubmatch(sc.Text()); m != nil && !found {
				found = true
				addrc <- m[1]
			}
		}
		io.Copy(io.Discard, pr) // never leave serve blocked on its log
		close(addrc)
		logc <- log.String()
	}()
	var once bool
	var status int
	var log string
	stop = func() (int, string) {
		if !once {
			once = true
			cancel()
			status, log = <-statusc, <-logc
		}
		return status, log
	}
	t.Cleanup(func() { stop() })
	addr, ok := <-addrc
	if !ok {
		st, log := stop()
		t.Fatalf("serve --debug-listen %s exited %d without logging its address:\n%s", listen, st, log)
	}
	return addr, stop
}

func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, body
}

// TestDebugServe starts serve with --debug-listen twice in this process
// (expvar must not panic on a second Publish), reads the gauges the
// benchmarks sample and a pprof profile, and checks that stopping serve
// closes the listener.
func TestDebugServe(t *testing.T) {
	db := filepath.Join(t.TempDir(), "inventory.db")
	for i, listen := range []string{"127.0.0.1:0", "localhost:0"} {
		addr, stop := startDebugServe(t, db, listen)
		base := "http://" + addr

		code, body := httpGet(t, base+"/debug/vars")
		if code != http.StatusOK {
			t.Fatalf("run %d: GET /debug/vars: %d\n%s", i, code, body)
		}
		var vars struct {
			Goroutines int             `json:"goroutines"`
			RSS        int64           `json:"rss_kib"`
			PeakRSS    int64           `json:"peak_rss_kib"`
			Memstats   json.RawMessage `json:"memstats"`
			Cmdline    []string        `json:"cmdline"`
		}
		if err := json.Unmarshal(body, &vars); err != nil {
			t.Fatalf("run %d: /debug/vars is not JSON: %v\n%s", i, err, body)
		}
		if vars.Goroutines <= 0 {
			t.Errorf("run %d: goroutines = %d, want > 0", i, vars.Goroutines)
		}
		if runtime.GOOS == "linux" && (vars.RSS <= 0 || vars.PeakRSS <= 0) {
			t.Errorf("run %d: rss_kib = %d, peak_rss_kib = %d, want both > 0", i, vars.RSS, vars.PeakRSS)
		}
		if len(vars.Memstats) == 0 || len(vars.Cmdline) == 0 {
			t.Errorf("run %d: /debug/vars lacks expvar's memstats or cmdline:\n%s", i, body)
		}

		code, body = httpGet(t, base+"/debug/pprof/goroutine?debug=1")
		if code != http.StatusOK || !bytes.Contains(body, []byte("goroutine profile:")) {
			t.Errorf("run %d: GET /debug/pprof/goroutine?debug=1: %d\n%.500s", i, code, body)
		}
		if code, _ := httpGet(t, base+"/"); code != http.StatusNotFound {
			t.Errorf("run %d: GET /: %d, want 404 (only /debug/ is served)", i, code)
		}

		status, log := stop()
		if status != 0 {
			t.Fatalf("run %d: serve exited %d:\n%s", i, status, log)
		}
		if resp, err := http.Get(base + "/debug/vars"); err == nil {
			resp.Body.Close()
			t.Errorf("run %d: %s still answers after serve returned", i, addr)
		}
	}
}
