package rowsfmt

import (
	"bytes"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// TestWrite: each format prints every kind of value a query returns as
// documented (docs/cli.md, sql), and an unknown format is an error naming
// the known ones.
func TestWrite(t *testing.T) {
	rows := &warehouse.Rows{
		Columns: []string{"d", "n", "x", "num", "ts", "arr", "s"},
		Rows: [][]any{
			{civil.Date{Year: 2024, Month: 1, Day: 2}, int64(3), 0.5, big.NewRat(5, 4), time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), []any{"a", int64(1)}, "é"},
			{nil, nil, math.Inf(1), nil, nil, nil, "a,b"},
		},
	}
	tests := []struct {
		format, want string
	}{
		{"table", "" +
			"d           n     x     num   ts                       arr      s\n" +
			"----------  ----  ----  ----  -----------------------  -------  ---\n" +
			"2024-01-02  3     0.5   1.25  2024-01-02 03:04:05 UTC  [\"a\",1]  é\n" +
			"NULL        NULL  +Inf  NULL  NULL                     NULL     a,b\n" +
			"(2 rows)\n"},
		{"csv", "d,n,x,num,ts,arr,s\n" +
			"2024-01-02,3,0.5,1.25,2024-01-02 03:04:05 UTC,\"[\"\"a\"\",1]\",é\n" +
			",,+Inf,,,,\"a,b\"\n"},
		{"json", "[\n" +
			`  {"d": "2024-01-02", "n": 3, "x": 0.5, "num": "1.25", "ts": "2024-01-02T03:04:05Z", "arr": ["a",1], "s": "é"},` + "\n" +
			`  {"d": null, "n": null, "x": "+Inf", "num": null, "ts": null, "arr": null, "s": "a,b"}` + "\n]\n"},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		if err := Write(&buf, rows, tc.format); err != nil {
			t.Fatalf("%s: %v", tc.format, err)
		}
		if buf.String() != tc.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.format, buf.String(), tc.want)
		}
	}
	var buf bytes.Buffer
	if err := Write(&buf, &warehouse.Rows{}, ""); err != nil || buf.String() != "OK\n" {
		t.Errorf("a statement without a result: %q, %v; want OK", buf.String(), err)
	}
	if err := Write(&buf, rows, "xml"); err == nil || !strings.Contains(err.Error(), "table, json, csv") {
		t.Errorf("unknown format: %v", err)
	}
}
