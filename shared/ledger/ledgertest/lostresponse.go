// Package ledgertest holds test support for code that keeps state in the
// ledger: HTTP transports in front of a (fake) GCS server, one that loses
// the response of a write that committed, as a dropped connection does on
// real GCS (LostResponse), one that counts listings and reads (Requests).
package ledgertest

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
)

// LostResponse is an http.RoundTripper in front of a (fake) GCS server. The
// first Times uploads whose request body matches Match are sent to the
// server, which commits them; their response is then thrown away and the
// client sees "connection reset by peer", an error the storage client
// retries. Other requests pass through unchanged. Safe for concurrent use.
type LostResponse struct {
	Base http.RoundTripper
	// Match selects the uploads to lose (the body is the multipart upload:
	// object metadata, then content). Nil matches every upload.
	Match func(body []byte) bool
	// Times is how many matching uploads lose their response [1].
	Times int

	mu   sync.Mutex
	lost int
}

// Lost is how many responses were thrown away so far.
func (t *LostResponse) Lost() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lost
}

// RoundTrip implements http.RoundTripper.
func (t *LostResponse) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || !strings.Contains(req.URL.Path, "/upload/") || req.Body == nil {
		return t.Base.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	resp, err := t.Base.RoundTrip(req)
	if err != nil || resp.StatusCode >= 300 || !t.take(body) {
		return resp, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
}

func (t *LostResponse) take(body []byte) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	times := t.Times
	if times <= 0 {
		times = 1
	}
	if t.lost >= times || (t.Match != nil && !t.Match(body)) {
		return false
	}
	t.lost++
	return true
}
