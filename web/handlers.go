package web

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/node-switch/node-switch/nodes"
)

// sessionCookie is the session's cookie. The __Host- prefix makes a
// browser take it only when Secure, for Path=/ and without a Domain, so a
// neighbour on the same domain (another service on the head, a sibling
// subdomain) cannot plant one of its own for a login-CSRF.
const sessionCookie = "__Host-node_switch_session"

// user is who a request acts for.
type user struct {
	Name string
	Role string
	CSRF string // "" for an API token (the API is read-only)
	From string // source address, for the logbook
	// token is the session's, for logout.
	token string
}

func (u user) CanOperate() bool { return u.Role == nodes.RoleOperate }

func (u user) actor() nodes.Actor { return nodes.WebUserActor(u.Name, u.From) }

func remoteHost(r *http.Request) string { return sourceKey(r.RemoteAddr) }

// sessionUser finds the request's session and checks its user still exists
// with a role: "web-user rm" ends every session of that user at its next
// request, and a role changed by rm + add takes effect at once.
func (s *Server) sessionUser(r *http.Request) (user, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return user{}, false
	}
	se, ok := s.sessions.get(c.Value)
	if !ok {
		return user{}, false
	}
	wu, _, err := s.st.WebUserHash(r.Context(), se.user)
	if err != nil {
		s.sessions.drop(c.Value)
		return user{}, false
	}
	return user{Name: wu.Name, Role: wu.Role, CSRF: se.csrf, From: remoteHost(r), token: c.Value}, true
}

// page runs h for a logged-in browser; others are sent to the login form
// (a GET) or refused (anything else).
func (s *Server) page(h func(http.ResponseWriter, *http.Request, user)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, ok := s.sessionUser(r)
		if !ok {
			if r.Method == http.MethodGet && r.URL.Path != "/events" && r.URL.Path != "/map/fragment" {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "not logged in: log in at /login", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodPost && !s.checkCSRF(w, r, u) {
			return
		}
		h(w, r, u)
	}
}

// checkCSRF refuses a POST whose form lacks the session's token: another
// site can make a browser send the cookie (older browsers ignore
// SameSite), never read the token.
func (s *Server) checkCSRF(w http.ResponseWriter, r *http.Request, u user) bool {
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, r, u, http.StatusRequestEntityTooLarge, fmt.Errorf("form larger than %d bytes: select fewer nodes, or name them by a range", maxForm))
			return false
		}
		s.fail(w, r, u, http.StatusBadRequest, fmt.Errorf("malformed form: %v", err))
		return false
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(u.CSRF)) != 1 {
		s.log.Warn("web: POST without a valid CSRF token refused", "user", u.Name, "from", u.From, "path", r.URL.Path)
		s.fail(w, r, u, http.StatusForbidden, errors.New("missing or stale form token (CSRF): reload the page and submit again; nothing was changed"))
		return false
	}
	return true
}

// operate runs h only for web users of role operate.
func (s *Server) operate(h func(http.ResponseWriter, *http.Request, user)) func(http.ResponseWriter, *http.Request, user) {
	return func(w http.ResponseWriter, r *http.Request, u user) {
		if !u.CanOperate() {
			s.fail(w, r, u, http.StatusForbidden, fmt.Errorf("web user %s has role %s: changes need role operate; nothing was changed", u.Name, u.Role))
			return
		}
		h(w, r, u)
	}
}

// api runs h for a session or an API token of a web user (Authorization:
// Bearer, web-user token add). HTTP Basic is refused without hashing
// anything: it made every API request cost a password hash (~60 ms of a
// core and 19 MiB of memory), which a polling script or a guesser turned
// into load on the head that serves DHCP and TFTP; a token is checked
// with one SHA-256.
func (s *Server) api(h func(http.ResponseWriter, *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.sessionUser(r); !ok {
			if _, err := s.tokenUser(r); err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="node-switch"`)
				apiError(w, http.StatusUnauthorized, err)
				return
			}
		}
		v, err := h(w, r)
		if err != nil {
			apiError(w, statusOf(err), err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(v)
	}
}

// maxTokenLen bounds what is hashed and looked up as a token.
const maxTokenLen = 128

// tokenUser finds the user of the request's API token. Its errors are
// what the client is told; none carries the token.
func (s *Server) tokenUser(r *http.Request) (user, error) {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	cred = strings.TrimSpace(cred)
	switch {
	case scheme == "":
		return user{}, errors.New("log in, or send an API token (node-switch web-user token add NAME) as 'Authorization: Bearer TOKEN'")
	case strings.EqualFold(scheme, "Basic"):
		return user{}, errors.New("HTTP Basic is not accepted: make an API token (node-switch web-user token add NAME) and send it as 'Authorization: Bearer TOKEN'")
	case !strings.EqualFold(scheme, "Bearer"):
		return user{}, fmt.Errorf("authorization scheme %.20q: send an API token as 'Authorization: Bearer TOKEN'", scheme)
	case !strings.HasPrefix(cred, TokenPrefix) || len(cred) > maxTokenLen:
		return user{}, fmt.Errorf("not a node-switch API token (they start with %s)", TokenPrefix)
	}
	wu, tok, err := s.st.WebTokenUser(r.Context(), TokenHash(cred))
	if errors.Is(err, nodes.ErrNotFound) {
		s.log.Debug("web: unknown or revoked API token", "from", remoteHost(r))
		return user{}, errors.New("unknown or revoked API token")
	}
	if err != nil {
		s.log.Error("web: look up an API token", "err", err)
		return user{}, errors.New("API token could not be checked; see the server's log")
	}
	if tok.Expired(s.cfg.Now()) {
		s.log.Warn("web: expired API token used", "user", wu.Name, "token", tok.ID, "from", remoteHost(r))
		return user{}, fmt.Errorf("API token %s of %s expired at %s: make a new one (node-switch web-user token add %s)",
			tok.ID, wu.Name, tok.ExpiresAt.Format(time.DateTime)+" UTC", wu.Name)
	}
	return user{Name: wu.Name, Role: wu.Role, From: remoteHost(r)}, nil
}

func apiError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// authenticate checks a name and password under the login limits: the
// attempt is reserved for its source first (refused 429 when the source
// has none left), then waits for one of the few hash slots (refused 503
// when too many wait already); only then is the password hashed. It
// returns the HTTP status to refuse with, having set Retry-After.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, name, password string) (int, error) {
	src := remoteHost(r)
	res, ok, wait := s.logins.reserve(src)
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
		if wait > inflightRetry {
			return http.StatusTooManyRequests, fmt.Errorf("too many failed logins from %s: try again after %s", src, s.cfg.Now().Add(wait).Local().Format(time.TimeOnly))
		}
		return http.StatusTooManyRequests, fmt.Errorf("logins from %s are being checked: try again in a second", src)
	}
	failed := false
	defer func() { res.done(failed) }()
	release, ok := s.hashes.acquire(r.Context())
	if !ok {
		w.Header().Set("Retry-After", "1")
		s.log.Warn("web: login refused, too many password checks at once", "from", src)
		return http.StatusServiceUnavailable, errors.New("too many logins at once: try again in a second")
	}
	defer release()
	hash := dummyHash()
	_, h, err := s.st.WebUserHash(r.Context(), name)
	if err == nil {
		hash = h
	} else if !errors.Is(err, nodes.ErrNotFound) {
		return http.StatusInternalServerError, err
	}
	s.passwordChecks.Add(1)
	ok, cerr := CheckPassword(hash, password)
	// Each hash leaves 19 MiB of garbage, which serve's collector settings
	// (GOGC=400 under a 128 MiB soft limit, for DHCP's sake) let pile up
	// to the limit: 146 MiB after a burst of 5. Collecting while the slot
	// is held lets the next hash reuse the memory, so the login path holds
	// about what its running hashes need (a collection of serve's small
	// heap costs a few ms against the hash's ~60).
	runtime.GC()
	if cerr != nil {
		s.log.Error("web: password hash of a web user is malformed", "user", name, "err", cerr)
	}
	if err != nil || !ok {
		failed = true
		s.log.Warn("web: failed login", "user", name, "from", src)
		return http.StatusUnauthorized, errors.New("wrong user name or password")
	}
	return 0, nil
}

// retrySeconds is a Retry-After value: whole seconds, rounded up.
func retrySeconds(d time.Duration) int {
	return int(max(1, (d+time.Second-1)/time.Second))
}

type loginView struct {
	Title string
	User  user
	Error string
	Name  string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.sessionUser(r); ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "login", loginView{Title: "Log in"})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.render(w, http.StatusBadRequest, "login", loginView{Title: "Log in", Error: "malformed form"})
		return
	}
	name, pass := r.PostForm.Get("name"), r.PostForm.Get("password")
	status, err := s.authenticate(w, r, name, pass)
	if err != nil {
		s.render(w, status, "login", loginView{Title: "Log in", Error: err.Error(), Name: name})
		return
	}
	token, _ := s.sessions.create(name, remoteHost(r))
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.cfg.SessionTTL / time.Second)})
	s.log.Info("web: login", "user", name, "from", remoteHost(r))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, u user) {
	s.sessions.drop(u.token)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// render executes a page into a buffer first, so a template error becomes
// a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, status int, page string, v any) {
	var b bytes.Buffer
	if err := s.pages[page].ExecuteTemplate(&b, "layout", v); err != nil {
		s.log.Error("web: render", "page", page, "err", err)
		http.Error(w, "internal error rendering "+page, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	b.WriteTo(w)
}

type errorView struct {
	Title  string
	User   user
	Status int
	Error  string
}

// fail shows an error page saying what was wrong.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, u user, status int, err error) {
	if status >= 500 {
		s.log.Error("web: request failed", "path", r.URL.Path, "user", u.Name, "err", err)
	}
	s.render(w, status, "error", errorView{Title: http.StatusText(status), User: u, Status: status, Error: err.Error()})
}

// statusOf maps an error from nodes or ops to an HTTP status: bad input
// 400, refused or nothing to do 409, the rest 500.
func statusOf(err error) int {
	switch {
	case errors.Is(err, nodes.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, nodes.ErrNothingToDo), errors.Is(err, nodes.ErrRefused), errors.Is(err, nodes.ErrChanged):
		return http.StatusConflict
	case errors.Is(err, nodes.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, context.Canceled):
		return 499
	}
	return http.StatusInternalServerError
}

func atoiDefault(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, nodes.Invalid(fmt.Errorf("limit %q: want a whole number", s))
	}
	return n, nil
}
