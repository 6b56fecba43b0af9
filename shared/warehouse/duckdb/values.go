package duckdb

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"time"

	"cloud.google.com/go/civil"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb/internal/bqsql"
)

// readRows converts a result set to warehouse.Rows. Values have the Go
// types the BigQuery client uses: int64 (INT64), float64 (FLOAT64),
// *big.Rat (NUMERIC), string (STRING, JSON), []byte (BYTES), bool (BOOL),
// civil.Date (DATE), civil.DateTime (DATETIME), time.Time in UTC
// (TIMESTAMP), civil.Time (TIME), []any (REPEATED) and map[string]any
// (RECORD); NULL is nil.
func readRows(rows *sql.Rows) (*warehouse.Rows, error) {
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	fields := make([]warehouse.Field, len(cols))
	for i, ct := range types {
		f, err := bqsql.FieldFromDuckDB(cols[i], ct.DatabaseTypeName(), true)
		if err != nil {
			// An exotic DuckDB type: return its values unconverted.
			f = warehouse.Field{Name: cols[i], Type: ""}
		}
		if ct.DatabaseTypeName() == "UUID" {
			f.Type = "UUID" // scanned as 16 bytes; rendered as text
		}
		fields[i] = f
	}
	out := &warehouse.Rows{Columns: cols, Rows: [][]any{}}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i := range vals {
			vals[i] = convert(vals[i], fields[i])
		}
		out.Rows = append(out.Rows, vals)
	}
	return out, rows.Err()
}

// convert turns a value scanned from DuckDB into the Go type for f.
func convert(v any, f warehouse.Field) any {
	if v == nil {
		return nil
	}
	if f.Mode == "REPEATED" {
		list, ok := v.([]any)
		if !ok {
			return v
		}
		elem := f
		elem.Mode = "NULLABLE"
		out := make([]any, len(list))
		for i, x := range list {
			out[i] = convert(x, elem)
		}
		return out
	}
	switch f.Type {
	case "INT64":
		return toInt64(v)
	case "FLOAT64":
		switch x := v.(type) {
		case float32:
			return float64(x)
		case float64:
			return x
		}
	case "NUMERIC":
		if d, ok := v.(duckdb.Decimal); ok {
			den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale)), nil)
			return new(big.Rat).SetFrac(d.Value, den)
		}
	case "DATE":
		if t, ok := v.(time.Time); ok {
			return civil.DateOf(t)
		}
	case "DATETIME":
		if t, ok := v.(time.Time); ok {
			return civil.DateTimeOf(t)
		}
	case "TIMESTAMP":
		if t, ok := v.(time.Time); ok {
			return t.UTC()
		}
	case "TIME":
		if t, ok := v.(time.Time); ok {
			return civil.TimeOf(t)
		}
	case "STRING":
		switch x := v.(type) {
		case string:
			return x
		case []byte:
			return string(x)
		default:
			return fmt.Sprint(x)
		}
	case "UUID":
		if b, ok := v.([]byte); ok && len(b) == 16 {
			return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
		}
	case "JSON":
		// The driver decodes JSON; BigQuery returns its text.
		switch x := v.(type) {
		case string:
			return x
		case []byte:
			return string(x)
		}
		if b, err := json.Marshal(v); err == nil {
			return string(b)
		}
	case "RECORD":
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		out := make(map[string]any, len(m))
		for _, sub := range f.Fields {
			out[sub.Name] = convert(m[sub.Name], sub)
		}
		return out
	}
	return v
}

// toInt64 converts DuckDB's integer types (including HUGEINT, as *big.Int,
// when it fits) to int64.
func toInt64(v any) any {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
	case *big.Int:
		if x.IsInt64() {
			return x.Int64()
		}
	}
	return v
}
