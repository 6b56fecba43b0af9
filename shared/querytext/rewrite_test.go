package querytext

import (
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

var (
	selfRef    = warehouse.TableRef{Project: "moz-fx-data-shared-prod", Dataset: "telemetry_derived", Table: "events_v1"}
	stagingRef = warehouse.TableRef{Project: "moz-fx-data-shared-prod", Dataset: "backfills_staging_derived", Table: "telemetry_derived__events_v1_2024_01_02"}
	// R is how every rewritten reference is spelled.
	R = "`moz-fx-data-shared-prod.backfills_staging_derived.telemetry_derived__events_v1_2024_01_02`"
)

const (
	P  = "moz-fx-data-shared-prod"
	D  = "telemetry_derived"
	DT = "telemetry_derived.events_v1"
)

func TestRewriteSelfReferences(t *testing.T) {
	type defaults int
	const (
		projectOnly defaults = iota // default project = table's project, no default dataset
		projectAndDataset
		otherProject
		noDefaults
	)
	tests := []struct {
		name string
		def  defaults
		src  string
		want string // $R stands for the backticked staging table
		n    int
	}{
		// Three-part names in every quoting.
		{"backticked fully qualified", projectOnly,
			"SELECT * FROM `" + P + "." + DT + "` WHERE submission_date = @submission_date",
			"SELECT * FROM $R AS events_v1 WHERE submission_date = @submission_date", 1},
		{"each part backticked", projectOnly, "SELECT * FROM `" + P + "`.`" + D + "`.`events_v1`", "SELECT * FROM $R AS events_v1", 1},
		{"project backticked, rest bare", projectOnly, "SELECT * FROM `" + P + "`." + DT, "SELECT * FROM $R AS events_v1", 1},
		{"project and dataset in one quote", projectOnly, "SELECT * FROM `" + P + "." + D + "`.events_v1", "SELECT * FROM $R AS events_v1", 1},
		{"dataset and table in one quote", projectOnly, "SELECT * FROM `" + P + "`.`" + DT + "`", "SELECT * FROM $R AS events_v1", 1},
		{"unquoted with a dashed project id", otherProject, "SELECT * FROM " + P + "." + DT + " WHERE x", "SELECT * FROM $R AS events_v1 WHERE x", 1},
		{"unquoted simple project", projectOnly, "SELECT * FROM plainproj.d.t", "SELECT * FROM plainproj.d.t", 0},
		{"three-part needs no defaults", noDefaults, "SELECT * FROM `" + P + "." + DT + "`", "SELECT * FROM $R AS events_v1", 1},
		{"whitespace around dots", projectOnly, "SELECT * FROM `" + P + "` . " + D + " .events_v1", "SELECT * FROM $R AS events_v1", 1},

		// Two-part names resolve through the default project.
		{"dataset.table", projectOnly, "SELECT * FROM " + DT, "SELECT * FROM $R AS events_v1", 1},
		{"`dataset.table`", projectOnly, "SELECT * FROM `" + DT + "`", "SELECT * FROM $R AS events_v1", 1},
		{"`dataset`.`table`", projectOnly, "SELECT * FROM `" + D + "`.`events_v1`", "SELECT * FROM $R AS events_v1", 1},
		{"dataset.`table`", projectOnly, "SELECT * FROM " + D + ".`events_v1`", "SELECT * FROM $R AS events_v1", 1},
		{"two-part with another default project", otherProject, "SELECT * FROM " + DT, "SELECT * FROM " + DT, 0},
		{"two-part without a default project", noDefaults, "SELECT * FROM " + DT, "SELECT * FROM " + DT, 0},

		// Bare names: default project and dataset, table position only.
		{"bare after FROM", projectAndDataset, "SELECT * FROM events_v1 WHERE a", "SELECT * FROM $R AS events_v1 WHERE a", 1},
		{"bare backticked", projectAndDataset, "SELECT * FROM `events_v1`", "SELECT * FROM $R AS events_v1", 1},
		{"bare after JOIN", projectAndDataset, "SELECT * FROM a LEFT OUTER JOIN events_v1 AS p USING (k)", "SELECT * FROM a LEFT OUTER JOIN $R AS p USING (k)", 1},
		{"bare after CROSS JOIN", projectAndDataset, "SELECT * FROM a CROSS JOIN events_v1", "SELECT * FROM a CROSS JOIN $R AS events_v1", 1},
		{"bare in a comma join", projectAndDataset, "SELECT * FROM a, events_v1 WHERE a.x = events_v1.x",
			"SELECT * FROM a, $R AS events_v1 WHERE a.x = events_v1.x", 1},
		{"bare in a comma join after ON", projectAndDataset, "SELECT * FROM a JOIN b ON a.x = b.x, events_v1",
			"SELECT * FROM a JOIN b ON a.x = b.x, $R AS events_v1", 1},
		{"bare without a default dataset", projectOnly, "SELECT * FROM events_v1", "SELECT * FROM events_v1", 0},
		{"bare with another default project", otherProject, "SELECT * FROM events_v1", "SELECT * FROM events_v1", 0},
		{"bare column in the select list", projectAndDataset, "SELECT a, events_v1 FROM x", "SELECT a, events_v1 FROM x", 0},
		{"bare after a FROM clause ended", projectAndDataset, "SELECT * FROM x WHERE a IN (1, 2) GROUP BY a, events_v1",
			"SELECT * FROM x WHERE a IN (1, 2) GROUP BY a, events_v1", 0},
		{"bare in EXTRACT(... FROM ...)", projectAndDataset, "SELECT EXTRACT(YEAR FROM events_v1) FROM x",
			"SELECT EXTRACT(YEAR FROM events_v1) FROM x", 0},
		{"bare in IS DISTINCT FROM", projectAndDataset, "SELECT * FROM x WHERE a IS NOT DISTINCT FROM events_v1",
			"SELECT * FROM x WHERE a IS NOT DISTINCT FROM events_v1", 0},
		{"bare as an alias", projectAndDataset, "SELECT * FROM other AS events_v1 JOIN y events_v1",
			"SELECT * FROM other AS events_v1 JOIN y events_v1", 0},
		{"bare DML target is not table position", projectAndDataset, "INSERT INTO events_v1 SELECT 1", "INSERT INTO events_v1 SELECT 1", 0},
		{"bare in a subquery", projectAndDataset, "SELECT (SELECT MAX(d) FROM events_v1) FROM x", "SELECT (SELECT MAX(d) FROM $R AS events_v1) FROM x", 1},
		{"bare in brackets is an array element", projectAndDataset, "SELECT * FROM UNNEST([a, events_v1])", "SELECT * FROM UNNEST([a, events_v1])", 0},

		// Strings, comments, parameters.
		{"names in strings and comments", projectAndDataset,
			"SELECT '" + DT + "', \"`" + P + "." + DT + "`\", '''FROM events_v1''' -- FROM " + DT + "\n/* FROM `" + P + "." + DT + "` */ # " + DT + "\nFROM x",
			"SELECT '" + DT + "', \"`" + P + "." + DT + "`\", '''FROM events_v1''' -- FROM " + DT + "\n/* FROM `" + P + "." + DT + "` */ # " + DT + "\nFROM x", 0},
		{"parameters are not names", projectAndDataset, "SELECT @events_v1, @@events_v1 FROM x", "SELECT @events_v1, @@events_v1 FROM x", 0},
		{"comment inside the reference's FROM clause", projectOnly, "SELECT * FROM /* prev */ " + DT + " -- self\nWHERE a",
			"SELECT * FROM /* prev */ $R AS events_v1 -- self\nWHERE a", 1},

		// Other tables whose names contain the table's.
		{"longer table names", projectAndDataset,
			"SELECT * FROM " + D + ".events_v1_backup, " + D + ".events_v12, `" + P + "." + D + ".events_v1_v2`, events_v1_v2, x_events_v1",
			"SELECT * FROM " + D + ".events_v1_backup, " + D + ".events_v12, `" + P + "." + D + ".events_v1_v2`, events_v1_v2, x_events_v1", 0},
		{"other dataset and project", projectAndDataset,
			"SELECT * FROM other.events_v1 JOIN `" + P + ".other.events_v1` USING (k) JOIN `moz-fx-other." + DT + "` USING (k) JOIN other-proj." + DT + " USING (k)",
			"SELECT * FROM other.events_v1 JOIN `" + P + ".other.events_v1` USING (k) JOIN `moz-fx-other." + DT + "` USING (k) JOIN other-proj." + DT + " USING (k)", 0},
		{"wildcard and decorator spellings", projectOnly, "SELECT * FROM `" + P + "." + DT + "*` JOIN `" + DT + "$20240101` USING (k) JOIN " + DT + "* USING (k)",
			"SELECT * FROM `" + P + "." + DT + "*` JOIN `" + DT + "$20240101` USING (k) JOIN " + DT + "* USING (k)", 0},
		{"different case", projectAndDataset, "SELECT * FROM TELEMETRY_DERIVED.events_v1 JOIN telemetry_derived.Events_V1 USING (k) JOIN EVENTS_V1 USING (k)",
			"SELECT * FROM TELEMETRY_DERIVED.events_v1 JOIN telemetry_derived.Events_V1 USING (k) JOIN EVENTS_V1 USING (k)", 0},
		{"keywords in any case", projectOnly, "select * from " + DT + " where a", "select * from $R AS events_v1 where a", 1},

		// Column paths and aliases.
		{"alias-qualified columns stay", projectAndDataset,
			"SELECT events_v1.client_id, e.events_v1, events_v1.events_v1.x FROM " + DT + " JOIN other AS e USING (k)",
			"SELECT events_v1.client_id, e.events_v1, events_v1.events_v1.x FROM $R AS events_v1 JOIN other AS e USING (k)", 1},
		{"explicit alias kept", projectOnly, "SELECT p.x FROM " + DT + " AS p", "SELECT p.x FROM $R AS p", 1},
		{"implicit alias kept", projectOnly, "SELECT p.x FROM " + DT + " p", "SELECT p.x FROM $R p", 1},
		{"quoted implicit alias kept", projectOnly, "SELECT p.x FROM " + DT + " `p`", "SELECT p.x FROM $R `p`", 1},
		{"longer path through the name", projectOnly, "SELECT " + DT + ".field, s." + DT + " FROM x AS s",
			"SELECT " + DT + ".field, s." + DT + " FROM x AS s", 0},
		{"field access after brackets", projectOnly, "SELECT arr[OFFSET(0)]." + DT + ", (SELECT AS STRUCT 1)." + DT + " FROM x",
			"SELECT arr[OFFSET(0)]." + DT + ", (SELECT AS STRUCT 1)." + DT + " FROM x", 0},
		{"alias spelled like the dataset", projectOnly, "SELECT " + DT + " FROM other AS " + D,
			"SELECT " + DT + " FROM other AS " + D, 0},
		{"implicit alias spelled like the dataset", projectOnly, "SELECT " + DT + " FROM other " + D,
			"SELECT " + DT + " FROM other " + D, 0},
		{"subquery alias spelled like the dataset", projectOnly, "SELECT 1 FROM (SELECT [1] AS events_v1) " + D + ", " + DT,
			"SELECT 1 FROM (SELECT [1] AS events_v1) " + D + ", " + DT, 0},
		{"function named like the table", projectAndDataset, "SELECT " + DT + "(x), `" + P + "." + DT + "`(y), events_v1(z) FROM a",
			"SELECT " + DT + "(x), `" + P + "." + DT + "`(y), events_v1(z) FROM a", 0},
		{"table-valued function named like the table", projectAndDataset, "SELECT * FROM events_v1(1)", "SELECT * FROM events_v1(1)", 0},
		{"dashes mean subtraction in expressions", projectOnly, "SELECT x-" + DT + " FROM a", "SELECT x-" + DT + " FROM a", 0},

		// UNNEST and FROM-clause shapes.
		{"unnest of the implicit alias", projectOnly, "SELECT a FROM " + DT + ", UNNEST(events_v1.arr) AS a",
			"SELECT a FROM $R AS events_v1, UNNEST(events_v1.arr) AS a", 1},
		{"unnest of an explicit alias", projectOnly, "SELECT a FROM " + DT + " AS e CROSS JOIN UNNEST(e.arr) AS a WITH OFFSET AS o",
			"SELECT a FROM $R AS e CROSS JOIN UNNEST(e.arr) AS a WITH OFFSET AS o", 1},
		{"unnest alias named like the table", projectAndDataset, "SELECT events_v1 FROM x, UNNEST(x.arr) AS events_v1",
			"SELECT events_v1 FROM x, UNNEST(x.arr) AS events_v1", 0},
		{"for system time", projectOnly, "SELECT * FROM " + DT + " FOR SYSTEM_TIME AS OF ts",
			"SELECT * FROM $R AS events_v1 FOR SYSTEM_TIME AS OF ts", 1},
		{"tablesample", projectOnly, "SELECT * FROM " + DT + " TABLESAMPLE SYSTEM (10 PERCENT)",
			"SELECT * FROM $R AS events_v1 TABLESAMPLE SYSTEM (10 PERCENT)", 1},
		{"pivot", projectOnly, "SELECT * FROM " + DT + " PIVOT(SUM(n) FOR k IN ('a'))",
			"SELECT * FROM $R AS events_v1 PIVOT(SUM(n) FOR k IN ('a'))", 1},
		{"star after the name", projectOnly, "SELECT " + DT + ".*, `" + P + "." + DT + "`.* FROM x", "SELECT " + DT + ".*, `" + P + "." + DT + "`.* FROM x", 0},
		{"parenthesised join", projectAndDataset, "SELECT * FROM (events_v1 JOIN u USING (k)), ((" + DT + "))",
			"SELECT * FROM ($R AS events_v1 JOIN u USING (k)), (($R AS events_v1))", 2},
		{"subquery in FROM starts with SELECT", projectAndDataset, "SELECT * FROM (SELECT a, events_v1 FROM x)",
			"SELECT * FROM (SELECT a, events_v1 FROM x)", 0},
		{"closing parenthesis", projectOnly, "SELECT * FROM (SELECT * FROM " + DT + ")", "SELECT * FROM (SELECT * FROM $R AS events_v1)", 1},
		{"set operation", projectOnly, "SELECT * FROM " + DT + " UNION ALL SELECT * FROM " + DT + " p",
			"SELECT * FROM $R AS events_v1 UNION ALL SELECT * FROM $R p", 2},
		{"DML targets with qualified names", projectOnly, "INSERT INTO " + DT + " (a) SELECT 1; MERGE " + DT + " T USING s ON T.k = s.k WHEN MATCHED THEN DELETE",
			"INSERT INTO $R (a) SELECT 1; MERGE $R T USING s ON T.k = s.k WHEN MATCHED THEN DELETE", 2},

		// CTEs and temporary tables named like the table.
		{"CTE named like the table", projectAndDataset,
			"WITH events_v1 AS (SELECT * FROM " + DT + " WHERE d = @d) SELECT * FROM events_v1",
			"WITH events_v1 AS (SELECT * FROM $R AS events_v1 WHERE d = @d) SELECT * FROM events_v1", 1},
		{"recursive CTE named like the table, quoted", projectAndDataset,
			"WITH RECURSIVE x AS (SELECT 1), `events_v1` AS (SELECT * FROM `events_v1`) SELECT * FROM `events_v1`",
			"WITH RECURSIVE x AS (SELECT 1), `events_v1` AS (SELECT * FROM `events_v1`) SELECT * FROM `events_v1`", 0},
		{"CTE shadows only its own statement", projectAndDataset,
			"WITH events_v1 AS (SELECT 1) SELECT * FROM events_v1; SELECT * FROM events_v1;",
			"WITH events_v1 AS (SELECT 1) SELECT * FROM events_v1; SELECT * FROM $R AS events_v1;", 1},
		{"CTE named like the dataset", projectOnly,
			"WITH " + D + " AS (SELECT STRUCT(1 AS events_v1) AS s) SELECT " + DT + " FROM " + D,
			"WITH " + D + " AS (SELECT STRUCT(1 AS events_v1) AS s) SELECT " + DT + " FROM " + D, 0},
		{"temp table named like the table", projectAndDataset,
			"CREATE TEMP TABLE events_v1 AS SELECT * FROM " + DT + "; SELECT * FROM events_v1",
			"CREATE TEMP TABLE events_v1 AS SELECT * FROM $R AS events_v1; SELECT * FROM events_v1", 1},

		// A typical depends_on_past query, written as bigquery-etl writes them.
		{"clients_last_seen shape", projectOnly, `CREATE TEMP FUNCTION bits(x INT64) AS (x << 1);
WITH _current AS (
  SELECT client_id, 1 AS days_seen_bits
  FROM telemetry_derived.clients_daily_v6
  WHERE submission_date = @submission_date
),
_previous AS (
  SELECT * EXCEPT (submission_date)
  FROM ` + "`" + P + "." + DT + "`" + `
  WHERE submission_date = DATE_SUB(@submission_date, INTERVAL 1 DAY)
    AND bits(days_seen_bits) > 0
)
SELECT @submission_date AS submission_date, IF(_current.client_id IS NOT NULL, _current, _previous).*
FROM _current
FULL JOIN _previous USING (client_id)`, `CREATE TEMP FUNCTION bits(x INT64) AS (x << 1);
WITH _current AS (
  SELECT client_id, 1 AS days_seen_bits
  FROM telemetry_derived.clients_daily_v6
  WHERE submission_date = @submission_date
),
_previous AS (
  SELECT * EXCEPT (submission_date)
  FROM $R AS events_v1
  WHERE submission_date = DATE_SUB(@submission_date, INTERVAL 1 DAY)
    AND bits(days_seen_bits) > 0
)
SELECT @submission_date AS submission_date, IF(_current.client_id IS NOT NULL, _current, _previous).*
FROM _current
FULL JOIN _previous USING (client_id)`, 1},
		{"every spelling at once", projectAndDataset,
			"SELECT * FROM `" + P + "." + DT + "` a JOIN " + DT + " b USING (k) JOIN `" + DT + "` c USING (k) JOIN events_v1 d USING (k) JOIN " + P + "." + DT + " e USING (k)",
			"SELECT * FROM $R a JOIN $R b USING (k) JOIN $R c USING (k) JOIN $R d USING (k) JOIN $R e USING (k)", 5},
		{"empty query", projectAndDataset, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dp, dd string
			switch tt.def {
			case projectOnly:
				dp = selfRef.Project
			case projectAndDataset:
				dp, dd = selfRef.Project, selfRef.Dataset
			case otherProject:
				dp, dd = "other-project", selfRef.Dataset
			}
			got, n, err := RewriteSelfReferences(tt.src, selfRef, stagingRef, dp, dd)
			if err != nil {
				t.Fatalf("RewriteSelfReferences: %v", err)
			}
			want := strings.ReplaceAll(tt.want, "$R", R)
			if got != want || n != tt.n {
				t.Errorf("RewriteSelfReferences(%q)\n got %d %q\nwant %d %q", tt.src, n, got, tt.n, want)
			}
			// The output is valid to the lexer and no longer names the table.
			again, n2, err := RewriteSelfReferences(got, selfRef, stagingRef, dp, dd)
			if err != nil || n2 != 0 || again != got {
				t.Errorf("rewriting the output again = %d %q, %v; want it unchanged", n2, again, err)
			}
		})
	}
}

func TestRewriteSelfReferencesQuotesTheAlias(t *testing.T) {
	self := warehouse.TableRef{Project: "p", Dataset: "d", Table: "group"}
	got, n, err := RewriteSelfReferences("SELECT `group`.x FROM `group`", self, stagingRef, "p", "d")
	if err != nil {
		t.Fatal(err)
	}
	if want := "SELECT `group`.x FROM " + R + " AS `group`"; got != want || n != 1 {
		t.Errorf("got %d %q, want 1 %q", n, got, want)
	}
	// An unquoted reserved word is a keyword, never the table.
	if got, n, _ := RewriteSelfReferences("SELECT 1 FROM group", self, stagingRef, "p", "d"); n != 0 || got != "SELECT 1 FROM group" {
		t.Errorf("unquoted reserved word rewritten: %d %q", n, got)
	}
}

func TestRewriteSelfReferencesAfterRender(t *testing.T) {
	src := `SELECT * FROM telemetry_derived.events_v1
{% if is_init() %}
WHERE TRUE
{% else %}
WHERE submission_date = DATE_SUB(@submission_date, INTERVAL 1 DAY)
{% endif %}`
	if _, _, err := RewriteSelfReferences(src, selfRef, stagingRef, selfRef.Project, ""); err == nil ||
		!strings.Contains(err.Error(), "render it first") || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("rewriting a template: error = %v, want one asking to render first at line 2", err)
	}
	rendered, err := Render(src, false)
	if err != nil {
		t.Fatal(err)
	}
	got, n, err := RewriteSelfReferences(rendered, selfRef, stagingRef, selfRef.Project, "")
	if err != nil || n != 1 {
		t.Fatalf("RewriteSelfReferences(rendered) = %d, %v", n, err)
	}
	want := "SELECT * FROM " + R + " AS events_v1\n\nWHERE submission_date = DATE_SUB(@submission_date, INTERVAL 1 DAY)\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestRewriteSelfReferencesErrors(t *testing.T) {
	tests := []struct {
		name       string
		src        string
		self, repl warehouse.TableRef
		want       string
	}{
		{"self not qualified", "SELECT 1", warehouse.TableRef{Dataset: "d", Table: "t"}, stagingRef, "not fully qualified"},
		{"empty replacement", "SELECT 1", selfRef, warehouse.TableRef{}, "invalid replacement table"},
		{"replacement with a backtick", "SELECT 1", selfRef, warehouse.TableRef{Project: "p", Dataset: "d", Table: "t`x"}, "invalid replacement table"},
		{"replacement with a dot", "SELECT 1", selfRef, warehouse.TableRef{Project: "p", Dataset: "d.e", Table: "t"}, "invalid replacement table"},
		{"lexing error", "SELECT 'open", selfRef, stagingRef, "unterminated string literal"},
		{"jinja expression", "SELECT {{ x }}", selfRef, stagingRef, "render it first"},
		{"jinja comment", "{# c #} SELECT 1", selfRef, stagingRef, "render it first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := RewriteSelfReferences(tt.src, tt.self, tt.repl, "p", "d")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
