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
			if fn, ok := readsFiles(st.SQL); ok {
				t.Fatalf("translation calls %s after FROM or JOIN: %q", fn, st.SQL)
			}
		}
	})
}

// fileFuncs are DuckDB's table functions that read files.
var fileFuncs = map[string]bool{"read_text": true, "read_blob": true, "read_csv": true, "read_csv_auto": true, "read_json": true, "read_json_auto": true, "read_parquet": true, "parquet_scan": true, "glob": true}

// readsFiles reports whether DuckDB SQL calls a file-reading table function
// in a table position (after FROM or JOIN). It reads the text as DuckDB's
// lexer does: string literals ('…' with ” inside) and comments are skipped,
// so text inside a literal is not a call (the fuzzer found that one:
// "(000000'FROM reAd_teXt(')"), and a double-quoted identifier is a name
// like an unquoted one ("read_text"( calls the function).
func readsFiles(sql string) (string, bool) {
	var words []string // identifiers lower-cased; punctuation as itself; literals as "'"
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'':
			j := i + 1
			for j < len(sql) {
				if sql[j] == '\'' {
					if j+1 < len(sql) && sql[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			words = append(words, "'")
			i = j + 1
		case c == '"':
			j := i + 1
			var name strings.Builder
			for j < len(sql) {
				if sql[j] == '"' {
					if j+1 < len(sql) && sql[j+1] == '"' {
						name.WriteByte('"')
						j += 2
						continue
					}
					break
				}
				name.WriteByte(sql[j])
				j++
			}
			words = append(words, strings.ToLower(name.String()))
			i = j + 1
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				j = len(sql) - i
			}
			i += j
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			j := strings.Index(sql[i+2:], "*/")
			if j < 0 {
				i = len(sql)
			} else {
				i += j + 4
			}
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case identChar(sql, i):
			j := i
			for identChar(sql, j) {
				j++
			}
			words = append(words, strings.ToLower(sql[i:j]))
			i = j
		default:
			words = append(words, string(c))
			i++
		}
	}
	for i := 1; i+1 < len(words); i++ {
		if fileFuncs[words[i]] && words[i+1] == "(" && (words[i-1] == "from" || words[i-1] == "join") {
			return words[i], true
		}
	}
	return "", false
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

// TestReadsFiles holds the fuzz oracle to both sides: calls in a table
// position are found, text in literals, comments and longer names is not.
func TestReadsFiles(t *testing.T) {
	for sql, want := range map[string]bool{
		"SELECT * FROM read_text('x')":            true,
		"SELECT * FROM t JOIN \"READ_CSV\"('x')":  true,
		"SELECT * FROM /* c */ glob ('*')":        true,
		"SELECT (000000'FROM reAd_teXt(')":        false,
		"SELECT 'it''s FROM read_text(' FROM t":   false,
		"SELECT 1 -- FROM read_text('x')":         false,
		"SELECT fromread_text('x')":               false,
		"SELECT * FROM t WHERE read_text_x('y')":  false,
		"SELECT * FROM \xdeFROM read_text_b('y')": false,
	} {
		if _, got := readsFiles(sql); got != want {
			t.Errorf("readsFiles(%q) = %v, want %v", sql, got, want)
		}
	}
}
