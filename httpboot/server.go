// Package httpboot is the read-only HTTP boot endpoint: the same boot root,
// the same per-node rendering and the same masking as TFTP, for kernels and
// initrds that are too big for TFTP's lock-step transfer in a boot storm.
// Range requests and Content-Length come from http.ServeContent, so
// clients can resume and show progress.
package httpboot

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/node-switch/node-switch/bootprofiles/bootfs"
	"github.com/node-switch/node-switch/metrics"
)

// Handler serves a boot root over HTTP.
type Handler struct {
	FS  *bootfs.FS
	Log *slog.Logger
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only: only GET and HEAD", http.StatusMethodNotAllowed)
		metrics.HTTPTransfer(metrics.Refused, 0)
		h.Log.Info("http write refused", "method", r.Method, "path", r.URL.Path, "client", r.RemoteAddr)
		return
	}
	client := remoteAddr(r)
	server := localAddr(r)
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	c, err := h.FS.Open(ctx, r.URL.Path, client, server)
	cancel()
	if err != nil {
		status, msg := statusOf(err)
		if status == http.StatusInternalServerError {
			h.Log.Error("http read failed", "path", r.URL.Path, "client", client, "err", err)
		} else {
			h.Log.Debug("http refused", "path", r.URL.Path, "client", client, "status", status, "err", err)
		}
		http.Error(w, msg, status)
		metrics.HTTPTransfer(resultOf(err), 0)
		return
	}
	defer c.Close()
	h.Log.Debug("http read", "path", r.URL.Path, "client", client, "node", c.Node, "rendered", c.Rendered, "size", c.Size,
		"range", r.Header.Get("Range"))
	if c.Rendered {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		// A rendered config reflects the inventory now; never cache it.
		w.Header().Set("Cache-Control", "no-store")
	} else {
		// Kernels and initrds are binary whatever their name suggests,
		// and sniffing would cost a read before the first byte.
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	cw := &countingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, "", c.ModTime, c)
	metrics.HTTPTransfer(cw.result(), cw.n)
}

func statusOf(err error) (int, string) {
	switch {
	case errors.Is(err, bootfs.ErrMasked):
		return http.StatusForbidden, "node is masked"
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, bootfs.ErrBadName):
		return http.StatusNotFound, "not found"
	case errors.Is(err, fs.ErrPermission):
		return http.StatusForbidden, "permission denied"
	default:
		return http.StatusInternalServerError, "server error: see node-switch log"
	}
}

// resultOf is statusOf for the transfer counters.
func resultOf(err error) metrics.Result {
	switch {
	case errors.Is(err, bootfs.ErrMasked):
		return metrics.Masked
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, bootfs.ErrBadName):
		return metrics.NotFound
	case errors.Is(err, fs.ErrPermission):
		return metrics.Refused
	default:
		return metrics.Error
	}
}

// countingWriter counts the body bytes sent and notes how the response
// ended. It keeps the ResponseWriter's ReadFrom, which http.ServeContent
// copies through.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
	err    error
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	var (
		n   int64
		err error
	)
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
		w.n += n
	} else {
		n, err = io.Copy(struct{ io.Writer }{w}, r)
	}
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *countingWriter) result() metrics.Result {
	switch {
	case w.err != nil:
		return metrics.Aborted
	case w.status >= 400:
		// A range outside the file (416).
		return metrics.Refused
	}
	return metrics.Sent
}

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func localAddr(r *http.Request) netip.Addr {
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(la.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// NewServer wraps h in an http.Server with the timeouts a boot endpoint
// needs: slow clients may take minutes for an initrd (no write timeout), but
// a connection that never sends its headers is dropped.
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}
