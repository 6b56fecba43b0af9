package local

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// SQLURLVar is the environment variable that tells a query.py script run in
// local mode where to send SQL: in production a script writes to BigQuery
// with its own client; locally the warehouse is DuckDB inside this process,
// so the stack serves it on a loopback URL. A script POSTs JSON
// {"sql": "...", "params": [{"name", "type", "value"}], "default_project",
// "default_dataset"} and gets {"columns": [...], "rows": [[...]]} or
// {"error": "..."} with status 400.
const SQLURLVar = "BQBACKFILL_LOCAL_SQL_URL"

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

// serveSQL starts the loopback SQL endpoint over w and returns its URL and
// a stop function.
func serveSQL(w warehouse.Warehouse) (string, func(), error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("local SQL endpoint: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /query", func(rw http.ResponseWriter, r *http.Request) {
		var req sqlRequest
		rw.Header().Set("Content-Type", "application/json")
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			rw.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(rw).Encode(sqlResponse{Error: "request is not JSON: " + err.Error()})
			return
		}
		rows, err := w.Read(r.Context(), warehouse.QueryJob{SQL: req.SQL, Params: req.Params, DefaultProject: req.DefaultProject, DefaultDataset: req.DefaultDataset})
		if err != nil {
			rw.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(rw).Encode(sqlResponse{Error: err.Error()})
			return
		}
		json.NewEncoder(rw).Encode(sqlResponse{Columns: rows.Columns, Rows: rows.Rows})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(lis)
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
	return "http://" + lis.Addr().String() + "/query", stop, nil
}
