// Package bqfake is a stateful fake of the BigQuery v2 REST API on a
// loopback HTTP server, for contract tests of code that uses
// cloud.google.com/go/bigquery. It records every request, so tests can
// assert the exact job configurations, table bodies and IAM policies a
// client sent, and it answers them from an in-memory model, so the client
// library's polling and read-modify-write flows work end to end.
//
// What it models:
//
//   - datasets (get, insert, patch with If-Match, delete) and tables (get,
//     insert, patch/update with If-Match, delete; a partition decorator in
//     a table id addresses one partition), table expiration (expired tables
//     are gone) and dataset default table expiration;
//   - row counts per partition (no row values): query jobs write the rows
//     their QueryHandler returns into the destination table or partition,
//     honouring the write and create dispositions and BigQuery's rule that
//     a write into a partition of a column-partitioned table fails when a
//     row belongs to another partition; copy jobs copy partition counts;
//     CLONE copy jobs create the destination with the source's metadata;
//   - schema semantics of writes into existing tables (schema.go):
//     WRITE_TRUNCATE vs WRITE_TRUNCATE_DATA, REQUIRED columns, a result or
//     source that does not fit the destination's schema is rejected with
//     BigQuery's message; a copy from an empty partition is an error
//     (BigQuery's behaviour is undocumented);
//   - jobs: jobs.insert runs the job at once and stores it; jobs.get and
//     getQueryResults return it (a failed query job's getQueryResults
//     answers with the job's error, as BigQuery does); jobs.query (the
//     client's fast path for reads) runs the query synchronously; dry runs
//     return bytes without storing a job;
//   - table IAM policies (getIamPolicy, setIamPolicy with etag checks):
//     policy versions (a conditional binding reads as "<role>_withcond_<hash>"
//     below version 3, a conditional policy needs version 3 to be written),
//     only roles grantable on a table, allUsers / allAuthenticatedUsers
//     accepted as BigQuery does;
//   - INFORMATION_SCHEMA.PARTITIONS queries of the form the bigquery
//     adapter sends (see partitionsHandler);
//   - the DML that empties partitions (dml.go): DELETE of whole-partition
//     ranges of the partitioning column and TRUNCATE TABLE, which need
//     bigquery.tables.updateData on the table;
//   - permissions (authz.go, EnforceIAM): each call is authorised for the
//     principal of its bearer token (ClientOptionsAs) from project grants,
//     dataset access entries and table policies, and answered 403
//     accessDenied naming the missing permission;
//   - injected HTTP errors (InjectFault) and failed jobs (FailJobs).
//
// It evaluates no SQL: query results come from QueryHandlers registered
// with OnQuery. An unhandled query succeeds with an empty result.
//
// Point the real client at it with the options from ClientOptions.
package bqfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"google.golang.org/api/option"
)

// Request is one recorded HTTP request.
type Request struct {
	Method string
	// Path is the URL path below the API root, decoded, e.g.
	// "/projects/p/datasets/d/tables/t$20240101".
	Path string
	// Op is the REST method, e.g. "jobs.insert", "tables.getIamPolicy"
	// ("" for a path the fake does not serve).
	Op     string
	Query  url.Values
	Header http.Header
	Body   []byte
}

// Decode unmarshals the request body into v (for example a *bq.Job for
// jobs.insert or a *bq.Table for tables.insert).
func (r Request) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("decode body of %s %s: %w", r.Method, r.Path, err)
	}
	return nil
}

// Fault makes matching requests fail with an HTTP error.
type Fault struct {
	// Op is the REST method to fail, e.g. "jobs.insert", "tables.get",
	// "tables.setIamPolicy", "jobs.query"; "" matches every request.
	Op string
	// Resource, when set, must be a substring of the request path, e.g.
	// "tables/daily" or "jobs/bf-".
	Resource string
	// Status is the HTTP status (e.g. 503); Reason the error reason
	// (e.g. "backendError"); Message the text ("" = a generic one).
	Status  int
	Reason  string
	Message string
	// Times is how many matching requests fail; 0 means every one.
	Times int
}

// JobFault makes matching jobs fail: the job is created and reports
// status DONE with an errorResult, as BigQuery reports a job that ran and
// failed.
type JobFault struct {
	// Type is "QUERY" or "COPY" ("" = any).
	Type string
	// Table, when set, must be a substring of the destination table id
	// (decorator included), e.g. "daily$20240101".
	Table string
	// Reason is the job error reason ("invalidQuery", "backendError",
	// "notFound", ...); Message its text.
	Reason  string
	Message string
	// Times is how many matching jobs fail; 0 means every one.
	Times int
}

// Server is the fake. The zero value is not usable; call New. All methods
// are safe for concurrent use.
type Server struct {
	// URL is the server's base URL (http://127.0.0.1:port).
	URL string

	srv *httptest.Server

	mu         sync.Mutex
	now        func() time.Time
	requests   []Request
	faults     []*Fault
	jobFaults  []*JobFault
	handlers   []QueryHandler
	datasets   map[string]*dataset // "project.dataset"
	jobs       map[string]*jobState
	jobOrder   []string
	seq        int64
	pending    int
	cancelPoll int // polls a cancelled running job still reports RUNNING to
	defaultLoc string

	// Permissions (authz.go).
	enforce       bool
	projectGrants map[string][][2]string // project -> (role, member)
	customRoles   map[string][]string
}

// New starts a fake on a loopback port. Close it when done (t.Cleanup(s.Close)).
func New() *Server {
	s := &Server{
		now:        time.Now,
		datasets:   map[string]*dataset{},
		jobs:       map[string]*jobState{},
		defaultLoc: "US",
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// Endpoint is the API root to pass to option.WithEndpoint.
func (s *Server) Endpoint() string { return s.URL + "/bigquery/v2/" }

// ClientOptions point a BigQuery client at the fake without authentication.
func (s *Server) ClientOptions() []option.ClientOption {
	return []option.ClientOption{option.WithEndpoint(s.Endpoint()), option.WithoutAuthentication()}
}

// SetClock makes the fake read time from now (job timestamps, table
// creation and modification times, expiration). The default is time.Now.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetPendingPolls makes every job inserted from now on report RUNNING to
// its first n jobs.get / getQueryResults calls before it reports DONE, to
// exercise a client's polling.
func (s *Server) SetPendingPolls(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = n
}

// SetCancelPolls makes a running job that is cancelled report RUNNING to
// its next n jobs.get / getQueryResults calls before it reports DONE with
// reason "stopped" (default 0: at once). BigQuery's jobs.cancel "will
// return immediately, and the client will need to poll for the job status
// to see if the cancel completed successfully".
func (s *Server) SetCancelPolls(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancelPoll = n
}

// InjectFault adds an HTTP fault. Faults are checked in the order added;
// the first matching fault with attempts left answers the request.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ff := f
	s.faults = append(s.faults, &ff)
}

// FailJobs adds a job fault. The first matching fault with attempts left
// fails the job.
func (s *Server) FailJobs(f JobFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ff := f
	s.jobFaults = append(s.jobFaults, &ff)
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults, s.jobFaults = nil, nil
}

// Requests returns every recorded request, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// RequestsFor returns the recorded requests of one REST method (e.g.
// "jobs.insert"), oldest first.
func (s *Server) RequestsFor(op string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// ResetRequests forgets the recorded requests (the model is kept).
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// route is a parsed request path.
type route struct {
	op                  string
	principal           string // the caller's email (bearer token)
	project, dataset    string
	table, jobID, extra string
}

// parseRoute maps a path below /bigquery/v2 to its REST method.
func parseRoute(method, path string) route {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) < 2 || segs[0] != "projects" {
		return route{}
	}
	r := route{project: segs[1]}
	rest := segs[2:]
	if len(rest) == 0 {
		return route{}
	}
	switch rest[0] {
	case "jobs":
		switch {
		case len(rest) == 1 && method == http.MethodPost:
			r.op = "jobs.insert"
		case len(rest) == 1 && method == http.MethodGet:
			r.op = "jobs.list"
		case len(rest) == 2 && method == http.MethodGet:
			r.op, r.jobID = "jobs.get", rest[1]
		case len(rest) == 3 && rest[2] == "cancel" && method == http.MethodPost:
			r.op, r.jobID = "jobs.cancel", rest[1]
		case len(rest) == 3 && rest[2] == "delete" && method == http.MethodDelete:
			r.op, r.jobID = "jobs.delete", rest[1]
		}
	case "queries":
		switch {
		case len(rest) == 1 && method == http.MethodPost:
			r.op = "jobs.query"
		case len(rest) == 2 && method == http.MethodGet:
			r.op, r.jobID = "jobs.getQueryResults", rest[1]
		}
	case "datasets":
		switch {
		case len(rest) == 1 && method == http.MethodPost:
			r.op = "datasets.insert"
		case len(rest) == 2:
			r.dataset = rest[1]
			switch method {
			case http.MethodGet:
				r.op = "datasets.get"
			case http.MethodPatch:
				r.op = "datasets.patch"
			case http.MethodPut:
				r.op = "datasets.update"
			case http.MethodDelete:
				r.op = "datasets.delete"
			}
		case len(rest) == 3 && rest[2] == "tables" && method == http.MethodPost:
			r.dataset, r.op = rest[1], "tables.insert"
		case len(rest) == 4 && rest[2] == "tables":
			r.dataset = rest[1]
			table, verb, hasVerb := strings.Cut(rest[3], ":")
			r.table = table
			switch {
			case hasVerb && method == http.MethodPost && verb == "getIamPolicy":
				r.op = "tables.getIamPolicy"
			case hasVerb && method == http.MethodPost && verb == "setIamPolicy":
				r.op = "tables.setIamPolicy"
			case hasVerb:
			case method == http.MethodGet:
				r.op = "tables.get"
			case method == http.MethodPatch:
				r.op = "tables.patch"
			case method == http.MethodPut:
				r.op = "tables.update"
			case method == http.MethodDelete:
				r.op = "tables.delete"
			}
		}
	}
	return r
}

func (s *Server) serveHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "read body: "+err.Error())
		return
	}
	path := strings.TrimPrefix(req.URL.Path, "/bigquery/v2")
	rt := parseRoute(req.Method, path)
	rt.principal = principalOf(req)

	s.mu.Lock()
	s.requests = append(s.requests, Request{
		Method: req.Method, Path: path, Op: rt.op, Query: req.URL.Query(),
		Header: req.Header.Clone(), Body: body,
	})
	f := s.matchFault(rt.op, path)
	denied := s.authorizeCall(rt)
	s.mu.Unlock()

	if f != nil {
		msg := f.Message
		if msg == "" {
			msg = fmt.Sprintf("injected %d %s", f.Status, f.Reason)
		}
		writeError(w, f.Status, f.Reason, msg)
		return
	}
	if denied != nil {
		writeError(w, denied.status, denied.reason, denied.message)
		return
	}

	var (
		resp any
		herr *httpError
	)
	switch rt.op {
	case "jobs.insert":
		resp, herr = s.jobsInsert(rt, body)
	case "jobs.get":
		resp, herr = s.jobsGet(rt)
	case "jobs.getQueryResults":
		resp, herr = s.getQueryResults(rt, req.URL.Query())
	case "jobs.query":
		resp, herr = s.jobsQuery(rt, body)
	case "jobs.cancel":
		resp, herr = s.jobsCancel(rt)
	case "datasets.get":
		resp, herr = s.datasetsGet(rt)
	case "datasets.insert":
		resp, herr = s.datasetsInsert(rt, body)
	case "datasets.patch", "datasets.update":
		resp, herr = s.datasetsPatch(rt, body, req.Header.Get("If-Match"), rt.op == "datasets.update")
	case "datasets.delete":
		resp, herr = s.datasetsDelete(rt, req.URL.Query().Get("deleteContents") == "true")
	case "tables.get":
		resp, herr = s.tablesGet(rt)
	case "tables.insert":
		resp, herr = s.tablesInsert(rt, body)
	case "tables.patch", "tables.update":
		resp, herr = s.tablesPatch(rt, body, req.Header.Get("If-Match"))
	case "tables.delete":
		resp, herr = s.tablesDelete(rt)
	case "tables.getIamPolicy":
		resp, herr = s.getIamPolicy(rt, body)
	case "tables.setIamPolicy":
		resp, herr = s.setIamPolicy(rt, body)
	default:
		herr = &httpError{http.StatusNotFound, "notFound", fmt.Sprintf("bqfake does not serve %s %s", req.Method, path)}
	}
	if herr != nil {
		writeError(w, herr.status, herr.reason, herr.message)
		return
	}
	if resp == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(resp); err != nil {
		writeError(w, http.StatusInternalServerError, "internalError", "encode response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(buf.Bytes())
}

// matchFault returns the first fault matching the request and uses one of
// its attempts. Callers hold s.mu.
func (s *Server) matchFault(op, path string) *Fault {
	for i, f := range s.faults {
		if f.Op != "" && f.Op != op {
			continue
		}
		if f.Resource != "" && !strings.Contains(path, f.Resource) {
			continue
		}
		hit := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return &hit
	}
	return nil
}

// httpError is an error answer.
type httpError struct {
	status  int
	reason  string
	message string
}

func errNotFound(format string, args ...any) *httpError {
	return &httpError{http.StatusNotFound, "notFound", "Not found: " + fmt.Sprintf(format, args...)}
}

func errDuplicate(format string, args ...any) *httpError {
	return &httpError{http.StatusConflict, "duplicate", "Already Exists: " + fmt.Sprintf(format, args...)}
}

func errInvalid(format string, args ...any) *httpError {
	return &httpError{http.StatusBadRequest, "invalid", fmt.Sprintf(format, args...)}
}

// statusText maps HTTP statuses to the canonical status names BigQuery
// puts in error bodies.
var statusText = map[int]string{
	400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
	409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION", 429: "RESOURCE_EXHAUSTED",
	500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

// writeError writes a Google API JSON error body, which the client turns
// into a *googleapi.Error with Code, Message and Errors[0].Reason.
func writeError(w http.ResponseWriter, status int, reason, message string) {
	body := map[string]any{"error": map[string]any{
		"code":    status,
		"message": message,
		"errors":  []map[string]string{{"message": message, "domain": "global", "reason": reason}},
		"status":  statusText[status],
	}}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// statusForReason is the HTTP status BigQuery answers a job error reason
// with when it surfaces through a synchronous call (jobs.query,
// getQueryResults of a failed job).
func statusForReason(reason string) int {
	switch reason {
	case "notFound":
		return http.StatusNotFound
	case "duplicate":
		return http.StatusConflict
	case "accessDenied", "quotaExceeded", "rateLimitExceeded", "billingNotEnabled":
		return http.StatusForbidden
	case "backendError":
		return http.StatusInternalServerError
	case "internalError":
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// clone deep-copies a JSON-serialisable value.
func clone[T any](v *T) *T {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("bqfake: copy %T: %v", v, err))
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("bqfake: copy %T: %v", v, err))
	}
	return out
}

// nextID returns a fresh sequence number. Callers hold s.mu.
func (s *Server) nextID() int64 {
	s.seq++
	return s.seq
}
