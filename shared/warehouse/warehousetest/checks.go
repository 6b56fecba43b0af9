package warehousetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/checks"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// checkCases hold the SQL that data checks (checks.sql) need: the
// data-check macros and the raw forms of the real corpus checks, run
// against stored rows.
func checkCases() []testCase {
	return []testCase{
		{name: "DataCheckMacros", needs: realData, run: testDataCheckMacros},
		{name: "DataCheckFunctions", needs: realData, run: testDataCheckFunctions},
	}
}

// seedChecks fills a daily table: 2024-01-01 holds clients a and b (n 1
// and 2); 2024-01-02 holds a NULL client and a duplicate "a".
func (f *fixture) seedChecks() warehouse.TableRef {
	f.t.Helper()
	ref := f.createDaily("checked")
	_, err := f.w.Query(f.ctx, warehouse.QueryJob{Destination: &ref, Write: warehouse.WriteAppend, SQL: `
SELECT DATE '2024-01-01' AS submission_date, 'a' AS client, 1 AS n UNION ALL
SELECT DATE '2024-01-01', 'b', 2 UNION ALL
SELECT DATE '2024-01-02', CAST(NULL AS STRING), 3 UNION ALL
SELECT DATE '2024-01-02', 'a', 4 UNION ALL
SELECT DATE '2024-01-02', 'a', 5`})
	if err != nil {
		f.t.Fatalf("seed %s: %v", ref, err)
	}
	return ref
}

func testDataCheckMacros(t *testing.T, f *fixture) {
	ref := f.seedChecks()
	const day1, day2 = "2024-01-01", "2024-01-02"
	w := `"submission_date = @submission_date"`
	tests := []struct {
		name, src, day string
		fail           string // "" = the check passes; else a substring of its message
	}{
		{"not_null passes", "{{ not_null(['client', 'n'], " + w + ") }}", day1, ""},
		{"not_null fails", "{{ not_null(['n', 'client'], " + w + ") }}", day2, "Columns with NULL values: client"},
		{"is_unique passes", "{{ is_unique(['client'], " + w + ") }}", day1, ""},
		{"is_unique fails", "{{ is_unique('client', where=" + w + ") }}", day2, "Duplicates detected (Expected combined set of values for columns ['client'] to be unique where submission_date = @submission_date.)"},
		{"min_row_count equal passes", "{{ min_row_count(2, " + w + ") }}", day1, ""},
		{"min_row_count fails", "{{ min_row_count(3, where=" + w + ") }}", day1, "Min Row Count Error: 2 rows found, expected more than 3 rows"},
		{"in_range passes", "{{ in_range(['n'], 0, none, " + w + ") }}", day1, ""},
		{"in_range fails", "{{ in_range(['n'], 2, none, " + w + ") }}", day1, "Columns with values not within defined range [2, None]: n"},
		{"in_range both bounds", "{{ in_range(['n'], 3, 5, " + w + ") }}", day2, ""},
		{"accepted_values passes (NULL never fails)", "{{ accepted_values('client', ['a', 'b'], " + w + ") }}", day2, ""},
		{"accepted_values fails", "{{ accepted_values('client', ['a'], " + w + ") }}", day1, "Unexpected values for field client detected."},
		{"matches_pattern passes", `{{ matches_pattern(column="client", pattern="^[a-z]$", where=` + w + `) }}`, day1, ""},
		{"matches_pattern fails", `{{ matches_pattern(column="client", pattern="^a$", where=` + w + `, threshold_fail_percentage=10) }}`, day1, "failed to match the pattern for column: `client`"},
		{"matches_pattern custom message", `{{ matches_pattern(column="client", pattern="^\\d\\.$", where=` + w + `, message="not a \\d.") }}`, day1, `not a \d.`},
		{"value_length passes", `{{ value_length(column="client", expected_length=1, where=` + w + `) }}`, day2, ""},
		{"value_length fails", `{{ value_length(column="client", expected_length=2, where=` + w + `) }}`, day1, "Column: `client` has values of unexpected length."},
		{"period over period passes", `{{ revenue_period_over_period_change(["n"], "submission_date", 10, [], "submission_date = @submission_date") }}`, day2, ""},
		{"period over period fails", `{{ revenue_period_over_period_change(["n"], "submission_date", 1, [], "submission_date = @submission_date") }}`, day2, "Columns with period over period changes over 1: n"},
		{"raw IF ERROR passes", "SELECT IF(COUNTIF(n > 100) > 0, ERROR('too big'), NULL) FROM `{{ project_id }}.{{ dataset_id }}.{{ table_name }}`", day1, ""},
		{"raw IF ERROR fails", "SELECT IF(COUNTIF(n > 1) > 0, ERROR('ETL Data Check Failed: n above 1'), NULL) FROM `{{ project_id }}.{{ dataset_id }}.{{ table_name }}` WHERE submission_date = @submission_date", day1, "ETL Data Check Failed: n above 1"},
		{"ASSERT passes", "ASSERT (SELECT COUNT(*) FROM `{{ project_id }}.{{ dataset_id }}.{{ table_name }}` WHERE submission_date = @submission_date) = 2 AS 'two rows'", day1, ""},
		{"ASSERT fails with its description", `ASSERT (SELECT COUNT(*) FROM ` + "`{{ project_id }}.{{ dataset_id }}.{{ table_name }}`" + ` WHERE submission_date = @submission_date) BETWEEN 5 AND 9 AS "between five and nine"`, day1, "between five and nine"},
		{"ASSERT on NULL fails", "ASSERT (SELECT MAX(n) FROM `{{ project_id }}.{{ dataset_id }}.{{ table_name }}` WHERE submission_date = '1999-01-01') > 0", day1, "Assertion failed"},
		{"mozfun.assert.equals passes", "SELECT mozfun.assert.equals(2, COUNT(*)) FROM `{{ project_id }}.{{ dataset_id }}.{{ table_name }}` WHERE submission_date = @submission_date", day1, ""},
		{"mozfun.assert.equals fails", "SELECT mozfun.assert.equals(1, COUNT(DISTINCT client)) FROM `{{ project_id }}.{{ dataset_id }}.{{ table_name }}` WHERE submission_date = @submission_date", day1, "Expected 1 but got 2"},
		{"mozfun.assert.true fails", "SELECT `mozfun.assert.true`(COUNT(*) > 2) FROM `{{ project_id }}.{{ dataset_id }}.{{ table_name }}` WHERE submission_date = @submission_date", day1, "Expected true"},
		{"missing column fails", "SELECT IF(COUNTIF(no_such_column > 0) > 0, ERROR('x'), NULL) FROM `{{ project_id }}.{{ dataset_id }}.{{ table_name }}`", day1, "no_such_column"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := []warehouse.Param{{Name: "submission_date", Type: "DATE", Value: tt.day}}
			cs, err := checks.Prepare("#fail\n"+tt.src, checks.Options{Table: ref, Params: params})
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if len(cs) != 1 {
				t.Fatalf("Prepare: %d checks, want 1", len(cs))
			}
			rs, err := checks.Run(f.ctx, f.w, cs, warehouse.QueryJob{Params: params})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			r := rs[0]
			switch {
			case tt.fail == "" && !r.Passed:
				t.Errorf("check failed: %s\n%s", r.Message, r.SQL)
			case tt.fail != "" && r.Passed:
				t.Errorf("check passed, want a failure mentioning %q\n%s", tt.fail, r.SQL)
			case tt.fail != "" && !strings.Contains(r.Message, tt.fail):
				t.Errorf("message = %q, want it to mention %q", r.Message, tt.fail)
			}
		})
	}
}

// testDataCheckFunctions evaluates the functions the macros and the corpus
// checks rely on, with BigQuery's results.
func testDataCheckFunctions(t *testing.T, f *fixture) {
	tests := []struct{ expr, want string }{
		{"COUNTIF(x > 1)", "2"},
		{"ARRAY_LENGTH(ARRAY_AGG(IF(x > 9, x, NULL) IGNORE NULLS)) IS NULL", "true"},
		{"ARRAY_TO_STRING(ARRAY_AGG(CAST(x AS STRING) IGNORE NULLS ORDER BY x DESC), ', ')", "3, 2, 1"},
		{"ARRAY_LENGTH(ARRAY_AGG(IF(x > 1, x, NULL) IGNORE NULLS))", "2"},
		{"LOGICAL_OR(x = 2)", "true"},
		{"MAX(LENGTH('héllo'))", "5"},
		{"MAX(REGEXP_CONTAINS('v1.2-3', r'^v[0-9]+\\.{1}[0-9]+\\-{1}[0-9]+$'))", "true"},
		{"MAX('b' IN UNNEST(['a', 'b']))", "true"},
		{"MAX('c' NOT IN UNNEST(['a', 'b']))", "true"},
		{"ROUND(COUNTIF(x > 1) / GREATEST(COUNT(*), 1) * 100, 2)", "66.67"},
		{"MAX(SAFE_DIVIDE(x, 0)) IS NULL", "true"},
		{"MAX(CONCAT('n=', x))", "n=3"},
	}
	for _, tt := range tests {
		res, err := f.w.Read(f.ctx, warehouse.QueryJob{SQL: "SELECT " + tt.expr + " AS v FROM UNNEST([1, 2, 3]) AS x"})
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		if got := fmt.Sprint(res.Rows[0][0]); got != tt.want {
			t.Errorf("%s = %s, want %s", tt.expr, got, tt.want)
		}
	}
	_, err := f.w.Read(f.ctx, warehouse.QueryJob{SQL: "SELECT IF(COUNT(*) > 0, ERROR('boom: ' || 'x'), NULL) FROM UNNEST([1]) AS x"})
	if err == nil || !strings.Contains(err.Error(), "boom: x") {
		t.Errorf("ERROR(): err = %v, want it to carry the message", err)
	}
}
