package bqsql

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/checks"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// corpusExceptions are the real checks outside the embedded dialect, keyed
// "<dataset>.<table> check <n>", with the reason.
var corpusExceptions = map[string]string{
	"statcounter_derived.browser_market_share_regions_v1 check 1":   "INFORMATION_SCHEMA.PARTITIONS (row_count_within_past_partitions_avg) is not emulated",
	"statcounter_derived.browser_market_share_worldwide_v1 check 1": "INFORMATION_SCHEMA.PARTITIONS (row_count_within_past_partitions_avg) is not emulated",
	"telemetry_derived.unified_metrics_v1 check 3":                  "INFORMATION_SCHEMA.PARTITIONS (row_count_within_past_partitions_avg) is not emulated",
	"sumo_metrics_derived.ga4_engagement_sessions_daily_v1 check 1": "UDF mozfun.customer_experience.normalize_product (a product-name mapping) has no stand-in",
	"sumo_metrics_derived.kb_revisions_base_v1 check 1":             "UDF mozfun.customer_experience.normalize_product (a product-name mapping) has no stand-in",
	"sumo_metrics_derived.kb_revisions_base_v1 check 2":             "UDF mozfun.customer_experience.normalize_product (a product-name mapping) has no stand-in",
	"firefox_ios_derived.baseline_clients_yearly_v1 check 3":        "UDF `moz-fx-data-shared-prod`.udf.bits_to_days_since_seen (over BYTES) has no stand-in",
}

// TestCorpusChecksParse renders every real checks.sql of the corpus against
// a staging table, with placeholder DATE parameters, and parses each check
// in the embedded dialect. The few outside the subset are listed, with the
// reason, in corpusExceptions; an exception that starts parsing must be
// removed from the list.
func TestCorpusChecksParse(t *testing.T) {
	base := filepath.Join(repoRoot(t), "testdata", "corpus", "bigquery-etl", "sql")
	var params []warehouse.Param
	for _, n := range []string{"submission_date", "session_date", "snapshot_date", "date"} {
		params = append(params, warehouse.Param{Name: n, Type: "DATE", Value: "2024-01-01"})
	}
	files, total := 0, 0
	seen := map[string]bool{}
	err := filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.Name() != "checks.sql" {
			return err
		}
		files++
		rel, err := filepath.Rel(base, filepath.Dir(p))
		if err != nil {
			return err
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		ref := warehouse.TableRef{Project: parts[0], Dataset: parts[1], Table: parts[2]}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		staging := warehouse.TableRef{Project: ref.Project, Dataset: "backfills_staging_derived", Table: ref.Dataset + "__" + ref.Table + "_2024_01_01"}
		cs, err := checks.Prepare(string(src), checks.Options{Table: ref, Target: staging, Params: params})
		if err != nil {
			t.Errorf("%s: %v", ref, err)
			return nil
		}
		for _, c := range cs {
			total++
			key := ref.Dataset + "." + ref.Table + " check " + strconv.Itoa(c.N)
			_, err := Parse(c.SQL, params)
			_, excepted := corpusExceptions[key]
			seen[key] = err != nil
			switch {
			case err != nil && !excepted:
				t.Errorf("%s: %v\n%s", key, err, c.SQL)
			case err == nil && excepted:
				t.Errorf("%s parses now: remove it from corpusExceptions", key)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != 87 || total != 201 {
		t.Errorf("walked %d files with %d checks, want 87 files with 201 checks", files, total)
	}
	var missing []string
	for k := range corpusExceptions {
		if _, ok := seen[k]; !ok {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("exceptions that name no check: %q", missing)
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}
