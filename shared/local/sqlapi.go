package local

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// SQLURLVar is the environment variable that tells a query.py script run in
// local mode where to send SQL: in production a script writes to BigQuery
// with its own client; locally the warehouse is DuckDB inside this process,
// so the stack serves it on a loopback URL. A script POSTs JSON
// {"sql": "...", "params": [{"name", "type", "value"}], "default_project",
// "default_dataset"} with the headers
//
//	Content-Type: application/json
//	Authorization: Bearer <the value of SQLTokenVar>
//
// and gets {"columns": [...], "rows": [[...]]}, or {"error": "..."} with
// status 400 (bad SQL), 401 (no or wrong token), 403 (wrong Host, or an
// Origin: a browser), 413 (body over 16 MiB) or 415 (not JSON).
const SQLURLVar = "BQBACKFILL_LOCAL_SQL_URL"

// SQLTokenVar holds the per-stack secret the endpoint requires. Only the
// scripts the stack starts get it (in their environment), so another local
// user, another process of this user, or a web page that guesses the port
// cannot use the endpoint: it runs any statement, DDL included.
const SQLTokenVar = "BQBACKFILL_LOCAL_SQL_TOKEN"

// maxSQLRequest bounds a request body.
const maxSQLRequest = 16 << 20

type sqlRequest struct {
	SQL            string            `json:"sql"`
	Params         []warehouse.Param `json:"params"`
	DefaultProject string            `json:"default_project"`
	DefaultDataset string            `json:"default_dataset"`
}

type sqlResponse struct {
	Columns []string `json:"columns,omitempty"`
	Rows    [][]any  `json:"rows,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// sqlEndpoint is the running endpoint: where it listens and the secret a
// request must carry.
type sqlEndpoint struct {
	URL   string
	Token string
	stop  func()
}

// Env is what a script needs in its environment to use the endpoint.
func (e *sqlEndpoint) Env() []string {
	return []string{SQLURLVar + "=" + e.URL, SQLTokenVar + "=" + e.Token}
}

// serveSQL starts the loopback SQL endpoint over w, with a fresh random
// token.
func serveSQL(w warehouse.Warehouse) (*sqlEndpoint, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("local SQL endpoint: token: %w", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("local SQL endpoint: %w", err)
	}
	ep := &sqlEndpoint{URL: "http://" + lis.Addr().String() + "/query", Token: hex.EncodeToString(secret)}
	h := &sqlHandler{w: w, host: lis.Addr().String(), auth: []byte("Bearer " + ep.Token)}
	mux := http.NewServeMux()
	mux.Handle("POST /query", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(lis)
	ep.stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
	return ep, nil
}

type sqlHandler struct {
	w    warehouse.Warehouse
	host string // the only Host accepted: 127.0.0.1:<port>
	auth []byte // the only Authorization accepted
}

func (h *sqlHandler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	rw.Header().Set("Content-Type", "application/json")
	fail := func(status int, msg string) {
		rw.WriteHeader(status)
		json.NewEncoder(rw).Encode(sqlResponse{Error: msg})
	}
	// Every check runs on every request, the token last so that its
	// comparison is reached only by requests that are otherwise well formed.
	// A browser always sends Origin with a cross-site POST, and a DNS
	// rebinding page reaches us under its own host name.
	if r.Host != h.host {
		fail(http.StatusForbidden, "wrong Host header: the endpoint answers only "+h.host)
		return
	}
	if r.Header.Get("Origin") != "" {
		fail(http.StatusForbidden, "requests from a browser (with an Origin header) are refused")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		fail(http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return
	}
	if got := []byte(strings.TrimSpace(r.Header.Get("Authorization"))); subtle.ConstantTimeCompare(got, h.auth) != 1 {
		fail(http.StatusUnauthorized, "missing or wrong token: send Authorization: Bearer $"+SQLTokenVar)
		return
	}
	var req sqlRequest
	if err := json.NewDecoder(http.MaxBytesReader(rw, r.Body, maxSQLRequest)).Decode(&req); err != nil {
		status := http.StatusBadRequest
		if _, ok := err.(*http.MaxBytesError); ok {
			status = http.StatusRequestEntityTooLarge
		}
		fail(status, "request is not JSON: "+err.Error())
		return
	}
	rows, err := h.w.Read(r.Context(), warehouse.QueryJob{SQL: req.SQL, Params: req.Params, DefaultProject: req.DefaultProject, DefaultDataset: req.DefaultDataset})
	if err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	json.NewEncoder(rw).Encode(sqlResponse{Columns: rows.Columns, Rows: rows.Rows})
}
