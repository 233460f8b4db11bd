package web

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/node-switch/node-switch/nodes"
)

const sessionCookie = "node_switch_session"

// user is who a request acts for.
type user struct {
	Name string
	Role string
	CSRF string // "" for HTTP Basic (the API is read-only)
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

// api runs h for a session or for HTTP Basic credentials of a web user.
func (s *Server) api(h func(http.ResponseWriter, *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.sessionUser(r); !ok {
			name, pass, basic := r.BasicAuth()
			if !basic {
				w.Header().Set("WWW-Authenticate", `Basic realm="node-switch", charset="UTF-8"`)
				apiError(w, http.StatusUnauthorized, errors.New("log in with HTTP Basic as a web user (node-switch web-user add)"))
				return
			}
			if status, err := s.authenticate(r, name, pass); err != nil {
				if status == http.StatusUnauthorized {
					w.Header().Set("WWW-Authenticate", `Basic realm="node-switch", charset="UTF-8"`)
				}
				apiError(w, status, err)
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

func apiError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// authenticate checks a name and password under the login limit. It
// returns the HTTP status to refuse with.
func (s *Server) authenticate(r *http.Request, name, password string) (int, error) {
	src := remoteHost(r)
	if blocked, until := s.logins.blocked(src); blocked {
		return http.StatusTooManyRequests, fmt.Errorf("too many failed logins from %s: try again after %s", src, until.Local().Format(time.TimeOnly))
	}
	hash := dummyHash()
	_, h, err := s.st.WebUserHash(r.Context(), name)
	if err == nil {
		hash = h
	} else if !errors.Is(err, nodes.ErrNotFound) {
		return http.StatusInternalServerError, err
	}
	ok, cerr := CheckPassword(hash, password)
	if cerr != nil {
		s.log.Error("web: password hash of a web user is malformed", "user", name, "err", cerr)
	}
	if err != nil || !ok {
		s.logins.fail(src)
		s.log.Warn("web: failed login", "user", name, "from", src)
		return http.StatusUnauthorized, errors.New("wrong user name or password")
	}
	return 0, nil
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
	status, err := s.authenticate(r, name, pass)
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
