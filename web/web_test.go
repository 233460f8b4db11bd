package web

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/ops"
)

var admin = nodes.Actor{Name: "test", Channel: nodes.ChannelCLI, From: "local"}

const password = "correct horse battery"

type fixture struct {
	st  *nodes.Store
	srv *Server
	ts  *httptest.Server
	now time.Time
}

// newFixture is an inventory of n01-n04 (linux) and w01-w02 (windows), a
// web user of each role, and the console over TLS.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := nodes.Open(filepath.Join(dir, "inventory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	must(t, st.AddProfile(ctx, admin, nodes.Profile{Name: "linux", Kind: nodes.KindLinux, Kernel: "vmlinuz", Initrd: "initrd.img"}))
	must(t, st.AddProfile(ctx, admin, nodes.Profile{Name: "windows", Kind: nodes.KindLocalDisk}))
	must(t, st.AddCluster(ctx, admin, nodes.Cluster{Name: "linux", Profile: "linux"}))
	must(t, st.AddCluster(ctx, admin, nodes.Cluster{Name: "windows", Profile: "windows"}))
	ip := netip.MustParseAddr("10.0.0.10")
	for i, name := range []string{"n01", "n02", "n03", "n04", "w01", "w02"} {
		ip = ip.Next()
		cl := "linux"
		if name[0] == 'w' {
			cl = "windows"
		}
		_, err := st.AddNode(ctx, admin, nodes.Node{Name: name, MAC: fmt.Sprintf("02:00:00:00:00:%02x", i+1), IP: ip, Cluster: cl}, "test")
		must(t, err)
	}
	for _, u := range []struct{ name, role string }{{"alice", nodes.RoleOperate}, {"bob", nodes.RoleRead}} {
		h, err := HashPassword(password)
		must(t, err)
		_, err = st.AddWebUser(ctx, admin, u.name, u.role, h)
		must(t, err)
	}
	o, err := ops.New(st, ops.Settings{HooksDir: filepath.Join(dir, "hooks.d")})
	must(t, err)
	f := &fixture{st: st, now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	srv, err := New(Config{Store: st, Ops: o, Now: func() time.Time { return f.now }})
	must(t, err)
	f.srv = srv
	f.ts = httptest.NewTLSServer(srv.Handler())
	t.Cleanup(f.ts.Close)
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// client is a browser without redirects followed, so statuses are seen.
func (f *fixture) client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := *f.ts.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func (f *fixture) login(t *testing.T, name string) (*http.Client, string) {
	t.Helper()
	c := f.client(t)
	resp, err := c.PostForm(f.ts.URL+"/login", url.Values{"name": {name}, "password": {password}})
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: %s", name, resp.Status)
	}
	_, body := get(t, c, f.ts.URL+"/")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the map:\n%s", body)
	}
	return c, m[1]
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// state is what must not change when a request is refused: every node's
// record and the logbook's length.
func (f *fixture) state(t *testing.T) string {
	t.Helper()
	ns, err := f.st.Nodes(context.Background(), "")
	must(t, err)
	evs, err := f.st.Log(context.Background(), nodes.LogFilter{})
	must(t, err)
	b, _ := json.Marshal(ns)
	return fmt.Sprintf("%s events=%d", b, len(evs))
}

func TestBadInputChangesNothing(t *testing.T) {
	f := newFixture(t)
	alice, csrf := f.login(t, "alice")
	bob, bobCSRF := f.login(t, "bob")
	move := func(mod func(url.Values)) url.Values {
		v := url.Values{"csrf": {csrf}, "op": {"move"}, "node": {"n01"}, "to": {"windows"}, "reason": {"test"}}
		mod(v)
		return v
	}
	tests := []struct {
		name   string
		client *http.Client
		method string
		path   string
		form   url.Values
		status int
		want   string
	}{
		{"unknown range", alice, "POST", "/plan", move(func(v url.Values) { v.Del("node"); v.Set("range", "n[07-09]") }), 400, "unknown node"},
		{"malformed range", alice, "POST", "/plan", move(func(v url.Values) { v.Del("node"); v.Set("range", "n[01-") }), 400, "without"},
		{"empty reason", alice, "POST", "/plan", move(func(v url.Values) { v.Set("reason", "  ") }), 400, "reason is required"},
		{"empty reason at confirmation", alice, "POST", "/do", move(func(v url.Values) { v.Set("reason", ""); v.Set("plan", "n01") }), 400, "reason is required"},
		{"no nodes", alice, "POST", "/plan", move(func(v url.Values) { v.Del("node") }), 400, "no nodes"},
		{"unknown cluster", alice, "POST", "/plan", move(func(v url.Values) { v.Set("to", "solaris") }), 400, "unknown cluster"},
		{"unknown operation", alice, "POST", "/do", move(func(v url.Values) { v.Set("op", "rm"); v.Set("plan", "n01") }), 400, "want move, mask"},
		{"no CSRF token", alice, "POST", "/do", move(func(v url.Values) { v.Del("csrf"); v.Set("plan", "n01") }), 403, "CSRF"},
		{"another session's CSRF token", alice, "POST", "/do", move(func(v url.Values) { v.Set("csrf", bobCSRF); v.Set("plan", "n01") }), 403, "CSRF"},
		{"read user", bob, "POST", "/do", move(func(v url.Values) { v.Set("csrf", bobCSRF); v.Set("plan", "n01") }), 403, "role read"},
		{"not logged in", f.client(t), "POST", "/do", move(func(v url.Values) { v.Set("plan", "n01") }), 401, "log in"},
		{"stale plan", alice, "POST", "/do", move(func(v url.Values) { v.Set("plan", "n01,n02") }), 409, "plan changed"},
		{"nothing to do", alice, "POST", "/plan", move(func(v url.Values) { v.Set("node", "w01") }), 409, "nothing to do"},
		{"huge query string", alice, "GET", "/?range=" + strings.Repeat("n01,", 2000), nil, 414, "at most"},
		{"huge form", alice, "POST", "/plan", move(func(v url.Values) { v.Set("range", strings.Repeat("x", maxForm)) }), 413, "larger than"},
		{"unknown range on the map", alice, "GET", "/?range=zz99", nil, 400, "unknown node"},
		{"unknown node page", alice, "GET", "/node/zz99", nil, 404, "not found"},
		{"bad logbook action", alice, "GET", "/log?action=moved", nil, 400, "no such action"},
		{"bad logbook since", alice, "GET", "/log?since=1y", nil, 400, "units s, m, h, d"},
		{"bad API range", alice, "GET", "/api/v1/nodes?range=n[1-", nil, 400, "without"},
		{"API without credentials", f.client(t), "GET", "/api/v1/nodes", nil, 401, "Authorization: Bearer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.state(t)
			var resp *http.Response
			var err error
			if tc.method == "GET" {
				resp, err = tc.client.Get(f.ts.URL + tc.path)
			} else {
				resp, err = tc.client.PostForm(f.ts.URL+tc.path, tc.form)
			}
			must(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
				t.Errorf("%s %s: %s, want %d with %q:\n%.600s", tc.method, tc.path, resp.Status, tc.status, tc.want, b)
			}
			if after := f.state(t); after != before {
				t.Errorf("inventory changed:\n%s\n%s", before, after)
			}
		})
	}
}

func TestLogin(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, user, pass string
		status           int
		want             string
	}{
		{"wrong password", "alice", "wrong password!", 401, "wrong user name or password"},
		{"unknown user", "mallory", password, 401, "wrong user name or password"},
		{"right password", "alice", password, 303, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := f.client(t)
			resp, err := c.PostForm(f.ts.URL+"/login", url.Values{"name": {tc.user}, "password": {tc.pass}})
			must(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
				t.Fatalf("%s", resp.Status)
			}
			if tc.status != 303 {
				return
			}
			var ck *http.Cookie
			for _, k := range resp.Cookies() {
				if k.Name == sessionCookie {
					ck = k
				}
			}
			// __Host-: a browser takes it only Secure, for Path=/ and
			// without Domain, so no neighbour can plant one.
			if ck == nil || !strings.HasPrefix(ck.Name, "__Host-") || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode ||
				ck.Path != "/" || ck.Domain != "" {
				t.Fatalf("session cookie %+v: want __Host-, HttpOnly, Secure, SameSite=Strict, Path=/, no Domain", ck)
			}
		})
	}
}

// TestLoginRateLimit: after the allowed failures from one source even the
// right password is refused, until the window has passed.
func TestLoginRateLimit(t *testing.T) {
	f := newFixture(t)
	try := func(pass string) *http.Response {
		resp, err := f.client(t).PostForm(f.ts.URL+"/login", url.Values{"name": {"alice"}, "password": {pass}})
		must(t, err)
		resp.Body.Close()
		return resp
	}
	for i := 0; i < DefaultLoginFails; i++ {
		if r := try("guess"); r.StatusCode != 401 {
			t.Fatalf("failure %d: %s", i+1, r.Status)
		}
	}
	r := try(password)
	if r.StatusCode != 429 || r.Header.Get("Retry-After") != fmt.Sprint(int(DefaultLoginWindow/time.Second)) {
		t.Fatalf("right password after %d failures: %s, Retry-After %q", DefaultLoginFails, r.Status, r.Header.Get("Retry-After"))
	}
	// Refusals do not extend the lockout: it ends a window after the
	// first failure, however often the source knocks meanwhile.
	f.now = f.now.Add(DefaultLoginWindow - 2*time.Second)
	if r := try(password); r.StatusCode != 429 || r.Header.Get("Retry-After") != "2" {
		t.Fatalf("just before the window ends: %s, Retry-After %q", r.Status, r.Header.Get("Retry-After"))
	}
	f.now = f.now.Add(3 * time.Second)
	if r := try(password); r.StatusCode != 303 {
		t.Fatalf("after the window: %s", r.Status)
	}
	if n := f.srv.passwordChecks.Load(); n != DefaultLoginFails+1 {
		t.Fatalf("%d passwords hashed, want %d", n, DefaultLoginFails+1)
	}
}

// TestLoginBurst: 30 wrong passwords at once from one source hash only as
// many as the limit allows; the rest are refused 429 before any hash.
// Before reservations, all 30 were hashed (a failure was counted only
// after its hash).
func TestLoginBurst(t *testing.T) {
	f := newFixture(t)
	// A waiting login gives up after hashWait; under -race on a loaded
	// machine the test must not depend on hashes being quick.
	f.srv.hashes.wait = time.Hour
	const burst = 30
	statuses := make(chan *http.Response, burst)
	var wg sync.WaitGroup
	for range burst {
		wg.Go(func() {
			resp, err := f.client(t).PostForm(f.ts.URL+"/login", url.Values{"name": {"alice"}, "password": {"wrong password!"}})
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for r := range statuses {
		count[r.StatusCode]++
		if r.StatusCode == 429 && r.Header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	}
	if n := f.srv.passwordChecks.Load(); n != DefaultLoginFails || count[401] != DefaultLoginFails || count[429] != burst-DefaultLoginFails {
		t.Fatalf("%d passwords hashed, statuses %v: want %d hashed and answered 401, the rest 429", n, count, DefaultLoginFails)
	}
}

// TestCrossSitePost: a POST a browser says comes from another site is
// refused before anything runs (login included: a login CSRF would log the
// victim's browser in as the attacker); one from the console's own pages,
// or from a client that sends neither header, is not.
func TestCrossSitePost(t *testing.T) {
	f := newFixture(t)
	alice, csrf := f.login(t, "alice")
	self := f.ts.URL // https://127.0.0.1:PORT
	login := url.Values{"name": {"alice"}, "password": {password}}
	move := url.Values{"csrf": {csrf}, "op": {"move"}, "node": {"n01"}, "to": {"windows"}, "reason": {"test"}}
	for _, tc := range []struct {
		name          string
		client        *http.Client
		path          string
		form          url.Values
		origin, fetch string
		status        int
		want          string
	}{
		{"login from another site", f.client(t), "/login", login, "https://evil.example", "", 403, "cross-site"},
		{"login, cross-site by Sec-Fetch-Site", f.client(t), "/login", login, "", "cross-site", 403, "cross-site"},
		{"login, same-site is not same-origin", f.client(t), "/login", login, "", "same-site", 403, "cross-site"},
		{"login, Origin null", f.client(t), "/login", login, "null", "", 403, "cross-site"},
		{"login, over plain HTTP", f.client(t), "/login", login, strings.Replace(self, "https:", "http:", 1), "", 403, "cross-site"},
		{"login, another port", f.client(t), "/login", login, "https://127.0.0.1:1", "", 403, "cross-site"},
		{"login, Sec-Fetch-Site fine but Origin not", f.client(t), "/login", login, "https://evil.example", "same-origin", 403, "cross-site"},
		{"plan from another site", alice, "/plan", move, "https://evil.example", "cross-site", 403, "cross-site"},
		{"logout from another site", alice, "/logout", url.Values{"csrf": {csrf}}, "https://evil.example", "", 403, "cross-site"},
		{"login from the console", f.client(t), "/login", login, self, "same-origin", 303, ""},
		{"login from the console, Origin hidden", f.client(t), "/login", login, "null", "same-origin", 303, ""},
		{"login typed by the user", f.client(t), "/login", login, "", "none", 303, ""},
		{"login from curl", f.client(t), "/login", login, "", "", 303, ""},
		{"plan from the console", alice, "/plan", move, self, "same-origin", 200, "Would move"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.state(t)
			req, _ := http.NewRequest("POST", f.ts.URL+tc.path, strings.NewReader(tc.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.fetch != "" {
				req.Header.Set("Sec-Fetch-Site", tc.fetch)
			}
			resp, err := tc.client.Do(req)
			must(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
				t.Fatalf("%s: %s, want %d with %q\n%.400s", tc.path, resp.Status, tc.status, tc.want, b)
			}
			if tc.status == 403 && len(resp.Cookies()) > 0 {
				t.Fatalf("refused, yet set %v", resp.Cookies())
			}
			if after := f.state(t); after != before {
				t.Fatalf("inventory changed")
			}
		})
	}
	// The session survived the refused logout.
	if s, _ := get(t, alice, f.ts.URL+"/"); s != 200 {
		t.Fatalf("alice's session after a cross-site logout: %d", s)
	}
}

// TestReadUserSeesNoActions: the map of a read user has no selection boxes
// and no action form; an operate user's has both.
func TestReadUserSeesNoActions(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		user string
		want bool
	}{{"alice", true}, {"bob", false}} {
		c, _ := f.login(t, tc.user)
		_, body := get(t, c, f.ts.URL+"/")
		has := strings.Contains(body, `id="actions"`) || strings.Contains(body, `type="checkbox"`)
		if has != tc.want {
			t.Errorf("%s: action controls shown %v, want %v", tc.user, has, tc.want)
		}
		if !strings.Contains(body, `id="node-n01"`) {
			t.Errorf("%s: no cell for n01", tc.user)
		}
	}
}

// TestMoveFromTheConsole plans, confirms, and finds the move in the logbook
// with the web user as actor and channel web.
func TestMoveFromTheConsole(t *testing.T) {
	f := newFixture(t)
	c, csrf := f.login(t, "alice")
	form := url.Values{"csrf": {csrf}, "op": {"move"}, "node": {"n01", "n02"}, "to": {"windows"}, "reason": {"exam week"}}
	resp, err := c.PostForm(f.ts.URL+"/plan", form)
	must(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "Would move <b>n[01-02]</b> from linux to <b>windows</b>") {
		t.Fatalf("plan: %s\n%s", resp.Status, b)
	}
	if n, _ := f.st.Node(context.Background(), "n01"); n.Cluster != "linux" {
		t.Fatalf("the plan moved n01")
	}
	form.Set("plan", "n[01-02]")
	resp, err = c.PostForm(f.ts.URL+"/do", form)
	must(t, err)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "move n[01-02] to windows") {
		t.Fatalf("do: %s\n%s", resp.Status, b)
	}
	evs, err := f.st.Log(context.Background(), nodes.LogFilter{Action: nodes.ActionMove})
	must(t, err)
	if len(evs) != 1 || evs[0].Actor != "alice" || evs[0].Channel != nodes.ChannelWeb || evs[0].Reason != "exam week" ||
		nodes.Compress(evs[0].Nodes) != "n[01-02]" {
		t.Fatalf("logbook: %+v", evs)
	}
}

// TestAPI: the JSON API answers an API token with the CLI's --json names,
// and refuses HTTP Basic, expired, revoked and malformed tokens.
func TestAPI(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ns, err := f.st.Nodes(ctx, "n[01-02]")
	must(t, err)
	wantNodes, _ := json.Marshal(ns)
	token := func(user string, expires time.Time) string {
		tok, hash := NewToken()
		_, err := f.st.AddWebToken(ctx, admin, user, hash, "", expires)
		must(t, err)
		return tok
	}
	// The store's clock is the wall clock; the server's is f.now.
	f.now = time.Now()
	bobs, alices := token("bob", f.now.Add(time.Hour)), token("alice", f.now.Add(time.Hour))
	expired := token("bob", f.now.Add(time.Minute))
	revoked := token("bob", f.now.Add(time.Hour))
	_, err = f.st.RemoveWebToken(ctx, admin, "bob", TokenHash(revoked)[:12])
	must(t, err)
	f.now = f.now.Add(2 * time.Minute)
	before := f.srv.passwordChecks.Load()
	tests := []struct {
		name, path, auth string
		status           int
		want             string
	}{
		{"nodes", "/api/v1/nodes?range=n[01-02]", "Bearer " + bobs, 200, string(wantNodes)},
		{"clusters", "/api/v1/clusters", "Bearer " + bobs, 200, `[{"name":"linux","profile":"linux","kind":"linux","nodes":4},{"name":"windows","profile":"windows","kind":"localdisk","nodes":2}]`},
		{"profiles", "/api/v1/profiles", "bearer " + alices, 200, `"kernel":"vmlinuz"`},
		{"log", "/api/v1/log?action=web-user-add", "Bearer " + bobs, 200, `"action":"web-user-add","actor":"test","channel":"cli"`},
		{"HTTP Basic", "/api/v1/nodes", "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:"+password)), 401, "HTTP Basic is not accepted"},
		{"expired", "/api/v1/nodes", "Bearer " + expired, 401, "expired"},
		{"revoked", "/api/v1/nodes", "Bearer " + revoked, 401, "unknown or revoked"},
		{"altered", "/api/v1/nodes", "Bearer " + altered(bobs), 401, "unknown or revoked"},
		{"not ours", "/api/v1/nodes", "Bearer ghp_0123456789", 401, "not a node-switch API token"},
		{"other scheme", "/api/v1/nodes", "Digest x", 401, "Authorization: Bearer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", f.ts.URL+tc.path, nil)
			req.Header.Set("Authorization", tc.auth)
			resp, err := f.client(t).Do(req)
			must(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var compact strings.Builder
			var v any
			if json.Unmarshal(b, &v) == nil {
				c, _ := json.Marshal(v)
				compact.Write(c)
			}
			// Compare in one canonical form (map keys sorted).
			var w any
			json.Unmarshal([]byte(tc.want), &w)
			want := tc.want
			if w != nil {
				c, _ := json.Marshal(w)
				want = string(c)
			}
			if resp.StatusCode != tc.status || !strings.Contains(compact.String(), strings.TrimSuffix(strings.TrimPrefix(want, "["), "]")) {
				t.Fatalf("%s %s: %s\n%s\nwant %s", tc.name, tc.path, resp.Status, compact.String(), want)
			}
			if strings.Contains(string(b), strings.TrimPrefix(tc.auth, "Bearer ")) {
				t.Fatalf("the answer repeats the token: %s", b)
			}
		})
	}
	if n := f.srv.passwordChecks.Load() - before; n != 0 {
		t.Fatalf("the API hashed %d passwords", n)
	}
}

// altered is tok with its first secret character changed.
func altered(tok string) string {
	b := []byte(tok)
	i := len(TokenPrefix)
	if b[i] == 'x' {
		b[i] = 'y'
	} else {
		b[i] = 'x'
	}
	return string(b)
}

// TestLiveEvents: a change committed by another front end (here the store
// directly, as a CLI process would) reaches an open event stream.
func TestLiveEvents(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.srv.Watch(ctx)
	c, _ := f.login(t, "bob")
	req, _ := http.NewRequestWithContext(ctx, "GET", f.ts.URL+"/events", nil)
	resp, err := c.Do(req)
	must(t, err)
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	next := func() string {
		for {
			line, err := r.ReadString('\n')
			must(t, err)
			if g, ok := strings.CutPrefix(line, "data: "); ok {
				return strings.TrimSpace(g)
			}
		}
	}
	first := next()
	_, err = f.st.Move(context.Background(), admin, nodes.MoveRequest{Range: "n03", To: "windows", Reason: "cli"})
	must(t, err)
	if second := next(); second == first {
		t.Fatalf("generation %s twice", first)
	}
	_, frag := get(t, c, f.ts.URL+"/map/fragment")
	if !regexp.MustCompile(`id="node-n03" data-cluster="windows"`).MatchString(frag) {
		t.Fatalf("fragment after the move:\n%s", frag)
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword(password)
	must(t, err)
	for _, tc := range []struct {
		hash, pass string
		ok         bool
		bad        bool
	}{
		{h, password, true, false},
		{h, password + "x", false, false},
		{"$argon2id$v=19$m=19456,t=2,p=1$AAAA", password, false, true},
		{"$2a$10$bcrypt", password, false, true},
	} {
		ok, err := CheckPassword(tc.hash, tc.pass)
		if ok != tc.ok || (err != nil) != tc.bad {
			t.Errorf("CheckPassword(%.30s, %q) = %v, %v", tc.hash, tc.pass, ok, err)
		}
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("short password accepted")
	}
}
