package bqsql

import (
	"reflect"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// FuzzParse feeds arbitrary text to the BigQuery-to-DuckDB translator
// (seed corpus: testdata/fuzz/FuzzParse, queries of the bigquery-etl corpus
// and of the tests). It must never panic; tokens must cover the source in
// order; a translation must be deterministic and name its tables with one
// to three non-empty parts; and no translated statement may reach a file
// through a DuckDB table function or a replacement scan (the dialect's
// half of the sandbox, docs/duckdb-sql.md).
func FuzzParse(f *testing.F) {
	f.Add("SELECT submission_date, COUNT(*) FROM `p.d.t` WHERE submission_date = @submission_date GROUP BY 1")
	params := []warehouse.Param{{Name: "submission_date", Type: "DATE", Value: "2024-01-02"}, {Name: "n", Type: "INT64", Value: "3"}}
	f.Fuzz(func(t *testing.T, src string) {
		toks, err := Tokenize(src)
		if err == nil {
			end := 0
			for _, tk := range toks {
				if tk.Pos < end || tk.End < tk.Pos || tk.End > len(src) {
					t.Fatalf("token %+v out of order or bounds (previous end %d, source length %d)", tk, end, len(src))
				}
				end = tk.End
			}
		}
		stmts, err := Parse(src, params)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		again, err := Parse(src, params)
		if err != nil || !reflect.DeepEqual(stmts, again) {
			t.Fatalf("two translations differ: %v", err)
		}
		for _, st := range stmts {
			for _, p := range append(append([]Path(nil), st.Reads...), st.Target) {
				if len(p) > 3 {
					t.Fatalf("table name %q has %d parts", p, len(p))
				}
				for _, part := range p {
					if part == "" {
						t.Fatalf("table name %q has an empty part", p)
					}
				}
			}
			low := strings.ToLower(st.SQL)
			for _, fn := range []string{"read_text(", "read_blob(", "read_csv(", "read_csv_auto(", "read_json(", "read_parquet(", "glob("} {
				if i := strings.Index(low, fn); i >= 0 && !identChar(low, i-1) && fromBefore(low[:i]) {
					t.Fatalf("translation reads files: %q", st.SQL)
				}
			}
		}
	})
}

// fromBefore reports whether the text ends with FROM or JOIN (a table
// position), ignoring spaces.
// Both words are whole: "fromread_text(" is one identifier called as a
// function, not a table function after FROM (the fuzzer found that one).
func fromBefore(s string) bool {
	s = strings.TrimRight(s, " \t\r\n")
	for _, kw := range []string{"from", "join"} {
		if strings.HasSuffix(s, kw) && !identChar(s, len(s)-len(kw)-1) {
			return true
		}
	}
	return false
}

// identChar reports whether s[i] exists and can continue an identifier
// (bytes of non-ASCII text do, for the lexer as for DuckDB).
func identChar(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return false
	}
	c := s[i]
	return c == '_' || c >= 0x80 || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
