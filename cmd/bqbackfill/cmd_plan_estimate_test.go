package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb"
)

// estimateTree writes a tree with one day-partitioned table reading
// p.d.src, a local warehouse holding both tables, and settings; it returns
// the sql and state directories.
func estimateTree(t *testing.T, settings string) (string, string) {
	t.Helper()
	root := t.TempDir()
	sqlDir, stateDir := filepath.Join(root, "sql"), filepath.Join(root, "state")
	tdir := filepath.Join(sqlDir, "p", "d", "t")
	if err := os.MkdirAll(tdir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		filepath.Join(tdir, "query.sql"):         "SELECT submission_date, n FROM `p.d.src` WHERE submission_date = @submission_date\n",
		filepath.Join(tdir, "metadata.yaml"):     "friendly_name: T\nscheduling:\n  dag_name: bqetl_t\nbigquery:\n  time_partitioning:\n    type: day\n    field: submission_date\n",
		filepath.Join(tdir, "backfill.yaml"):     "2026-06-14:\n  start_date: 2026-06-01\n  end_date: 2026-06-10\n  reason: Estimate test.\n  watchers:\n  - a@example.com\n  status: Initiate\n",
		filepath.Join(sqlDir, "bqbackfill.yaml"): settings,
	}
	for name, content := range files {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w, err := duckdb.Open(filepath.Join(stateDir, "warehouse"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Read(context.Background(), warehouse.QueryJob{SQL: "CREATE SCHEMA p.d; " +
		"CREATE TABLE p.d.src (submission_date DATE, n INT64) PARTITION BY submission_date; " +
		"CREATE TABLE p.d.t (submission_date DATE, n INT64) PARTITION BY submission_date; " +
		"INSERT INTO p.d.src SELECT d, 1 FROM UNNEST(GENERATE_DATE_ARRAY(DATE '2026-06-01', DATE '2026-06-10')) AS d; " +
		"INSERT INTO p.d.t SELECT d, 1 FROM UNNEST(GENERATE_DATE_ARRAY(DATE '2026-05-01', DATE '2026-06-10')) AS d"}); err != nil {
		t.Fatal(err)
	}
	return sqlDir, stateDir
}

func TestPlanEstimate(t *testing.T) {
	type out struct {
		Valid  bool `json:"valid"`
		Errors []struct {
			Rule    string `json:"rule"`
			Message string `json:"message"`
		} `json:"errors"`
		Estimate *struct {
			Bytes          int64   `json:"bytes"`
			USD            float64 `json:"usd"`
			Promotion      string  `json:"promotion"`
			PromotionBytes int64   `json:"promotion_bytes"`
			ProfileBytes   int64   `json:"profile_bytes"`
			Jobs           int     `json:"jobs"`
			MinDurationS   float64 `json:"min_duration_s"`
			Sampled        bool    `json:"sampled"`
		} `json:"estimate"`
	}
	cases := []struct {
		name      string
		settings  string
		noState   bool
		code      int
		promotion string
		promoB    int64
		rule      string
	}{
		// 10 partitions, each dry run reading p.d.src whole: 10 rows of 16 bytes.
		{name: "copy", settings: "", code: 0, promotion: "copy"},
		// Atomic reads the 10 replaced partitions of the 41 in p.d.t.
		{name: "atomic", settings: "promotion:\n  default: atomic\n", code: 0, promotion: "atomic", promoB: 10 * 16},
		{name: "over the guard", settings: "max_bytes_per_backfill: 100\n", code: 1, promotion: "copy", rule: "Q2"},
		{name: "no warehouse", settings: "", noState: true, code: 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sqlDir, stateDir := estimateTree(t, c.settings)
			if c.noState {
				stateDir = filepath.Join(t.TempDir(), "none")
			}
			code, stdout, errOut := runMain(t, "plan", "--sql-dir", sqlDir, "--state-dir", stateDir, "--today", "2026-06-15", "--json", "p.d.t")
			if code != c.code {
				t.Fatalf("exit %d, want %d: %s%s", code, c.code, stdout, errOut)
			}
			var o out
			if err := json.Unmarshal([]byte(stdout), &o); err != nil {
				t.Fatalf("%v\n%s", err, stdout)
			}
			if c.noState {
				if o.Estimate != nil {
					t.Errorf("estimate %+v without a warehouse", o.Estimate)
				}
				return
			}
			e := o.Estimate
			if e == nil {
				t.Fatalf("no estimate: %s", stdout)
			}
			// The profile query: its production side reads p.d.t whole
			// on DuckDB (41 rows of 16 bytes), and staging as much.
			if e.Bytes != 10*10*16 || e.Promotion != c.promotion || e.PromotionBytes != c.promoB || e.ProfileBytes != 2*41*16 || e.Sampled || e.MinDurationS <= 0 || e.USD <= 0 {
				t.Errorf("estimate %+v", *e)
			}
			// The guard counts every byte: queries, promotion, profile.
			if c.rule != "" && (o.Valid || len(o.Errors) == 0 || o.Errors[len(o.Errors)-1].Rule != c.rule ||
				!strings.Contains(o.Errors[len(o.Errors)-1].Message, "2912 bytes") || !strings.Contains(o.Errors[len(o.Errors)-1].Message, "100 bytes")) {
				t.Errorf("errors %+v, want %s giving both numbers", o.Errors, c.rule)
			}
		})
	}
	// The text form shows the estimate.
	sqlDir, stateDir := estimateTree(t, "")
	code, stdout, _ := runMain(t, "plan", "--sql-dir", sqlDir, "--state-dir", stateDir, "--today", "2026-06-15", "p.d.t")
	if code != 0 || !strings.Contains(stdout, "bytes processed:   1.6 KiB (1600 bytes)") || !strings.Contains(stdout, "profile query:     reads 1.3 KiB (1312 bytes)") || !strings.Contains(stdout, "min duration:") || !strings.Contains(stdout, "upper bound") {
		t.Errorf("exit %d, text:\n%s", code, stdout)
	}
}
