package shredder

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/metadata"
)

func fields(spec string) []metadata.Field {
	var out []metadata.Field
	for _, f := range strings.Fields(spec) {
		name, typ, _ := strings.Cut(f, ":")
		mode := "NULLABLE"
		if t, ok := strings.CutSuffix(typ, "[]"); ok {
			typ, mode = t, "REPEATED"
		}
		out = append(out, metadata.Field{Name: name, Type: typ, Mode: mode})
	}
	return out
}

// TestClassify covers the shapes of the labelled corpus tables (a
// partition column that is an alias of @submission_date, FLOAT64 and
// NUMERIC metrics, BOOLEAN and DATE dimensions, a RECORD column, a removed
// dimension) and the failing preconditions of reference §5.3 and §2.
func TestClassify(t *testing.T) {
	tests := []struct {
		name               string
		prevGB, newGB      string
		prevSchema, schema string
		want               string
		rule               string
	}{
		{
			name:       "feature usage v1 to v2: added dimension, new and old metrics",
			prevGB:     "submission_date metric_date channel country",
			newGB:      "submission_date metric_date channel country adjust_network is_default_browser",
			prevSchema: "submission_date:DATE metric_date:DATE channel:STRING country:STRING clients:INTEGER logins_deleted:INTEGER",
			schema:     "submission_date:DATE metric_date:DATE clients:INTEGER channel:STRING country:STRING adjust_network:STRING is_default_browser:BOOLEAN logins_deleted:INT64 bookmarks_add:INTEGER",
			want: "adjust_network:added_dimension:STRING bookmarks_add:added_metric:INTEGER channel:common_dimension:STRING clients:common_metric:INTEGER country:common_dimension:STRING " +
				"is_default_browser:added_dimension:BOOLEAN logins_deleted:common_metric:INTEGER metric_date:common_dimension:DATE submission_date:common_dimension:DATE",
		},
		{
			name:       "types upstream leaves to the sample: FLOAT64, BIGINT, DECIMAL, TIME; RECORD and REPEATED undetermined",
			prevGB:     "submission_date os",
			newGB:      "submission_date os at",
			prevSchema: "submission_date:DATE os:STRING a:FLOAT64 b:BIGINT c:DECIMAL",
			schema:     "submission_date:DATE os:STRING at:TIME a:FLOAT64 b:BIGINT c:DECIMAL r:RECORD xs:INTEGER[] label:STRING",
			want: "a:common_metric:FLOAT at:added_dimension:TIME b:common_metric:INTEGER c:common_metric:NUMERIC label:undetermined:STRING os:common_dimension:STRING " +
				"r:undetermined:STRUCT submission_date:common_dimension:DATE xs:undetermined:ARRAY",
		},
		{
			name:       "removed dimensions: one still output, one gone; case-insensitive names",
			prevGB:     "submission_date OS country app_version",
			newGB:      "Submission_Date os",
			prevSchema: "submission_date:DATE os:STRING country:STRING app_version:STRING dau:INTEGER",
			schema:     "submission_date:DATE os:STRING country:STRING dau:INTEGER",
			want:       "app_version:removed_dimension: country:removed_dimension:STRING dau:common_metric:INTEGER os:common_dimension:STRING submission_date:common_dimension:DATE",
		},
		{
			name:   "partition column grouped only by the new query still counts as common",
			prevGB: "os", newGB: "submission_date os",
			prevSchema: "submission_date:DATE os:STRING dau:INTEGER", schema: "submission_date:DATE os:STRING dau:INTEGER",
			want: "dau:common_metric:INTEGER os:common_dimension:STRING submission_date:common_dimension:DATE",
		},
		{
			name:   "new GROUP BY column not in schema.yaml",
			prevGB: "submission_date os", newGB: "submission_date os country",
			prevSchema: "submission_date:DATE os:STRING dau:INTEGER", schema: "submission_date:DATE os:STRING dau:INTEGER",
			rule: "S4",
		},
		{
			name:   "grouping by a RECORD",
			prevGB: "submission_date os", newGB: "submission_date os r",
			prevSchema: "submission_date:DATE os:STRING dau:INTEGER", schema: "submission_date:DATE os:STRING r:RECORD dau:INTEGER",
			rule: "S4",
		},
		{
			name:   "no common dimension",
			prevGB: "channel", newGB: "os",
			prevSchema: "submission_date:DATE channel:STRING dau:INTEGER", schema: "submission_date:DATE os:STRING dau:INTEGER",
			rule: "S5",
		},
		{
			name:   "no metric",
			prevGB: "submission_date os", newGB: "submission_date os",
			prevSchema: "submission_date:DATE os:STRING", schema: "submission_date:DATE os:STRING label:STRING",
			rule: "S5",
		},
		{
			name:   "only new metrics",
			prevGB: "submission_date os", newGB: "submission_date os",
			prevSchema: "submission_date:DATE os:STRING dau:INTEGER", schema: "submission_date:DATE os:STRING clicks:INTEGER",
			rule: "S6",
		},
		{
			name:   "partition column not in the schema",
			prevGB: "os", newGB: "os",
			prevSchema: "os:STRING dau:INTEGER", schema: "os:STRING dau:INTEGER",
			rule: "S7",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cols, err := classify("submission_date", strings.Fields(tc.prevGB), strings.Fields(tc.newGB), fields(tc.prevSchema), fields(tc.schema), "v2/schema.yaml")
			if tc.rule != "" {
				if err == nil || err.Rule != tc.rule || err.File != "v2/schema.yaml" {
					t.Fatalf("classify = %v, %v; want rule %s", cols, err, tc.rule)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cols {
				got = append(got, fmt.Sprintf("%s:%s:%s", c.Name, c.Role, c.Type))
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("classify:\n%s\nwant\n%s", strings.Join(got, " "), tc.want)
			}
		})
	}
}

// corpusSchema reads a schema.yaml of the vendored bigquery-etl corpus.
func corpusSchema(t *testing.T, table string) []metadata.Field {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
	p := filepath.Join(dir, "testdata", "corpus", "bigquery-etl", "sql", "moz-fx-data-shared-prod", table, "schema.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s, err := metadata.ParseSchema(b, p)
	if err != nil {
		t.Fatal(err)
	}
	return s.Fields
}

// TestCorpusFeatureUsageMetrics plans the mitigation of a real labelled
// table, fenix_derived.feature_usage_metrics_v2, against its v1, with their
// real schema.yaml and queries of the real shapes: v1's only GROUP BY is in
// a CTE (its final SELECT joins two CTEs USING (submission_date)), v2
// groups by six aliases after CTEs that group by client.
func TestCorpusFeatureUsageMetrics(t *testing.T) {
	v1 := `WITH _metrics_ping_distinct_client_count AS (
  SELECT submission_date, COUNT(DISTINCT client_id) AS metrics_ping_distinct_client_count
  FROM metrics WHERE submission_date = @submission_date GROUP BY submission_date
),
product_features_agg AS (
  SELECT
    submission_date,
    /*Logins*/
    --logins deleted
    COUNT(DISTINCT CASE WHEN logins_deleted > 0 THEN client_id END) AS logins_deleted_users,
    SUM(logins_deleted) AS logins_deleted,
  FROM
    client_product_feature_usage
  GROUP BY
    submission_date
)
SELECT
  submission_date,
  metrics_ping_distinct_client_count,
/*logins*/
  logins_deleted_users,
  logins_deleted
FROM
  _metrics_ping_distinct_client_count
LEFT JOIN
  product_features_agg
  USING (submission_date)
`
	v2 := `WITH metric_ping_clients_feature_usage AS (
  SELECT dau_date, client_info.client_id,
    ARRAY_AGG(normalized_channel ORDER BY submission_timestamp DESC)[SAFE_OFFSET(0)] AS channel,
    SUM(COALESCE(metrics.counter.logins_deleted, 0)) AS logins_deleted
  FROM metrics_dau
  GROUP BY dau_date, client_id
)
-- Aggregated feature usage
SELECT
  @submission_date AS submission_date,
  dau_date AS metric_date,
  COUNT(DISTINCT client_id) AS clients,
  channel, country, adjust_network, is_default_browser,
  COUNT(DISTINCT IF(logins_deleted > 0, client_id, NULL)) AS logins_deleted_users,
  SUM(logins_deleted) AS logins_deleted
FROM metric_ping_clients_feature_usage
LEFT JOIN client_attribution USING (client_id)
WHERE dau_date = DATE_SUB(@submission_date, INTERVAL 4 DAY)
GROUP BY
  submission_date,
  metric_date,
  channel,
  country,
  adjust_network,
  is_default_browser
`
	m, err := Plan(Input{
		NewQuery: v2, PreviousQuery: v1,
		NewSchema: corpusSchema(t, "fenix_derived/feature_usage_metrics_v2"), PreviousSchema: corpusSchema(t, "fenix_derived/feature_usage_metrics_v1"),
		PartitionField: "submission_date", Param: "submission_date",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.PreviousGroupBy, ","); got != "submission_date" {
		t.Errorf("previous GROUP BY %s", got)
	}
	names := func(r Role) string {
		var out []string
		for _, c := range m.ByRole(r) {
			out = append(out, c.Name+":"+string(c.Type))
		}
		return strings.Join(out, " ")
	}
	for role, want := range map[Role]string{
		CommonDimension: "submission_date:DATE",
		AddedDimension:  "adjust_network:STRING channel:STRING country:STRING is_default_browser:BOOLEAN metric_date:DATE",
		Undetermined:    "",
	} {
		if got := names(role); got != want {
			t.Errorf("%s: %s, want %s", role, got, want)
		}
	}
	if got := names(AddedMetric); got != "clients:INTEGER" {
		t.Errorf("added metrics %s", got)
	}
	if n := len(m.ByRole(CommonMetric)); n != 65 {
		t.Errorf("%d common metrics, want the 65 INTEGER columns v1 also has", n)
	}
	sql := m.Query(v2)
	for _, want := range []string{"CAST(NULL AS BOOL) AS is_default_browser", "CAST(NULL AS DATE) AS metric_date", "CAST(0 AS INT64) AS clients", "previous_agg.logins_deleted - COALESCE(new_agg.logins_deleted, 0) AS logins_deleted"} {
		if !strings.Contains(sql, want) {
			t.Errorf("generated query lacks %q", want)
		}
	}
}
