package bqsql

import (
	"strings"
)

// This file holds what data checks (checks.sql, docs/duckdb-sql.md "Data
// checks") need beyond queries: the ASSERT statement, ARRAY_AGG(… IGNORE
// NULLS), and built-in stand-ins for the mozfun UDFs the real checks call.

// parseAssert translates ASSERT expr [AS 'description'] into a query that
// returns no error when expr is TRUE and calls error() when it is FALSE or
// NULL, as BigQuery does. The message is the description; without one it is
// "Assertion failed: <expr as written>" (decision: BigQuery's own wording
// without a description is not documented).
func parseAssert(st *Statement, sh *shared, src string, toks []Token) error {
	body := toks[1 : len(toks)-1] // drop ASSERT and EOF
	if len(body) == 0 {
		return &SyntaxError{Pos: toks[0].End, Msg: "ASSERT needs an expression"}
	}
	desc := ""
	hasDesc := false
	if n := len(body); n >= 3 && body[n-2].Is("AS") && body[n-1].Kind == String {
		desc, hasDesc = body[n-1].Text, true
		body = body[:n-2]
	} else if n >= 2 && body[n-2].Is("AS") {
		return &SyntaxError{Pos: body[n-1].Pos, Msg: "ASSERT … AS takes a string literal description"}
	}
	if !hasDesc {
		desc = "Assertion failed: " + strings.Join(strings.Fields(src[body[0].Pos:body[len(body)-1].End]), " ")
	}
	tr := newTranslator(sh, body)
	tr.frames = []clause{clauseOther}
	if err := tr.run(); err != nil {
		return err
	}
	expr := strings.TrimSpace(tr.out.String())
	st.SQL = "SELECT CASE WHEN (" + expr + ") THEN NULL ELSE error(" + QuoteString(desc) + ") END AS assertion"
	return nil
}

// arrayAgg rewrites ARRAY_AGG(x [IGNORE NULLS | RESPECT NULLS] [ORDER BY …]).
// IGNORE NULLS becomes a FILTER, which also makes an aggregate over only
// NULLs return NULL, as in BigQuery. LIMIT inside the call is not supported.
func arrayAgg(tr *translator, name Token, args [][]Token) (string, error) {
	if len(args) != 1 {
		return "", argCount(name, args, 1)
	}
	a := args[0]
	distinct := ""
	if len(a) > 0 && a[0].Is("DISTINCT") {
		distinct, a = "DISTINCT ", a[1:]
	}
	var value, order []Token
	ignore := false
	depth := 0
	for i := 0; i < len(a); i++ {
		t := a[i]
		if t.IsPunct("(") || t.IsPunct("[") {
			depth++
		} else if t.IsPunct(")") || t.IsPunct("]") {
			depth--
		}
		if depth == 0 && i+1 < len(a) && a[i+1].Is("NULLS") && (t.Is("IGNORE") || t.Is("RESPECT")) {
			ignore = t.Is("IGNORE")
			i++
			continue
		}
		if depth == 0 && t.Is("LIMIT") {
			return "", &UnsupportedError{Construct: "ARRAY_AGG(… LIMIT n)", Hint: "use ARRAY(SELECT … LIMIT n)"}
		}
		if depth == 0 && t.Is("ORDER") && i+1 < len(a) && a[i+1].Is("BY") {
			order = a[i:]
			break
		}
		value = append(value, t)
	}
	if len(value) == 0 {
		return "", &SyntaxError{Pos: name.Pos, Msg: "ARRAY_AGG needs an argument"}
	}
	v, err := tr.sub(value)
	if err != nil {
		return "", err
	}
	out := "array_agg(" + distinct + v
	if len(order) > 0 {
		o, err := tr.sub(order)
		if err != nil {
			return "", err
		}
		out += " " + o
	}
	out += ")"
	if ignore {
		out += " FILTER (WHERE (" + v + ") IS NOT NULL)"
	}
	return out, nil
}

// udfs are stand-ins for the persistent UDFs the corpus checks call, keyed
// by their lower-case path as written.
var udfs map[string]rewrite

func init() {
	udfs = map[string]rewrite{
		// mozfun.assert.equals(expected, actual): ERROR unless equal or both NULL.
		"mozfun.assert.equals": fixed("mozfun.assert.equals", 2, func(a []string) string {
			return "CASE WHEN (" + a[0] + ") IS NOT DISTINCT FROM (" + a[1] + ") THEN TRUE ELSE error(concat('Expected ', CAST(to_json(" + a[0] +
				") AS VARCHAR), ' but got ', CAST(to_json(" + a[1] + ") AS VARCHAR))) END"
		}),
		// mozfun.assert.true(actual): ERROR unless TRUE.
		"mozfun.assert.true": fixed("mozfun.assert.true", 1, func(a []string) string {
			return "CASE WHEN (" + a[0] + ") THEN TRUE ELSE error(concat('Expected true but got ', coalesce(CAST((" + a[0] + ") AS VARCHAR), 'null'))) END"
		}),
		// mozfun.bits28.days_since_seen(bits): days since the lowest set bit;
		// NULL when no bit is set.
		"mozfun.bits28.days_since_seen": fixed("mozfun.bits28.days_since_seen", 1, func(a []string) string {
			return "CASE WHEN (" + a[0] + ") & 268435455 = 0 THEN NULL ELSE CAST(ctz(CAST((" + a[0] + ") & 268435455 AS BIGINT)) AS BIGINT) END"
		}),
	}
}

// udf returns the stand-in for the UDF path at the cursor, if there is one.
func (tr *translator) udf() (rewrite, int) {
	var parts []string
	j := tr.i
	for {
		t := tr.toks[j]
		if t.Kind != Ident && t.Kind != QuotedIdent {
			return nil, 0
		}
		parts = append(parts, strings.Split(t.Text, ".")...)
		if !tr.toks[j+1].IsPunct(".") {
			break
		}
		j += 2
	}
	if !tr.toks[j+1].IsPunct("(") {
		return nil, 0
	}
	name := strings.ToLower(strings.Join(parts, "."))
	if fn, ok := udfs[name]; ok {
		return fn, j - tr.i
	}
	return nil, 0
}

// callUDF consumes a call: skip tokens of a dotted path before the final
// name (0 for a plain function), the name and the arguments.
func (tr *translator) callUDF(fn rewrite, skip int) error {
	first := tr.peek(0)
	for k := 0; k < skip; k++ {
		tr.advance()
	}
	name := tr.advance()
	args, err := tr.callArgs()
	if err != nil {
		return err
	}
	s, err := fn(tr, name, args)
	if err != nil {
		return err
	}
	tr.emit(first, s)
	return nil
}
