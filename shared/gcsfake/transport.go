package gcsfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// MatchGlob wraps base, fake-gcs-server's transport
// (fakestorage.Server.HTTPClient().Transport), with matchGlob on JSON API
// object listings (GET .../b/<bucket>/o?matchGlob=G), modelled on what
// Cloud Storage documents: the glob filters the objects the listing returns
// and combines with prefix (an object is listed when it has the prefix and
// its whole name matches the glob). The request goes to the fake without
// matchGlob and the response's "items" are filtered by the glob; its
// "prefixes" and "nextPageToken" are kept as the fake returns them, so a
// page may come back short, even empty, with a token, which real Cloud
// Storage may also do. A glob CompileGlob rejects is answered 400, as Cloud
// Storage answers an invalid glob, without reaching the fake. Every other
// request passes through unchanged.
func MatchGlob(base http.RoundTripper) http.RoundTripper { return globTransport{base: base} }

type globTransport struct{ base http.RoundTripper }

func (t globTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	q := req.URL.Query()
	pattern := q.Get("matchGlob")
	if req.Method != http.MethodGet || !strings.HasSuffix(req.URL.Path, "/o") || pattern == "" {
		// The storage client sends matchGlob= (empty) on every listing:
		// no glob.
		return t.base.RoundTrip(req)
	}
	g, err := CompileGlob(pattern)
	if err != nil {
		return errorResponse(req, http.StatusBadRequest, err.Error()), nil
	}
	q.Del("matchGlob")
	fwd := req.Clone(req.Context())
	fwd.URL.RawQuery = q.Encode()
	resp, err := t.base.RoundTrip(fwd)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("gcsfake: read listing: %w", err)
	}
	filtered, err := filterItems(body, g)
	if err != nil {
		return nil, fmt.Errorf("gcsfake: filter listing by matchGlob %q: %w", pattern, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(filtered))
	resp.ContentLength = int64(len(filtered))
	resp.Header = resp.Header.Clone()
	resp.Header.Set("Content-Length", strconv.Itoa(len(filtered)))
	resp.Header.Del("Content-Encoding")
	return resp, nil
}

// filterItems keeps the listing's items whose name matches g and leaves
// every other field of the response as it is.
func filterItems(body []byte, g *Glob) ([]byte, error) {
	var page map[string]json.RawMessage
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, err
	}
	raw, ok := page["items"]
	if !ok {
		return body, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("items: %w", err)
	}
	kept := items[:0]
	for _, it := range items {
		var obj struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(it, &obj); err != nil {
			return nil, fmt.Errorf("item: %w", err)
		}
		if g.Match(obj.Name) {
			kept = append(kept, it)
		}
	}
	if len(kept) == 0 {
		delete(page, "items") // as Cloud Storage omits an empty list
		return json.Marshal(page)
	}
	raw, err := json.Marshal(kept)
	if err != nil {
		return nil, err
	}
	page["items"] = raw
	return json.Marshal(page)
}

// errorResponse is a JSON API error response, the shape the storage
// client turns into a *googleapi.Error.
func errorResponse(req *http.Request, code int, msg string) *http.Response {
	body, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"errors": []map[string]string{{"domain": "global", "reason": "invalid", "message": msg}},
	}})
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", code, http.StatusText(code)),
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json; charset=UTF-8"}, "Content-Length": {strconv.Itoa(len(body))}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
