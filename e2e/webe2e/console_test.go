// Package webe2e drives the web console of "node-switch serve" with a real
// browser (headless Chromium through the DevTools protocol), on loopback.
package webe2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/node-switch/node-switch/e2e/netlab"
	"github.com/node-switch/node-switch/nodes"
)

var admin = nodes.Actor{Name: "e2e", Channel: nodes.ChannelCLI, From: "local"}

const password = "correct horse battery"

// TestConsole logs in, watches a CLI move reach the open map without a
// reload, moves a node from the page and finds it in "node-switch log" with
// the web user and channel web; a read user sees no action controls and a
// POST without the form token is refused. Screenshots of the map and the
// logbook go to a temporary directory (and to $WEB_SCREENSHOTS when set).
func TestConsole(t *testing.T) {
	netlab.Require(t, "chromium=chromium")
	bin := netlab.Binary(t)
	dir := t.TempDir()
	db := inventory(t, dir)
	pw := filepath.Join(dir, "password")
	must(t, os.WriteFile(pw, []byte(password+"\n"), 0o600))
	for _, u := range [][]string{{"alice", "operate"}, {"bob", "read"}} {
		cli(t, bin, db, "web-user", "add", u[0], "--role", u[1], "--password-file", pw)
	}

	srv := exec.Command(bin, "--db", db, "serve", "--web-listen", "127.0.0.1:0", "--ssh-listen=", "--tftp-listen=", "--http-listen=")
	srv.Env = append(os.Environ(), "NODE_SWITCH_HOOKS_DIR="+filepath.Join(dir, "hooks.d"))
	var log netlab.SyncBuffer
	srv.Stdout, srv.Stderr = &log, &log
	must(t, srv.Start())
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	addrRE := regexp.MustCompile(`web console listening.*addr=(https://\S+) cert_sha256=(\S+)`)
	var base, fingerprint string
	if !netlab.WaitFor(30*time.Second, func() bool {
		if m := addrRE.FindStringSubmatch(log.String()); m != nil {
			base, fingerprint = m[1], m[2]
			return true
		}
		return false
	}) {
		t.Fatalf("serve did not start the web console:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "generated a self-signed web certificate") {
		t.Errorf("first start did not say it generated the certificate:\n%s", log.String())
	}
	t.Logf("console at %s, certificate %s", base, fingerprint)

	shots := t.TempDir()
	browser := newBrowser(t)
	// The first action starts the browser, under no timeout of its own
	// (a timeout there would stop the browser); the rest share one.
	run(t, browser, "start chromium")
	ctx, cancel := context.WithTimeout(browser, 45*time.Second)
	defer cancel()

	// Log in and see the map.
	run(t, ctx, "log in",
		chromedp.EmulateViewport(1100, 720),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.CSS(`#node-n01[data-cluster="linux"]`)),
		chromedp.WaitVisible(chromedp.ID("actions")),
		// The stream is open once the page says it is live.
		chromedp.WaitVisible(chromedp.Search(`//span[@id="live-state" and starts-with(text(), "live")]`)),
	)
	value(t, ctx, "mark the page", chromedp.Evaluate[bool](`window.notReloaded = true`))

	// A move from the CLI reaches the open page without a reload.
	cli(t, bin, db, "move", "n03", "--to", "windows", "--reason", "from the CLI")
	run(t, ctx, "see the CLI's move", chromedp.WaitVisible(chromedp.CSS(`#node-n03[data-cluster="windows"]`)))
	if !value(t, ctx, "page kept", chromedp.Evaluate[bool](`window.notReloaded === true`)) {
		t.Fatal("the page reloaded to show the move")
	}
	screenshot(t, ctx, shots, "web-console-map.png")

	// A move from the page: tick, plan, confirm.
	run(t, ctx, "plan a move",
		chromedp.Click(chromedp.ID("sel-n02")),
		chromedp.SetValue(chromedp.ID("op"), "move"),
		chromedp.SetValue(chromedp.ID("to"), "windows"),
		chromedp.SendKeys(chromedp.ID("reason"), "exam week"),
		chromedp.Click(chromedp.ID("plan")),
		chromedp.WaitVisible(chromedp.ID("plan-summary")),
	)
	plan := value(t, ctx, "plan text", chromedp.Text(chromedp.ID("plan-summary")))
	if !strings.Contains(plan, "Would move n02 from linux to windows") {
		t.Fatalf("plan page: %q", plan)
	}
	if n := node(t, db, "n02"); n.Cluster != "linux" {
		t.Fatalf("the plan moved n02: %+v", n)
	}
	run(t, ctx, "confirm", chromedp.Click(chromedp.ID("confirm")), chromedp.WaitVisible(chromedp.ID("result")))
	var evs []nodes.Event
	must(t, json.Unmarshal([]byte(cli(t, bin, db, "log", "n02", "--action", "move", "--json")), &evs))
	if len(evs) != 1 || evs[0].Actor != "alice" || evs[0].Channel != nodes.ChannelWeb || evs[0].Reason != "exam week" || evs[0].Target != "windows" {
		t.Fatalf("node-switch log n02 --action move: %+v", evs)
	}

	run(t, ctx, "logbook", chromedp.Navigate(base+"/log"), chromedp.WaitVisible(chromedp.ID(fmt.Sprintf("event-%d", evs[0].ID))))
	screenshot(t, ctx, shots, "web-console-logbook.png")

	// A read user: the map without controls.
	run(t, ctx, "read user",
		chromedp.Click(chromedp.CSS(`header .who button`)),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), "bob"),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.CSS(`#node-n02[data-cluster="windows"]`)),
	)
	controls := value(t, ctx, "count controls", chromedp.Evaluate[int](`document.querySelectorAll('#actions, input[type=checkbox]').length`))
	if controls != 0 {
		t.Fatalf("read user sees %d action controls", controls)
	}

	// A forged POST: alice's session, no form token.
	c := httpsClient()
	resp, err := c.PostForm(base+"/login", url.Values{"name": {"alice"}, "password": {password}})
	must(t, err)
	resp.Body.Close()
	before := cli(t, bin, db, "node", "list", "--json")
	resp, err = c.PostForm(base+"/do", url.Values{"op": {"move"}, "node": {"n01"}, "to": {"windows"}, "reason": {"forged"}, "plan": {"n01"}})
	must(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "CSRF") {
		t.Fatalf("forged POST: %s\n%s", resp.Status, b)
	}
	if after := cli(t, bin, db, "node", "list", "--json"); after != before {
		t.Fatalf("forged POST changed the inventory")
	}
}

func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(mustLookPath(t, "chromium")),
		// The console's certificate is self-signed; the test checks its
		// fingerprint is logged, a browser would ask.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.NoSandbox, // root in CI
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); acancel() })
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	value(t, ctx, what, chromedp.Steps(steps...))
}

func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		html, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.OuterHTML(chromedp.CSS("html")))
		t.Fatalf("%s: %v\npage:\n%.3000s", what, err, html)
	}
	return v
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := value(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	must(t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
	if d := os.Getenv("WEB_SCREENSHOTS"); d != "" {
		must(t, os.WriteFile(filepath.Join(d, name), png, 0o644))
	}
	t.Logf("screenshot %s (%d bytes)", filepath.Join(dir, name), len(png))
}

func httpsClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:           jar,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// inventory is twelve linux nodes and four windows ones, two masked, most
// seen after their last change, so the map shows every kind of cell.
func inventory(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "inventory.db")
	st, err := nodes.Open(path)
	must(t, err)
	defer st.Close()
	ctx := context.Background()
	must(t, st.AddProfile(ctx, admin, nodes.Profile{Name: "linux", Kind: nodes.KindLinux, Kernel: "vmlinuz", Initrd: "initrd.img"}))
	must(t, st.AddProfile(ctx, admin, nodes.Profile{Name: "windows", Kind: nodes.KindLocalDisk}))
	must(t, st.AddCluster(ctx, admin, nodes.Cluster{Name: "linux", Profile: "linux"}))
	must(t, st.AddCluster(ctx, admin, nodes.Cluster{Name: "windows", Profile: "windows"}))
	ip := netip.MustParseAddr("10.77.0.10")
	var seen []nodes.Seen
	for i := 1; i <= 16; i++ {
		ip = ip.Next()
		name, cl := fmt.Sprintf("n%02d", i), "linux"
		if i > 12 {
			name, cl = fmt.Sprintf("w%02d", i-12), "windows"
		}
		n, err := st.AddNode(ctx, admin, nodes.Node{Name: name, MAC: fmt.Sprintf("02:00:00:00:00:%02x", i), IP: ip, Cluster: cl}, "e2e")
		must(t, err)
		if i%5 != 0 {
			seen = append(seen, nodes.Seen{MAC: n.MAC, Time: time.Now().Add(time.Minute), Firmware: "uefi"})
		}
	}
	must(t, st.RecordSeen(ctx, seen))
	_, err = st.SetMask(ctx, admin, nodes.MaskRequest{Range: "n[11-12]", Mask: true, Reason: "reinstall"})
	must(t, err)
	return path
}

func node(t *testing.T, db, name string) nodes.Node {
	t.Helper()
	st, err := nodes.Open(db)
	must(t, err)
	defer st.Close()
	n, err := st.Node(context.Background(), name)
	must(t, err)
	return n
}

func cli(t *testing.T, bin, db string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--db", db}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_SWITCH_HOOKS_DIR="+filepath.Join(filepath.Dir(db), "hooks.d"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("node-switch %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

func mustLookPath(t *testing.T, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (apt-get install chromium)", name)
	}
	return p
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// netlab.SyncBuffer collects serve's output while the test reads it.
