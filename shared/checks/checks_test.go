package checks

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

var (
	prod    = warehouse.TableRef{Project: "moz-fx-data-shared-prod", Dataset: "telemetry_derived", Table: "clients_last_seen_v2"}
	staging = warehouse.TableRef{Project: "moz-fx-data-shared-prod", Dataset: "backfills_staging_derived", Table: "telemetry_derived__clients_last_seen_v2_2024_01_01"}
	date    = []warehouse.Param{{Name: "submission_date", Type: "DATE", Value: "2024-01-01"}}
)

func stagingOf(ref warehouse.TableRef) warehouse.TableRef {
	return warehouse.TableRef{Project: ref.Project, Dataset: "backfills_staging_derived", Table: ref.Dataset + "__" + ref.Table + "_2024_01_01"}
}

// TestCorpusRenders renders all 87 real checks files against staging: every
// one renders, the marked statements are the 121 #fail and 80 #warn checks
// the spec counted with Jinja 3.1 (§8), and no check still reads production.
func TestCorpusRenders(t *testing.T) {
	files := corpusFiles(t)
	if len(files) != 87 {
		t.Fatalf("corpus has %d checks.sql files, want 87", len(files))
	}
	fail, warn := 0, 0
	for ref, src := range files {
		cs, err := Prepare(src, Options{Table: ref, Target: stagingOf(ref), Params: date})
		if err != nil {
			t.Errorf("%s: %v", ref, err)
			continue
		}
		self := regexp.MustCompile("`?" + regexp.QuoteMeta(ref.Project) + "`?\\.`?" + regexp.QuoteMeta(ref.Dataset) + "`?\\.`?" + regexp.QuoteMeta(ref.Table) + "\\b")
		for _, c := range cs {
			if c.Fail {
				fail++
			}
			if c.Warn {
				warn++
			}
			if self.MatchString(c.SQL) {
				t.Errorf("%s %s still reads production:\n%s", ref, c.Name(), c.SQL)
			}
		}
	}
	if fail != 121 || warn != 80 {
		t.Errorf("checks: %d #fail, %d #warn; want 121, 80", fail, warn)
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		name, src string
		target    warehouse.TableRef
		want      []string // substrings of the rendered SQL
		absent    []string
	}{
		{name: "variables then rewrite to staging", src: "SELECT 1 FROM `{{ project_id }}.{{ dataset_id }}.{{ table_name }}` WHERE d = '{{ submission_date }}'",
			target: staging, want: []string{"`moz-fx-data-shared-prod.backfills_staging_derived.telemetry_derived__clients_last_seen_v2_2024_01_01`", "d = '2024-01-01'"}},
		{name: "literal self reference", src: "SELECT 1 FROM moz-fx-data-shared-prod.telemetry_derived.clients_last_seen_v2",
			target: staging, want: []string{"`moz-fx-data-shared-prod.backfills_staging_derived.telemetry_derived__clients_last_seen_v2_2024_01_01` AS clients_last_seen_v2"}},
		{name: "partly templated other table stays in production", src: "SELECT 1 FROM `{{ project_id }}.{{ dataset_id }}.clients_daily_v6`",
			target: staging, want: []string{"`moz-fx-data-shared-prod.telemetry_derived.clients_daily_v6`"}},
		{name: "production target", src: "{{ min_row_count(5) }}", target: prod,
			want: []string{"FROM\n    `moz-fx-data-shared-prod.telemetry_derived.clients_last_seen_v2`", "COUNTIF(total_rows < 5)", `" rows found, expected more than 5 rows"`}},
		{name: "set and keyword where", src: "{% set W = 'DATE(`d`) = @submission_date' %}{{ not_null(columns=['a', \"b\",], where=W) }}", target: staging,
			want: []string{"IF(COUNTIF(a IS NULL) > 0, \"a\", NULL),\n      IF(COUNTIF(b IS NULL) > 0, \"b\", NULL)", "WHERE\n  DATE(`d`) = @submission_date", `"Columns with NULL values: "`}},
		{name: "is_unique single string and message repr", src: `{{ is_unique("client_id", "submission_date = @submission_date") }}`, target: staging,
			want: []string{"GROUP BY\n            client_id", `"Duplicates detected (Expected combined set of values for columns ['client_id'] to be unique where submission_date = @submission_date.)"`}},
		{name: "in_range min only", src: `{{ in_range(["x", "y"], 0, none) }}`, target: staging,
			want: []string{"COUNTIF(x < 0)", `"Columns with values not within defined range [0, None]: "`}},
		{name: "in_range omitted bound is no bound", src: `{{ in_range(["x"], max=10) }}`, target: staging, want: []string{"COUNTIF(x > 10)"}},
		{name: "matches_pattern escapes the message", src: `{{ matches_pattern(column="v", pattern="^[0-9]+\\.{1}[0-9]+$", threshold_fail_percentage=5) }}`, target: staging,
			want: []string{`REGEXP_CONTAINS(v, r"^[0-9]+\.{1}[0-9]+$")`, `) > 5,`, "Expected pattern: `^[0-9]+\\\\.{1}[0-9]+$`."}},
		{name: "value_length", src: `{{ value_length(column="c", expected_length=2, where="x > 1") }}`, target: staging,
			want: []string{"COUNTIF(LENGTH(c) <> 2) > 0", "WHERE\n  x > 1"}},
		{name: "accepted_values list", src: `{{ accepted_values("c", ["a", "b"]) }}`, target: staging,
			want: []string{"COUNTIF(c NOT IN UNNEST(['a', 'b']))", `"Unexpected values for field c detected."`}},
		{name: "row count avg reads the target's partitions", src: `{{ row_count_within_past_partitions_avg(7, 10, "date") }}`, target: staging,
			want: []string{"`moz-fx-data-shared-prod.backfills_staging_derived.INFORMATION_SCHEMA.PARTITIONS`", `table_name = "telemetry_derived__clients_last_seen_v2_2024_01_01"`, "INTERVAL 7 + 1 DAY", "DATE(@date)"}},
		{name: "period over period", src: `{{ revenue_period_over_period_change(["rev"], "month", 0.2, ["country"], "month = @submission_date") }}`, target: staging,
			want: []string{"LAG(rev) OVER (PARTITION BY country ORDER BY month ASC)", "LOGICAL_OR(month = @submission_date) AS date_check"}},
		{name: "comment block renders nothing", src: "{# {{ not_null(['a']) }} -- #warn #}SELECT 1", target: staging, want: []string{"SELECT 1"}, absent: []string{"warn"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(tt.src, Options{Table: prod, Target: tt.target, Params: date})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("rendered SQL lacks %q:\n%s", w, got)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(got, a) {
					t.Errorf("rendered SQL has %q:\n%s", a, got)
				}
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"syntax", "{{ not_null(['a') }}", ""},
		{"unknown macro", "{{ no_such_check(['a']) }}", ""},
		{"unknown keyword", "{{ not_null(cols=['a']) }}", `takes no keyword argument "cols"`},
		{"too many arguments", "{{ min_row_count(1, 'x', 'y') }}", "takes not more than 2 argument(s)"},
		{"missing columns", "{{ is_unique() }}", `argument "columns" is required`},
		{"no bounds", "{{ in_range(['a'], none, none) }}", "needs min or max"},
		{"unclosed block", "{% if x %}SELECT 1", ""},
		{"include", "{% include 'other.sql' %}", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(tt.src, Options{Table: prod, Target: staging})
			var re *RenderError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a RenderError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		sql  string
		want []Check
	}{
		{"markers pick statements", "-- macro checks\n#fail\nSELECT 1;\nSELECT 2;\n#warn\nSELECT 3;",
			[]Check{{N: 1, Fail: true, SQL: "-- macro checks\n#fail\nSELECT 1;"}, {N: 3, Warn: true, SQL: "#warn\nSELECT 3;"}}},
		{"both markers, prefix, case", "#FAILURE #warn\nSELECT 1", []Check{{N: 1, Fail: true, Warn: true, SQL: "#FAILURE #warn\nSELECT 1"}}},
		{"semicolons in strings and comments", "#fail\nSELECT ';', \"a;b\", `c;d` -- x;y\n/* ; */ FROM t;\n#warn\nSELECT '''a;\n''';",
			[]Check{{N: 1, Fail: true, SQL: "#fail\nSELECT ';', \"a;b\", `c;d` -- x;y\n/* ; */ FROM t;"}, {N: 2, Warn: true, SQL: "#warn\nSELECT '''a;\n''';"}}},
		{"quote after a marker comment", "#warn: don't\nSELECT 1;\n#fail\nSELECT 2;", []Check{{N: 1, Warn: true, SQL: "#warn: don't\nSELECT 1;"}, {N: 2, Fail: true, SQL: "#fail\nSELECT 2;"}}},
		{"marker in a string counts", "SELECT '#fail';", []Check{{N: 1, Fail: true, SQL: "SELECT '#fail';"}}},
		{"no markers", "SELECT 1; SELECT 2;", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Split(tt.sql)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d checks %+v, want %+v", len(got), got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("check %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}
