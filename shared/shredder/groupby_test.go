package shredder

import (
	"reflect"
	"strings"
	"testing"
)

// TestGroupBy covers the shapes of the real queries of tables with the
// shredder_mitigation label (a final GROUP BY of aliases after CTEs that
// group too, comments between the columns, a window's ORDER BY before it,
// HAVING and ORDER BY/LIMIT after it) and the cases of reference §3.1,
// where upstream's regular expression goes wrong and this does not.
func TestGroupBy(t *testing.T) {
	tests := []struct {
		name, sql string
		want      []string
		err       string
	}{
		{name: "feature usage shape: CTEs grouping by client, final GROUP BY of aliases", sql: `WITH c AS (
  SELECT dau_date, client_info.client_id, SUM(x) AS x,
    ARRAY_AGG(normalized_channel ORDER BY submission_timestamp DESC)[SAFE_OFFSET(0)] AS channel
  FROM m GROUP BY dau_date, client_id
)
-- Aggregated feature usage
SELECT @submission_date AS submission_date, dau_date AS metric_date, COUNT(DISTINCT client_id) AS clients, channel,
  /*Logins*/ SUM(x) AS x
FROM c LEFT JOIN a USING (client_id)
WHERE dau_date = DATE_SUB(@submission_date, INTERVAL 4 DAY)
GROUP BY
  submission_date,
  metric_date,
  channel
`, want: []string{"submission_date", "metric_date", "channel"}},
		{name: "newline-split GROUP BY with a trailing comment", sql: "SELECT a, b, SUM(c) AS c FROM t GROUP\n  BY a,\n b -- c\n", want: []string{"a", "b"}},
		{name: "final-line comment without newline", sql: "SELECT a, b FROM t GROUP BY a, b -- c", want: []string{"a", "b"}},
		{name: "hash comment between columns", sql: "SELECT a, b FROM t GROUP BY a # c\n, b", want: []string{"a", "b"}},
		{name: "ORDER BY and LIMIT after", sql: "SELECT a, b FROM t GROUP BY a, b ORDER BY a LIMIT 10;", want: []string{"a", "b"}},
		{name: "HAVING after", sql: "SELECT a, b FROM t GROUP BY a, b HAVING SUM(x) > 0", want: []string{"a", "b"}},
		{name: "QUALIFY after", sql: "SELECT a, b FROM t GROUP BY a, b QUALIFY ROW_NUMBER() OVER (PARTITION BY a ORDER BY b) = 1", want: []string{"a", "b"}},
		{name: "identifier containing limit", sql: "SELECT rate_limited, os FROM t GROUP BY rate_limited, os", want: []string{"rate_limited", "os"}},
		{name: "qualified and quoted", sql: "SELECT t.a, s.b, `date` FROM t JOIN s USING (k) GROUP BY t.a, s.b, `date`", want: []string{"a", "b", "date"}},
		{name: "lower-case keywords", sql: "select a, count(*) as n from t group by a", want: []string{"a"}},
		{name: "only a CTE groups", sql: "WITH c AS (SELECT column_1, SUM(x) AS x FROM t GROUP BY column_1) SELECT * FROM c", want: []string{"column_1"}},
		{name: "outer GROUP BY wins over a later subquery", sql: "SELECT a, SUM(x) AS x FROM t WHERE a IN (SELECT a FROM u GROUP BY a, z) GROUP BY a", want: []string{"a"}},
		{name: "UNION after", sql: "SELECT a FROM t GROUP BY a UNION ALL SELECT a FROM u", want: []string{"a"}},
		{name: "GROUP BY in a string is not one", sql: "SELECT 'GROUP BY x' AS s, a FROM t GROUP BY s, a", want: []string{"s", "a"}},
		{name: "trailing comma", sql: "SELECT a, b FROM t GROUP BY a, b,", err: "empty element"},
		{name: "GROUP BY ALL", sql: "SELECT a, SUM(x) FROM t GROUP BY ALL", err: "GROUP BY ALL"},
		{name: "group by all", sql: "SELECT a, SUM(x) FROM t group by all", err: "GROUP BY all"},
		{name: "ordinals", sql: "SELECT a, b, SUM(x) FROM t GROUP BY 1, 2", err: "ordinal 1"},
		{name: "expression", sql: "SELECT DATE(ts) AS d, channel FROM t GROUP BY DATE(ts), channel", err: "expression DATE ( ts )"},
		{name: "rollup", sql: "SELECT a, b FROM t GROUP BY ROLLUP(a, b)", err: "ROLLUP"},
		{name: "no GROUP BY", sql: "SELECT a FROM t", err: "no GROUP BY"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := GroupBy(tc.sql)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("GroupBy = %v, %v; want an error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("GroupBy = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPreviousVersion(t *testing.T) {
	tests := []struct{ table, want, err string }{
		{"agg_v2", "agg_v1", ""},
		{"x_v10", "x_v9", ""},
		{"search_aggregates_v8", "search_aggregates_v7", ""},
		{"agg_v1", "", "expected >= 2. Actual is 1"},
		{"t_v", "", "invalid or missing table version in t_v"},
		{"t_3", "", "invalid or missing table version"},
		{"t_v-19", "", "invalid or missing table version"},
	}
	for _, tc := range tests {
		got, err := PreviousVersion(tc.table)
		if tc.err != "" {
			if err == nil || err.Rule != "S1" || !strings.Contains(err.Message, tc.err) {
				t.Errorf("PreviousVersion(%s) = %q, %v; want S1 %q", tc.table, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("PreviousVersion(%s) = %q, %v; want %q", tc.table, got, err, tc.want)
		}
	}
}
