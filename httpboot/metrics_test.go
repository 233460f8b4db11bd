package httpboot

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/node-switch/node-switch/metrics"
)

// TestCountingWriter: the bytes counted are the body bytes ServeContent
// sends, for whole files, ranges and HEAD, and a refused range is told apart.
func TestCountingWriter(t *testing.T) {
	body := strings.Repeat("k", 10000)
	for _, tc := range []struct {
		name, method, rng string
		bytes             int64
		result            metrics.Result
	}{
		{"whole file", "GET", "", 10000, metrics.Sent},
		{"range", "GET", "bytes=100-199", 100, metrics.Sent},
		{"head", "HEAD", "", 0, metrics.Sent},
		// ServeContent's error text ("invalid range: failed to overlap\n").
		{"range outside the file", "GET", "bytes=20000-", 33, metrics.Refused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/vmlinuz", nil)
			if tc.rng != "" {
				r.Header.Set("Range", tc.rng)
			}
			rec := httptest.NewRecorder()
			cw := &countingWriter{ResponseWriter: rec}
			http.ServeContent(cw, r, "", time.Time{}, strings.NewReader(body))
			if cw.n != int64(rec.Body.Len()) || cw.n != tc.bytes {
				t.Errorf("counted %d bytes, body has %d, want %d", cw.n, rec.Body.Len(), tc.bytes)
			}
			if got := cw.result(); got != tc.result {
				t.Errorf("result %v (status %d), want %v", got, rec.Code, tc.result)
			}
		})
	}
}
