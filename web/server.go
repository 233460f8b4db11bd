// Package web is the web console: server-rendered pages (cluster map, node,
// logbook, NFS roots, SSH keys), actions through ops for web users of role
// operate, a read-only JSON API under /api/v1/, and live updates of the map
// by server-sent events. Everything is embedded; nothing is fetched from
// elsewhere.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/node-switch/node-switch/nodes"
	"github.com/node-switch/node-switch/ops"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Defaults of a Server's limits.
const (
	DefaultSessionTTL   = 12 * time.Hour
	DefaultLoginFails   = 5
	DefaultLoginWindow  = 5 * time.Minute
	DefaultPollInterval = 500 * time.Millisecond
	// DefaultHashConcurrency bounds the password hashes running at once
	// (each ~60 ms of a core and 19 MiB): two, on a head node of two cores
	// that also answers DHCP and TFTP. DefaultHashQueue bounds the logins
	// waiting for one, each at most hashWait; more are refused 503.
	DefaultHashConcurrency = 2
	DefaultHashQueue       = 8
	hashWait               = 5 * time.Second
	// maxQuery bounds a query string: a node range or a filter is short,
	// and a long one is a mistake or an attack on the range expander.
	maxQuery = 2048
	// maxForm bounds a POST body (a selection of every node of a large
	// cluster, as node=... pairs, fits).
	maxForm = 256 << 10
	// maxStreams bounds the live-update connections held open at once.
	maxStreams = 256
)

// Config is what a Server needs.
type Config struct {
	Store *nodes.Store
	Ops   *ops.Ops
	Log   *slog.Logger
	// HTTPPort is serve's --http-listen port, for rendering the configs
	// of profiles that load kernels over HTTP (0: HTTP disabled).
	HTTPPort int
	// Zero values take the defaults above.
	SessionTTL   time.Duration
	LoginFails   int
	LoginWindow  time.Duration
	PollInterval time.Duration
	// HashConcurrency and HashQueue bound the password hashes at once and
	// the logins waiting for one.
	HashConcurrency int
	HashQueue       int
	// Now replaces the clock (tests of session expiry and the limiter).
	Now func() time.Time
}

// Server is the web console. Create it with New, serve Handler, and run
// Watch for live updates.
type Server struct {
	cfg      Config
	st       *nodes.Store
	ops      *ops.Ops
	log      *slog.Logger
	pages    map[string]*template.Template
	sessions sessions
	logins   limiter
	hashes   *hashGate
	mux      *http.ServeMux
	// passwordChecks counts the password hashes compared, for tests of
	// the limits.
	passwordChecks atomic.Int64

	mu      sync.Mutex
	subs    map[chan int64]struct{}
	lastGen int64
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Ops == nil {
		return nil, errors.New("web: a store and an ops layer are needed")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.LoginFails == 0 {
		cfg.LoginFails = DefaultLoginFails
	}
	if cfg.LoginWindow == 0 {
		cfg.LoginWindow = DefaultLoginWindow
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.HashConcurrency == 0 {
		cfg.HashConcurrency = DefaultHashConcurrency
	}
	if cfg.HashQueue == 0 {
		cfg.HashQueue = DefaultHashQueue
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, st: cfg.Store, ops: cfg.Ops, log: cfg.Log, pages: pages,
		sessions: sessions{m: map[string]*session{}, ttl: cfg.SessionTTL, now: cfg.Now},
		logins:   limiter{max: cfg.LoginFails, window: cfg.LoginWindow, now: cfg.Now, m: map[string]*attempts{}},
		hashes:   newHashGate(cfg.HashConcurrency, cfg.HashQueue, hashWait),
		subs:     map[chan int64]struct{}{},
	}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("POST /logout", s.page(s.logout))
	m.HandleFunc("GET /{$}", s.page(s.mapPage))
	m.HandleFunc("GET /map/fragment", s.page(s.mapFragment))
	m.HandleFunc("GET /node/{name}", s.page(s.nodePage))
	m.HandleFunc("GET /log", s.page(s.logPage))
	m.HandleFunc("GET /nfsroots", s.page(s.nfsrootsPage))
	m.HandleFunc("GET /sshkeys", s.page(s.sshkeysPage))
	m.HandleFunc("POST /plan", s.page(s.operate(s.plan)))
	m.HandleFunc("POST /do", s.page(s.operate(s.do)))
	m.HandleFunc("GET /events", s.page(s.events))
	m.HandleFunc("GET /api/v1/nodes", s.api(s.apiNodes))
	m.HandleFunc("GET /api/v1/clusters", s.api(s.apiClusters))
	m.HandleFunc("GET /api/v1/profiles", s.api(s.apiProfiles))
	m.HandleFunc("GET /api/v1/log", s.api(s.apiLog))
	s.mux = m
}

// crossSite refuses a request other than GET, HEAD or OPTIONS that a
// browser says comes from another site: Sec-Fetch-Site present and
// neither same-origin nor none (typed by the user), or Origin present and
// not this console's own scheme and host. Browsers send Origin on every
// POST (and Sec-Fetch-Site too, since 2023), so another site can neither
// log a browser in under the attacker's account (login CSRF, which a
// session's form token cannot cover: there is no session yet) nor post as
// its user. Unlike net/http's CrossOriginProtection both headers are
// checked when both are present, and the scheme too. A request with
// neither header is not from a browser (curl, a script) and carries no
// cookie another site could have made it send: it passes, and a session's
// POST still needs its form token.
func crossSite(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" && sfs != "none" {
		return fmt.Errorf("header Sec-Fetch-Site %.40q", sfs)
	}
	// A browser sends Origin "null" for a same-origin POST from a page
	// whose referrer policy hides it (no-referrer; Chromium does); when
	// Sec-Fetch-Site vouches for the request that is no evidence of
	// another site. Without Sec-Fetch-Site it is refused.
	if o := r.Header.Get("Origin"); o != "" && !(o == "null" && r.Header.Get("Sec-Fetch-Site") != "") {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme != scheme || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
			return fmt.Errorf("header Origin %.100q", o)
		}
	}
	return nil
}

// Handler is the console with its guards: bounded query strings and
// bodies, cross-origin requests refused, and headers that keep pages from
// being framed or from loading anything not served here.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		// same-origin, not no-referrer: URLs still go to no other site,
		// and a browser's Origin on the console's own POSTs is the
		// console's rather than "null" (crossSite).
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Strict-Transport-Security", "max-age=31536000")
		if len(r.URL.RawQuery) > maxQuery {
			http.Error(w, fmt.Sprintf("query string of %d bytes: at most %d (name nodes by a range such as umu[18-23])", len(r.URL.RawQuery), maxQuery), http.StatusRequestURITooLong)
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		}
		if err := crossSite(r); err != nil {
			s.log.Warn("web: cross-site request refused", "method", r.Method, "path", r.URL.Path, "by", err.Error(), "from", remoteHost(r))
			s.fail(w, r, user{}, http.StatusForbidden, errors.New("cross-site request refused: submit the form from this console's own pages; nothing was changed"))
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// Watch polls the inventory's generation and tells every live map when it
// moved, until ctx is done. The generation changes with every commit that
// changes what a node boots, from any front end or process, and with no
// other; between commits the WAL index says nothing changed, so most polls
// cost no query.
func (s *Server) Watch(ctx context.Context) {
	var commits *nodes.Commits
	defer func() {
		if commits != nil {
			commits.Close()
		}
	}()
	var stamp nodes.Stamp
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		if commits == nil || commits.Stale() {
			if commits != nil {
				commits.Close()
			}
			commits, _ = s.st.WatchCommits() // nil: ask SQLite every time
		}
		if commits == nil || commits.Stamp() != stamp {
			if commits != nil {
				stamp = commits.Stamp()
			}
			if g, err := s.st.Generation(ctx); err == nil {
				s.publish(g)
			} else if ctx.Err() == nil {
				s.log.Warn("live map: read generation", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) publish(g int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g == s.lastGen {
		return
	}
	s.lastGen = g
	for ch := range s.subs {
		// Only the newest generation matters to a map: replace an
		// unread one rather than block on a slow browser.
		select {
		case <-ch:
		default:
		}
		ch <- g
	}
}

func (s *Server) subscribe() (chan int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.subs) >= maxStreams {
		return nil, false
	}
	ch := make(chan int64, 1)
	s.subs[ch] = struct{}{}
	return ch, true
}

func (s *Server) unsubscribe(ch chan int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs, ch)
}

// events streams the generation to a live map (server-sent events); the
// page then fetches the map's fragment again.
func (s *Server) events(w http.ResponseWriter, r *http.Request, u user) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch, ok := s.subscribe()
	if !ok {
		http.Error(w, "too many live maps open; reload later", http.StatusServiceUnavailable)
		return
	}
	defer s.unsubscribe(ch)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	g, err := s.st.Generation(r.Context())
	if err != nil {
		return
	}
	fmt.Fprintf(w, "retry: 2000\nevent: generation\ndata: %d\n\n", g)
	fl.Flush()
	keepalive := time.NewTicker(25 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case g := <-ch:
			fmt.Fprintf(w, "event: generation\ndata: %d\n\n", g)
		case <-keepalive.C:
			// A comment line, so proxies and NAT keep the stream open.
			fmt.Fprint(w, ": keepalive\n\n")
		}
		fl.Flush()
	}
}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"compress": nodes.Compress,
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			return t.Local().Format(time.DateTime)
		},
		"join": strings.Join,
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/cells.html")
	if err != nil {
		return nil, fmt.Errorf("web templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, name := range []string{"login", "map", "node", "log", "nfsroots", "sshkeys", "plan", "done", "error"} {
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web templates: %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}
