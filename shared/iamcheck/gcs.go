package iamcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
)

// GCS wraps base (the transport of an in-process fake-gcs-server) so that
// every Cloud Storage call is made as principal and checked against
// policy, the way Cloud Storage checks it: objects.list on the bucket,
// objects.get / update / delete on the object (a bucket-level grant
// covers its objects), objects.create for an upload, plus objects.delete
// when the upload replaces an existing object (an overwrite is a delete:
// roles/storage.objectCreator cannot overwrite). A denied call answers 403
// with Cloud Storage's wording, naming the permission. Both the JSON API
// and the XML API reads the Go client uses by default are understood.
func GCS(base http.RoundTripper, policy *Policy, principal string) http.RoundTripper {
	return &gcsTransport{base: base, policy: policy, principal: principal}
}

type gcsTransport struct {
	base      http.RoundTripper
	policy    *Policy
	principal string
}

// gcsCall is what one request does.
type gcsCall struct {
	bucket, object string
	perms          []string
	overwrite      bool // an upload: needs objects.delete if the object exists
	generation     string
	xml            bool
}

func (t *gcsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	call, err := classify(req)
	if err != nil {
		return nil, err
	}
	if call == nil { // not an object or bucket call (batch, service account): not checked
		return t.base.RoundTrip(req)
	}
	if call.overwrite && t.exists(req, call) {
		call.perms = append(call.perms, "storage.objects.delete")
	}
	for _, perm := range call.perms {
		if !t.policy.Allowed(t.principal, perm, Bucket(call.bucket)) {
			return gcsDenied(req, call, t.principal, perm), nil
		}
	}
	return t.base.RoundTrip(req)
}

// classify maps a request to the object or bucket it touches and the
// permissions it needs; for uploads it reads the object name from the
// query or the metadata part and restores the body.
func classify(req *http.Request) (*gcsCall, error) {
	p := req.URL.EscapedPath()
	q := req.URL.Query()
	switch {
	case strings.HasPrefix(p, "/upload/storage/v1/b/"):
		bucket, rest, _ := strings.Cut(strings.TrimPrefix(p, "/upload/storage/v1/b/"), "/")
		if rest != "o" || req.Method != http.MethodPost {
			return nil, nil // a resumable upload's later chunks: checked at its start
		}
		name := q.Get("name")
		if name == "" {
			var err error
			if name, err = uploadName(req); err != nil {
				return nil, err
			}
		}
		gen := q.Get("ifGenerationMatch")
		return &gcsCall{bucket: unescape(bucket), object: name, perms: []string{"storage.objects.create"}, overwrite: gen != "0", generation: gen}, nil
	case strings.HasPrefix(p, "/storage/v1/b/") || strings.HasPrefix(p, "/b/"):
		rest := strings.TrimPrefix(strings.TrimPrefix(p, "/storage/v1"), "/b/")
		bucket, rest, _ := strings.Cut(rest, "/")
		c := &gcsCall{bucket: unescape(bucket)}
		switch {
		case rest == "":
			c.perms = []string{"storage.buckets.get"}
			if req.Method != http.MethodGet {
				c.perms = []string{"storage.buckets.update"}
			}
		case rest == "o":
			c.perms = []string{"storage.objects.list"}
			if req.Method == http.MethodPost {
				return nil, nil // simple media upload without /upload: not used by the Go client
			}
		case strings.HasPrefix(rest, "o/"):
			obj, _, _ := strings.Cut(strings.TrimPrefix(rest, "o/"), "/")
			c.object = unescape(obj)
			switch req.Method {
			case http.MethodGet, http.MethodHead:
				c.perms = []string{"storage.objects.get"}
			case http.MethodDelete:
				c.perms = []string{"storage.objects.delete"}
			default:
				c.perms = []string{"storage.objects.update"}
			}
		default:
			return nil, nil
		}
		return c, nil
	case (req.Method == http.MethodGet || req.Method == http.MethodHead) && len(p) > 1:
		// XML API read: /BUCKET/OBJECT (or the bucket as the host).
		bucket, obj, ok := strings.Cut(strings.TrimPrefix(p, "/"), "/")
		if !ok {
			return nil, nil
		}
		return &gcsCall{bucket: unescape(bucket), object: unescape(obj), perms: []string{"storage.objects.get"}, xml: true}, nil
	}
	return nil, nil
}

// uploadName reads the object name from a multipart or resumable upload's
// metadata and puts the body back.
func uploadName(req *http.Request) (string, error) {
	if req.Body == nil {
		return "", nil
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return "", fmt.Errorf("iamcheck: read upload body: %w", err)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	meta := body
	if mt, params, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err == nil && strings.HasPrefix(mt, "multipart/") {
		part, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).NextPart()
		if err != nil {
			return "", fmt.Errorf("iamcheck: read upload metadata: %w", err)
		}
		if meta, err = io.ReadAll(part); err != nil {
			return "", fmt.Errorf("iamcheck: read upload metadata: %w", err)
		}
	}
	var m struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(meta, &m); err != nil {
		return "", fmt.Errorf("iamcheck: upload metadata: %w", err)
	}
	return m.Name, nil
}

// exists asks the server (unchecked) whether an upload would replace an
// object: with ifGenerationMatch set it does unless the precondition
// fails, which the server answers anyway.
func (t *gcsTransport) exists(req *http.Request, c *gcsCall) bool {
	if c.generation != "" {
		return true
	}
	u := *req.URL
	u.Path = "/storage/v1/b/" + c.bucket + "/o/" + c.object
	u.RawPath = "/storage/v1/b/" + url.PathEscape(c.bucket) + "/o/" + url.PathEscape(c.object)
	u.RawQuery = ""
	head, err := http.NewRequestWithContext(req.Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		return false
	}
	resp, err := t.base.RoundTrip(head)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// gcsDenied is Cloud Storage's 403 for a missing permission.
func gcsDenied(req *http.Request, c *gcsCall, principal, perm string) *http.Response {
	what := "object"
	if c.object == "" {
		what = "bucket"
	}
	msg := fmt.Sprintf("%s does not have %s access to the Google Cloud Storage %s. Permission '%s' denied on resource (or it may not exist).", principal, perm, what, perm)
	var body []byte
	ctype := "application/json; charset=UTF-8"
	if c.xml {
		ctype = "application/xml; charset=UTF-8"
		body = []byte("<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code><Message>Access denied.</Message><Details>" + msg + "</Details></Error>")
	} else {
		body, _ = json.Marshal(map[string]any{"error": map[string]any{
			"code": http.StatusForbidden, "message": msg,
			"errors": []map[string]string{{"message": msg, "domain": "global", "reason": "forbidden"}},
		}})
	}
	return &http.Response{
		Status: "403 Forbidden", StatusCode: http.StatusForbidden, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {ctype}},
		Body:    io.NopCloser(bytes.NewReader(body)),
		Request: req, ContentLength: int64(len(body)),
	}
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}
