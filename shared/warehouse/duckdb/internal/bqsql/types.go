package bqsql

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// parseType parses a BigQuery type starting at toks[i] and returns it as a
// schema field (Name empty; REPEATED for ARRAY<T>) and the index after it.
func parseType(toks []Token, i int) (warehouse.Field, int, error) {
	t := toks[i]
	if t.Kind != Ident {
		return warehouse.Field{}, i, &SyntaxError{Pos: t.Pos, Msg: fmt.Sprintf("expected a type name, got %s %q", t.Kind, t.Text)}
	}
	u := t.Upper()
	i++
	switch u {
	case "ARRAY":
		if !toks[i].IsPunct("<") {
			return warehouse.Field{}, i, &SyntaxError{Pos: toks[i].Pos, Msg: "ARRAY type needs an element type: ARRAY<T>"}
		}
		elem, j, err := parseType(toks, i+1)
		if err != nil {
			return warehouse.Field{}, j, err
		}
		if elem.Mode == "REPEATED" {
			return warehouse.Field{}, j, &UnsupportedError{Construct: "ARRAY of ARRAY", Hint: "BigQuery does not allow it either; wrap the inner array in a STRUCT"}
		}
		if !toks[j].IsPunct(">") {
			return warehouse.Field{}, j, &SyntaxError{Pos: toks[j].Pos, Msg: "expected > to close ARRAY<"}
		}
		elem.Mode = "REPEATED"
		return elem, j + 1, nil
	case "STRUCT":
		f := warehouse.Field{Type: "RECORD"}
		if !toks[i].IsPunct("<") {
			return warehouse.Field{}, i, &SyntaxError{Pos: toks[i].Pos, Msg: "STRUCT type needs fields: STRUCT<name TYPE, …>"}
		}
		i++
		for {
			if toks[i].IsPunct(">") && len(f.Fields) > 0 {
				return f, i + 1, nil
			}
			name := toks[i]
			if (name.Kind != Ident && name.Kind != QuotedIdent) || toks[i+1].IsPunct(",") || toks[i+1].IsPunct(">") {
				return warehouse.Field{}, i, &UnsupportedError{Construct: "STRUCT type with an unnamed field", Hint: "name every field: STRUCT<name TYPE, …>"}
			}
			sub, j, err := parseType(toks, i+1)
			if err != nil {
				return warehouse.Field{}, j, err
			}
			sub.Name = name.Text
			f.Fields = append(f.Fields, sub)
			i = j
			if toks[i].IsPunct(",") {
				i++
				continue
			}
			if !toks[i].IsPunct(">") {
				return warehouse.Field{}, i, &SyntaxError{Pos: toks[i].Pos, Msg: "expected , or > in STRUCT<…>"}
			}
		}
	}
	canon := warehouse.CanonicalType(u)
	switch canon {
	case "INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC", "STRING", "BYTES", "BOOL", "DATE", "DATETIME",
		"TIMESTAMP", "TIME", "JSON", "INTERVAL", "GEOGRAPHY":
	default:
		return warehouse.Field{}, i, &UnsupportedError{Construct: "type " + t.Text}
	}
	f := warehouse.Field{Type: canon}
	// Parameterized types: STRING(10), BYTES(5), NUMERIC(p[, s]).
	if toks[i].IsPunct("(") {
		var nums []int
		j := i + 1
		for {
			if toks[j].Kind != Number {
				return warehouse.Field{}, j, &SyntaxError{Pos: toks[j].Pos, Msg: "expected a number in type parameters"}
			}
			n, err := strconv.Atoi(toks[j].Text)
			if err != nil {
				return warehouse.Field{}, j, &SyntaxError{Pos: toks[j].Pos, Msg: "bad type parameter " + toks[j].Text}
			}
			nums = append(nums, n)
			j++
			if toks[j].IsPunct(",") {
				j++
				continue
			}
			if toks[j].IsPunct(")") {
				break
			}
			return warehouse.Field{}, j, &SyntaxError{Pos: toks[j].Pos, Msg: "expected , or ) in type parameters"}
		}
		i = j + 1
		if canon == "NUMERIC" {
			// NUMERIC(P[, S]) is stored as DECIMAL(38, 9); BigQuery itself
			// requires P-S <= 29 and S <= 9, so every value fits.
			scale := 0
			if len(nums) > 1 {
				scale = nums[1]
			}
			if len(nums) > 2 || scale > 9 || nums[0]-scale > 29 {
				return warehouse.Field{}, i, &UnsupportedError{Construct: fmt.Sprintf("NUMERIC%v", nums), Hint: "NUMERIC(P, S) needs P-S <= 29 and S <= 9"}
			}
		}
	}
	return f, i, nil
}

// DuckDBType renders a BigQuery schema field (type and mode) as a DuckDB
// column type. REQUIRED is not part of the type (see ColumnDDL).
func DuckDBType(f warehouse.Field) (string, error) {
	var base string
	switch warehouse.CanonicalType(f.Type) {
	case "INT64":
		base = "BIGINT"
	case "FLOAT64":
		base = "DOUBLE"
	case "NUMERIC":
		base = "DECIMAL(38,9)"
	case "STRING":
		base = "VARCHAR"
	case "BYTES":
		base = "BLOB"
	case "BOOL":
		base = "BOOLEAN"
	case "DATE":
		base = "DATE"
	case "DATETIME":
		base = "TIMESTAMP"
	case "TIMESTAMP":
		base = "TIMESTAMPTZ"
	case "TIME":
		base = "TIME"
	case "JSON":
		base = "JSON"
	case "INTERVAL":
		base = "INTERVAL"
	case "RECORD":
		if len(f.Fields) == 0 {
			return "", &UnsupportedError{Construct: fmt.Sprintf("RECORD field %q without subfields", f.Name)}
		}
		parts := make([]string, len(f.Fields))
		for i, sub := range f.Fields {
			st, err := DuckDBType(sub)
			if err != nil {
				return "", err
			}
			parts[i] = QuoteIdent(sub.Name) + " " + st
		}
		base = "STRUCT(" + strings.Join(parts, ", ") + ")"
	case "BIGNUMERIC":
		return "", &UnsupportedError{Construct: "type BIGNUMERIC", Hint: "use NUMERIC or FLOAT64"}
	case "GEOGRAPHY":
		return "", &UnsupportedError{Construct: "type GEOGRAPHY"}
	default:
		return "", &UnsupportedError{Construct: "type " + f.Type}
	}
	if strings.EqualFold(f.Mode, "REPEATED") {
		base += "[]"
	}
	return base, nil
}

// ColumnDDL renders one column definition for CREATE TABLE.
func ColumnDDL(f warehouse.Field) (string, error) {
	t, err := DuckDBType(f)
	if err != nil {
		return "", err
	}
	s := QuoteIdent(f.Name) + " " + t
	if strings.EqualFold(f.Mode, "REQUIRED") {
		s += " NOT NULL"
	}
	return s, nil
}

// FieldFromDuckDB converts a column's DuckDB type (as duckdb_columns()
// reports it) to a BigQuery schema field.
func FieldFromDuckDB(name, duckType string, nullable bool) (warehouse.Field, error) {
	toks, err := Tokenize(duckType)
	if err != nil {
		return warehouse.Field{}, fmt.Errorf("column %s: DuckDB type %q: %w", name, duckType, err)
	}
	f, i, err := parseDuckType(toks, 0)
	if err != nil {
		return warehouse.Field{}, fmt.Errorf("column %s: DuckDB type %q: %w", name, duckType, err)
	}
	if toks[i].Kind != EOF {
		return warehouse.Field{}, fmt.Errorf("column %s: DuckDB type %q: unexpected %q", name, duckType, toks[i].Text)
	}
	f.Name = name
	if f.Mode == "" {
		if nullable {
			f.Mode = "NULLABLE"
		} else {
			f.Mode = "REQUIRED"
		}
	}
	return f, nil
}

func parseDuckType(toks []Token, i int) (warehouse.Field, int, error) {
	t := toks[i]
	if t.Kind != Ident {
		return warehouse.Field{}, i, fmt.Errorf("expected a type name, got %q", t.Text)
	}
	u := t.Upper()
	i++
	var f warehouse.Field
	skipParens := func() error {
		if !toks[i].IsPunct("(") {
			return nil
		}
		depth := 0
		for ; toks[i].Kind != EOF; i++ {
			if toks[i].IsPunct("(") {
				depth++
			} else if toks[i].IsPunct(")") {
				depth--
				if depth == 0 {
					i++
					return nil
				}
			}
		}
		return fmt.Errorf("unbalanced parentheses")
	}
	switch u {
	case "BIGINT", "INTEGER", "INT", "INT4", "INT8", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER",
		"USMALLINT", "UTINYINT", "UHUGEINT", "INT2", "INT1", "LONG", "SHORT", "SIGNED", "INT64", "INT128":
		f.Type = "INT64"
	case "DOUBLE", "FLOAT", "REAL", "FLOAT4", "FLOAT8", "FLOAT64":
		f.Type = "FLOAT64"
	case "DECIMAL", "NUMERIC":
		f.Type = "NUMERIC"
		if err := skipParens(); err != nil {
			return f, i, err
		}
	case "VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR", "UUID", "BIT", "BITSTRING":
		f.Type = "STRING"
		if err := skipParens(); err != nil {
			return f, i, err
		}
	case "ENUM", "MAP", "UNION", "VARIANT", "GEOMETRY":
		f.Type = "STRING"
		if err := skipParens(); err != nil {
			return f, i, err
		}
	case "BLOB", "BYTEA", "VARBINARY", "BINARY":
		f.Type = "BYTES"
	case "BOOLEAN", "BOOL", "LOGICAL":
		f.Type = "BOOL"
	case "DATE":
		f.Type = "DATE"
	case "TIMESTAMP", "DATETIME", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP_US":
		f.Type = "DATETIME"
		if toks[i].Is("WITH") && toks[i+1].Is("TIME") && toks[i+2].Is("ZONE") {
			f.Type = "TIMESTAMP"
			i += 3
		}
	case "TIMESTAMPTZ":
		f.Type = "TIMESTAMP"
	case "TIME", "TIMETZ":
		f.Type = "TIME"
		if toks[i].Is("WITH") && toks[i+1].Is("TIME") && toks[i+2].Is("ZONE") {
			i += 3
		}
	case "INTERVAL":
		f.Type = "INTERVAL"
	case "JSON":
		f.Type = "JSON"
	case "NULL", `"NULL"`:
		f.Type = "INT64"
	case "STRUCT", "ROW":
		f.Type = "RECORD"
		if !toks[i].IsPunct("(") {
			return f, i, fmt.Errorf("expected ( after STRUCT")
		}
		i++
		for {
			name := toks[i]
			if name.Kind != Ident && name.Kind != String {
				return f, i, fmt.Errorf("expected a field name in STRUCT, got %q", name.Text)
			}
			sub, j, err := parseDuckType(toks, i+1)
			if err != nil {
				return f, j, err
			}
			sub.Name = name.Text
			if sub.Mode == "" {
				sub.Mode = "NULLABLE"
			}
			f.Fields = append(f.Fields, sub)
			i = j
			if toks[i].IsPunct(",") {
				i++
				continue
			}
			if toks[i].IsPunct(")") {
				i++
				break
			}
			return f, i, fmt.Errorf("expected , or ) in STRUCT, got %q", toks[i].Text)
		}
	default:
		return f, i, fmt.Errorf("unknown DuckDB type %s", t.Text)
	}
	// List suffixes: T[] and fixed-size T[n]. A list of lists has no
	// BigQuery equivalent; its inner list is reported as JSON.
	for toks[i].IsPunct("[") {
		j := i + 1
		if toks[j].Kind == Number {
			j++
		}
		if !toks[j].IsPunct("]") {
			return f, i, fmt.Errorf("expected ] in list type")
		}
		i = j + 1
		if f.Mode == "REPEATED" {
			f = warehouse.Field{Type: "JSON"}
		}
		f.Mode = "REPEATED"
	}
	return f, i, nil
}
