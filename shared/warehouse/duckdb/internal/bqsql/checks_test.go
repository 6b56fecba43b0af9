package bqsql

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckStatements(t *testing.T) {
	tests := []struct {
		src, want, err string
	}{
		{src: "ASSERT (SELECT COUNT(*) FROM t) > 0 AS 'rows'", want: "SELECT CASE WHEN ((SELECT COUNT(*) FROM \"t\") > 0) THEN NULL ELSE error('rows') END AS assertion"},
		{src: "ASSERT 1 = 1 AS 'one'", want: "SELECT CASE WHEN (1 = 1) THEN NULL ELSE error('one') END AS assertion"},
		{src: "ASSERT x\n  BETWEEN 1 AND 2", want: "error('Assertion failed: x BETWEEN 1 AND 2')"},
		{src: "ASSERT x AS desc", err: "string literal description"},
		{src: "ASSERT", err: "needs an expression"},
		{src: "SELECT ARRAY_AGG(x IGNORE NULLS) FROM t", want: "array_agg(x) FILTER (WHERE (x) IS NOT NULL)"},
		{src: "SELECT ARRAY_AGG(DISTINCT x RESPECT NULLS ORDER BY y DESC) FROM t", want: "array_agg(DISTINCT x ORDER BY y DESC)"},
		{src: "SELECT ARRAY_AGG(x LIMIT 1) FROM t", err: "ARRAY_AGG(… LIMIT n)"},
		{src: "SELECT mozfun.assert.equals(1, 2)", want: "CASE WHEN (1) IS NOT DISTINCT FROM (2) THEN TRUE"},
		{src: "SELECT `mozfun.assert.true`(a > 1)", want: "CASE WHEN (a > 1) THEN TRUE"},
		{src: "SELECT mozfun.bits28.days_since_seen(b)", want: "ctz("},
		{src: "SELECT mozfun.assert.equals(1)", err: "takes 2 arguments"},
		{src: "SELECT mozfun.other.fn(1)", err: "user-defined function mozfun.other.fn"},
	}
	for _, tt := range tests {
		sts, err := Parse(tt.src, nil)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%q): err = %v, want %q", tt.src, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		if !strings.Contains(sts[0].SQL, tt.want) {
			t.Errorf("Parse(%q) = %q, want it to contain %q", tt.src, sts[0].SQL, tt.want)
		}
	}
	_, err := Parse("SELECT mozfun.hist.extract(x)", nil)
	var ue *UnsupportedError
	if !errors.As(err, &ue) {
		t.Errorf("unknown UDF: err = %v, want UnsupportedError", err)
	}
}
