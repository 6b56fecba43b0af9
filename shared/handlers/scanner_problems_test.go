package handlers_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/handlers"
	"github.com/bqbackfill/bqbackfill/shared/local"
	"github.com/bqbackfill/bqbackfill/shared/logging"
)

// TestScannerReportsTreeProblems: a backfill.yaml that does not parse and
// a file the sync skipped (a link leaving the tree) are both logged, with
// the file named; a deployed scanner (no Once) says so on every scan, a
// scanner with Once (local mode's many scans) once per distinct problem.
func TestScannerReportsTreeProblems(t *testing.T) {
	ctx := context.Background()
	s := newStack(t)
	sqlDir, err := local.WriteDemoTree(filepath.Join(t.TempDir(), "tree"), today)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(sqlDir, "moz-fx-data-shared-prod", "broken_derived", "bad_v1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "backfill.yaml"), []byte("x: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret.sql")
	if err := os.WriteFile(outside, []byte("SELECT 1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "query.sql")); err != nil {
		t.Fatal(err)
	}
	m, err := s.Sync(ctx, sqlDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Skipped) != 1 {
		t.Fatalf("sync skipped %q, want the link", m.Skipped)
	}
	for _, tc := range []struct {
		name string
		once *handlers.Once
		want int // lines per problem after two scans
	}{
		{"deployed: every scan", nil, 2},
		{"local: once", &handlers.Once{}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := handlers.NewScanner(s.Pipeline, s.Trees, logging.New(&logs, slog.LevelWarn))
			h.Now = s.Scanner.Now
			h.Once = tc.once
			for range 2 {
				if _, err := h.Scan(ctx); err != nil {
					t.Fatal(err)
				}
			}
			var unreadable, skipped int
			for _, line := range strings.Split(logs.String(), "\n") {
				switch {
				case strings.Contains(line, "cannot be read") && strings.Contains(line, "bad_v1/backfill.yaml"):
					unreadable++
				case strings.Contains(line, "not synced") && strings.Contains(line, "bad_v1/query.sql"):
					skipped++
				}
			}
			if unreadable != tc.want || skipped != tc.want {
				t.Errorf("%d unreadable-file and %d skipped-file lines, want %d each:\n%s", unreadable, skipped, tc.want, logs.String())
			}
		})
	}
}
