package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSQLCannotReadFiles: `bqbackfill sql` reaches only the warehouse's
// tables, never a local file (review: hostile input, item 2).
func TestSQLCannotReadFiles(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("hunter2"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, query := range []string{
		"SELECT * FROM read_text('/etc/passwd')",
		"SELECT * FROM read_text('" + secret + "')",
		"SELECT * FROM '" + secret + "'",
	} {
		code, out, errOut := runMain(t, "sql", "--state-dir", dir, query)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1", query, code)
		}
		if !strings.Contains(errOut, "not supported by the DuckDB warehouse") {
			t.Errorf("%s: stderr does not give the subset's message:\n%s", query, errOut)
		}
		if strings.Contains(out+errOut, "root:") || strings.Contains(out+errOut, "hunter2") {
			t.Errorf("%s: the file was printed:\n%s%s", query, out, errOut)
		}
	}
}
