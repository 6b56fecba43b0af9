package local

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSQLEndpointRefusesStrangers: only a request with the stack's token,
// JSON content and the endpoint's own Host runs SQL (review: hostile
// input, item 1). The probes try to drop a table; it must survive them.
func TestSQLEndpointRefusesStrangers(t *testing.T) {
	s := openStack(t, Options{})
	loadWarehouse(t, s)
	u, err := url.Parse(s.sql.URL)
	if err != nil {
		t.Fatal(err)
	}
	drop := `{"sql": "DROP TABLE ` + "`" + dauTable.String() + "`" + `"}`
	count := `{"sql": "SELECT COUNT(*) AS n FROM ` + "`" + dauTable.String() + "`" + `"}`
	good := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + s.sql.Token}
	with := func(k, v string) map[string]string {
		h := map[string]string{}
		for a, b := range good {
			h[a] = b
		}
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	tests := []struct {
		name    string
		headers map[string]string
		host    string
		status  int
	}{
		{"no token", with("Authorization", ""), "", http.StatusUnauthorized},
		{"wrong token", with("Authorization", "Bearer "+strings.Repeat("0", len(s.sql.Token))), "", http.StatusUnauthorized},
		{"token without Bearer", with("Authorization", s.sql.Token), "", http.StatusUnauthorized},
		{"token prefix", with("Authorization", "Bearer "+s.sql.Token[:10]), "", http.StatusUnauthorized},
		{"text/plain (no browser preflight)", with("Content-Type", "text/plain"), "", http.StatusUnsupportedMediaType},
		{"no Content-Type", with("Content-Type", ""), "", http.StatusUnsupportedMediaType},
		{"from a web page", with("Origin", "http://evil.example"), "", http.StatusForbidden},
		{"rebound host name", good, "evil.example:" + u.Port(), http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := postSQL(t, s.sql.URL, tc.host, tc.headers, drop)
			if status != tc.status {
				t.Errorf("status %d (%s), want %d", status, body, tc.status)
			}
			if !strings.Contains(body, `"error"`) {
				t.Errorf("body %s has no error", body)
			}
		})
	}
	// The table survived every probe, and the owner of the token gets in.
	status, body := postSQL(t, s.sql.URL, "", good, count)
	if status != http.StatusOK {
		t.Fatalf("with the token: status %d (%s), want 200", status, body)
	}
	var res sqlResponse
	if err := json.Unmarshal([]byte(body), &res); err != nil || len(res.Rows) != 1 || len(res.Columns) != 1 || res.Columns[0] != "n" {
		t.Errorf("with the token: %s (%v)", body, err)
	}
	// Scripts get the token with the URL.
	env := strings.Join(s.sql.Env(), "\n")
	if !strings.Contains(env, SQLURLVar+"="+s.sql.URL) || !strings.Contains(env, SQLTokenVar+"="+s.sql.Token) {
		t.Errorf("script environment %q lacks the URL or the token", env)
	}
}

func postSQL(t *testing.T, endpoint, host string, headers map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, endpoint, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
