package bqsql

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// UnsupportedError reports a BigQuery construct outside the subset the
// DuckDB warehouse accepts. Construct names it as the user wrote it.
type UnsupportedError struct {
	Construct string
	Hint      string
	// Cause is the engine error that revealed the construct, if any.
	Cause error
}

// Unwrap returns the engine error behind e, if any.
func (e *UnsupportedError) Unwrap() error { return e.Cause }

func (e *UnsupportedError) Error() string {
	msg := fmt.Sprintf("%s is not supported by the DuckDB warehouse", e.Construct)
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg + "; see docs/duckdb-sql.md for the supported subset"
}

// Path is a table or dataset name as written: one to three parts
// (table, dataset.table, project.dataset.table).
type Path []string

func (p Path) String() string { return strings.Join(p, ".") }

// SQL renders p as a quoted DuckDB name.
func (p Path) SQL() string {
	q := make([]string, len(p))
	for i, s := range p {
		q[i] = QuoteIdent(s)
	}
	return strings.Join(q, ".")
}

// shared is the state every (sub-)translator of one statement shares.
type shared struct {
	params map[string]warehouse.Param
	tables []Path
	ctes   map[string]bool
}

type clause int

const (
	clauseNone clause = iota
	clauseSelect
	clauseFrom
	clauseOther
)

// translator rewrites one token list into DuckDB SQL.
type translator struct {
	*shared
	toks        []Token
	i           int
	out         strings.Builder
	frames      []clause
	expectTable bool
	// intoTable: the expected table follows INTO, where "(" starts a
	// column list, not a table function's arguments.
	intoTable bool
	last      Token // the last source token consumed
}

func newTranslator(sh *shared, toks []Token) *translator {
	if len(toks) == 0 || toks[len(toks)-1].Kind != EOF {
		end := 0
		if len(toks) > 0 {
			end = toks[len(toks)-1].End
		}
		toks = append(append([]Token(nil), toks...), Token{Kind: EOF, Pos: end, End: end})
	}
	return &translator{shared: sh, toks: toks, frames: []clause{clauseNone}}
}

func (tr *translator) peek(n int) Token {
	if tr.i+n >= len(tr.toks) {
		return tr.toks[len(tr.toks)-1]
	}
	return tr.toks[tr.i+n]
}

// emit writes s, preceded by a space (or newline) when t had one before it.
func (tr *translator) emit(t Token, s string) {
	if tr.out.Len() > 0 {
		if t.Newline {
			tr.out.WriteByte('\n')
		} else if t.Space {
			tr.out.WriteByte(' ')
		}
	}
	tr.out.WriteString(s)
}

// sub translates a token slice as an expression.
func (tr *translator) sub(toks []Token) (string, error) {
	st := newTranslator(tr.shared, toks)
	st.frames = []clause{clauseOther}
	if err := st.run(); err != nil {
		return "", err
	}
	return strings.TrimSpace(st.out.String()), nil
}

func (tr *translator) run() error {
	for tr.peek(0).Kind != EOF {
		if err := tr.step(); err != nil {
			return err
		}
	}
	return nil
}

func (tr *translator) advance() Token {
	t := tr.toks[tr.i]
	tr.i++
	tr.last = t
	return t
}

func (tr *translator) setClause(c clause) { tr.frames[len(tr.frames)-1] = c }
func (tr *translator) clause() clause     { return tr.frames[len(tr.frames)-1] }

// notAlias lists keywords that can follow a FROM item and are not an
// implicit alias.
var notAlias = map[string]bool{
	"WHERE": true, "JOIN": true, "LEFT": true, "RIGHT": true, "FULL": true, "INNER": true, "CROSS": true,
	"ON": true, "USING": true, "GROUP": true, "ORDER": true, "HAVING": true, "QUALIFY": true, "WINDOW": true,
	"LIMIT": true, "UNION": true, "INTERSECT": true, "EXCEPT": true, "WITH": true, "FOR": true,
	"TABLESAMPLE": true, "SET": true, "WHEN": true, "SELECT": true, "PIVOT": true, "UNPIVOT": true,
}

func (tr *translator) step() error {
	t := tr.peek(0)
	if tr.expectTable {
		tr.expectTable = false
		into := tr.intoTable
		tr.intoTable = false
		// UNNEST is BigQuery's only table function in the subset; DuckDB's
		// own (read_text, read_csv, glob, duckdb_settings, …) and its
		// replacement scans of a file named by a string would reach past
		// the warehouse's tables.
		if t.Kind == Ident && !into && tr.peek(1).IsPunct("(") && !t.Is("UNNEST") {
			return &UnsupportedError{Construct: "table function " + t.Text, Hint: "the only table function is UNNEST"}
		}
		if t.Kind == String {
			return &UnsupportedError{Construct: "a string in place of a table (" + QuoteString(t.Text) + ")", Hint: "tables are named `project.dataset.table`"}
		}
		if (t.Kind == Ident || t.Kind == QuotedIdent) && (into || !tr.peek(1).IsPunct("(")) && !t.Is("UNNEST") {
			p, err := tr.tablePath()
			if err != nil {
				return err
			}
			tr.tables = append(tr.tables, p)
			tr.emit(t, p.SQL())
			return nil
		}
	}
	switch t.Kind {
	case String:
		tr.advance()
		tr.emit(t, QuoteString(t.Text))
	case Bytes:
		tr.advance()
		tr.emit(t, quoteBytes(t.Text))
	case Number:
		tr.advance()
		tr.emit(t, t.Text)
	case Param:
		tr.advance()
		lit, err := tr.param(t.Text)
		if err != nil {
			return err
		}
		tr.emit(t, lit)
	case SysVar:
		return &UnsupportedError{Construct: "system variable @@" + t.Text}
	case QuotedIdent:
		if fn, skip := tr.udf(); fn != nil {
			return tr.callUDF(fn, skip)
		}
		if tr.peek(1).IsPunct("(") || (tr.peek(1).IsPunct(".") && tr.dottedCall()) {
			return &UnsupportedError{Construct: "user-defined function " + t.Text, Hint: "only built-in functions are available"}
		}
		tr.advance()
		tr.emit(t, Path(strings.Split(t.Text, ".")).SQL())
	case Ident:
		return tr.ident()
	case Punct:
		return tr.punct()
	}
	return nil
}

// dottedCall reports whether the identifier path at the cursor ends in a
// call, as in mozfun.hist.extract(…).
func (tr *translator) dottedCall() bool {
	j := tr.i
	for {
		if tr.toks[j].Kind != Ident && tr.toks[j].Kind != QuotedIdent {
			return false
		}
		if !tr.toks[j+1].IsPunct(".") {
			return tr.toks[j+1].IsPunct("(")
		}
		j += 2
		if j >= len(tr.toks) {
			return false
		}
	}
}

// tablePath consumes a table name in a FROM-like position: backtick paths,
// dotted identifiers and unquoted project ids with dashes
// (my-project.dataset.table).
func (tr *translator) tablePath() (Path, error) {
	var p Path
	for {
		t := tr.advance()
		switch t.Kind {
		case QuotedIdent:
			p = append(p, strings.Split(t.Text, ".")...)
		case Ident:
			seg := t.Text
			// Dashes join adjacent parts: moz-fx-data-shared-prod.
			for tr.peek(0).IsPunct("-") && tr.peek(0).Pos == tr.last.End && !tr.peek(0).Space {
				n := tr.peek(1)
				if (n.Kind != Ident && n.Kind != Number) || n.Pos != tr.peek(0).End {
					break
				}
				tr.advance()
				tr.advance()
				if n.Kind == Number && strings.HasSuffix(n.Text, ".") {
					// "123." swallowed the dot: moz-123.dataset.
					seg += "-" + strings.TrimSuffix(n.Text, ".")
					p = append(p, seg)
					seg = ""
					goto next
				}
				seg += "-" + n.Text
			}
			p = append(p, seg)
		default:
			return nil, &SyntaxError{Pos: t.Pos, Msg: fmt.Sprintf("expected a table name, got %s %q", t.Kind, t.Text)}
		}
		if !tr.peek(0).IsPunct(".") {
			break
		}
		tr.advance()
	next:
		if k := tr.peek(0).Kind; k != Ident && k != QuotedIdent {
			return nil, &SyntaxError{Pos: tr.peek(0).Pos, Msg: "expected a name after ."}
		}
	}
	for _, s := range p {
		if s == "" {
			return nil, &SyntaxError{Pos: tr.last.Pos, Msg: fmt.Sprintf("empty part in table name %q", p.String())}
		}
	}
	if len(p) > 3 {
		return nil, &SyntaxError{Pos: tr.last.Pos, Msg: fmt.Sprintf("table name %q has more than three parts", p.String())}
	}
	return p, nil
}

// param renders a bound query parameter as a typed DuckDB literal.
func (tr *translator) param(name string) (string, error) {
	p, ok := tr.params[name]
	if !ok {
		p, ok = tr.params[strings.ToLower(name)]
	}
	if !ok {
		return "", fmt.Errorf("query parameter @%s is not bound: QueryJob.Params has no parameter named %q", name, name)
	}
	v, err := p.ParseValue()
	if err != nil {
		return "", err
	}
	return Literal(v)
}

// Literal renders a value returned by warehouse.Param.ParseValue as a
// typed DuckDB literal.
func Literal(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return QuoteString(x), nil
	case []byte:
		return quoteBytes(string(x)), nil
	case civil.Date:
		return "DATE " + QuoteString(x.String()), nil
	case int64:
		return "CAST(" + strconv.FormatInt(x, 10) + " AS BIGINT)", nil
	case float64:
		return "CAST(" + QuoteString(strconv.FormatFloat(x, 'g', -1, 64)) + " AS DOUBLE)", nil
	case bool:
		if x {
			return "TRUE", nil
		}
		return "FALSE", nil
	case *big.Rat:
		return "CAST(" + QuoteString(x.FloatString(9)) + " AS DECIMAL(38,9))", nil
	case time.Time:
		return "CAST(" + QuoteString(x.UTC().Format("2006-01-02 15:04:05.999999")+"+00") + " AS TIMESTAMPTZ)", nil
	case civil.DateTime:
		return "CAST(" + QuoteString(x.Date.String()+" "+x.Time.String()) + " AS TIMESTAMP)", nil
	case civil.Time:
		return "CAST(" + QuoteString(x.String()) + " AS TIME)", nil
	}
	return "", fmt.Errorf("cannot render %T as a literal", v)
}

var clauseKeywords = map[string]clause{
	"SELECT": clauseSelect, "FROM": clauseFrom, "JOIN": clauseFrom,
	"WHERE": clauseOther, "GROUP": clauseOther, "HAVING": clauseOther, "QUALIFY": clauseOther,
	"WINDOW": clauseOther, "ORDER": clauseOther, "LIMIT": clauseOther, "UNION": clauseOther,
	"INTERSECT": clauseOther, "ON": clauseOther, "SET": clauseOther, "VALUES": clauseOther,
}

func (tr *translator) ident() error {
	t := tr.peek(0)
	u := t.Upper()
	next := tr.peek(1)
	prevDot := tr.last.IsPunct(".")

	if !prevDot && next.IsPunct("(") {
		if fn, ok := funcs[u]; ok {
			return tr.call(fn)
		}
	}
	if !prevDot && next.IsPunct(".") && tr.dottedCall() {
		if fn, skip := tr.udf(); fn != nil {
			return tr.callUDF(fn, skip)
		}
		if u == "SAFE" {
			return &UnsupportedError{Construct: "the SAFE. function prefix", Hint: "use SAFE_CAST or handle errors explicitly"}
		}
		return &UnsupportedError{Construct: "user-defined function " + tr.pathText(), Hint: "only built-in functions are available"}
	}
	if next.Kind == String && !prevDot {
		switch u {
		case "DATETIME":
			tr.advance()
			tr.advance()
			tr.emit(t, "TIMESTAMP "+QuoteString(next.Text))
			return nil
		case "TIMESTAMP":
			tr.advance()
			tr.advance()
			tr.emit(t, "TIMESTAMPTZ "+QuoteString(next.Text))
			return nil
		case "NUMERIC", "DECIMAL":
			tr.advance()
			tr.advance()
			tr.emit(t, "CAST("+QuoteString(next.Text)+" AS DECIMAL(38,9))")
			return nil
		case "JSON":
			tr.advance()
			tr.advance()
			tr.emit(t, "CAST("+QuoteString(next.Text)+" AS JSON)")
			return nil
		case "BIGNUMERIC", "BIGDECIMAL", "RANGE":
			return &UnsupportedError{Construct: u + " literal"}
		}
	}
	switch u {
	case "STRUCT":
		if next.IsPunct("(") || next.IsPunct("<") {
			return tr.structExpr()
		}
	case "ARRAY":
		if next.IsPunct("<") {
			return tr.typedArray()
		}
	case "EXCEPT":
		if tr.last.IsPunct("*") && next.IsPunct("(") {
			tr.advance()
			tr.emit(t, "EXCLUDE")
			return nil
		}
		tr.setClause(clauseOther)
	case "IN":
		if next.Is("UNNEST") && tr.peek(2).IsPunct("(") {
			tr.advance()
			tr.advance()
			args, err := tr.callArgs()
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return &SyntaxError{Pos: next.Pos, Msg: "UNNEST takes one argument"}
			}
			a, err := tr.sub(args[0])
			if err != nil {
				return err
			}
			tr.emit(t, "IN (SELECT unnest("+a+"))")
			return nil
		}
	case "UNNEST":
		if tr.clause() == clauseFrom && next.IsPunct("(") {
			return tr.fromUnnest()
		}
	case "WITH":
		if next.Is("OFFSET") {
			return &UnsupportedError{Construct: "UNNEST … WITH OFFSET", Hint: "use generate_subscripts or ROW_NUMBER()"}
		}
	case "FOR":
		if next.Is("SYSTEM_TIME") || next.Is("SYSTEM") {
			return &UnsupportedError{Construct: "FOR SYSTEM_TIME AS OF (time travel)"}
		}
	case "TABLESAMPLE":
		return &UnsupportedError{Construct: "TABLESAMPLE"}
	case "FROM", "JOIN", "INTO":
		if !prevDot {
			tr.expectTable = true
			tr.intoTable = u == "INTO"
		}
	case "UPDATE":
		if !prevDot && !next.Is("SET") {
			tr.expectTable = true
		}
	case "TABLE":
		if tr.last.Is("TRUNCATE") {
			tr.expectTable = true
		}
	case "USING":
		if !next.IsPunct("(") {
			tr.expectTable = true
		}
	}
	if c, ok := clauseKeywords[u]; ok && !prevDot {
		tr.setClause(c)
	}
	// A CTE name: WITH name AS ( … ), name AS ( … ).
	if next.Is("AS") && tr.peek(2).IsPunct("(") && (tr.last.Is("WITH") || tr.last.Is("RECURSIVE") || tr.last.IsPunct(",")) {
		tr.ctes[strings.ToLower(t.Text)] = true
	}
	tr.advance()
	tr.emit(t, t.Text)
	return nil
}

// pathText returns the dotted identifier path at the cursor as text.
func (tr *translator) pathText() string {
	var parts []string
	for j := tr.i; ; j += 2 {
		parts = append(parts, tr.toks[j].Text)
		if !tr.toks[j+1].IsPunct(".") {
			return strings.Join(parts, ".")
		}
	}
}

func (tr *translator) punct() error {
	t := tr.peek(0)
	switch t.Text {
	case "(":
		tr.advance()
		tr.emit(t, "(")
		tr.frames = append(tr.frames, clauseNone)
		return nil
	case ")":
		tr.advance()
		tr.emit(t, ")")
		if len(tr.frames) > 1 {
			tr.frames = tr.frames[:len(tr.frames)-1]
		}
		return nil
	case ",":
		tr.advance()
		tr.emit(t, ",")
		if tr.clause() == clauseFrom {
			tr.expectTable = true
		}
		return nil
	case "[":
		// Array subscripts: arr[OFFSET(i)], arr[SAFE_OFFSET(i)], arr[ORDINAL(i)].
		n := tr.peek(1)
		if n.Kind == Ident && tr.peek(2).IsPunct("(") {
			switch n.Upper() {
			case "OFFSET", "SAFE_OFFSET", "ORDINAL", "SAFE_ORDINAL":
				tr.advance()
				tr.advance()
				args, err := tr.callArgs()
				if err != nil {
					return err
				}
				if len(args) != 1 || !tr.peek(0).IsPunct("]") {
					return &SyntaxError{Pos: n.Pos, Msg: n.Text + " subscript takes one argument: arr[" + n.Text + "(i)]"}
				}
				tr.advance()
				a, err := tr.sub(args[0])
				if err != nil {
					return err
				}
				if strings.HasSuffix(n.Upper(), "OFFSET") {
					a = "(" + a + ") + 1"
				}
				tr.emit(t, "["+a+"]")
				return nil
			}
		}
	case "{":
		return &SyntaxError{Pos: t.Pos, Msg: "unexpected {"}
	}
	tr.advance()
	tr.emit(t, t.Text)
	return nil
}

// callArgs consumes a parenthesised argument list at the cursor (which must
// be "(") and returns the arguments split at top-level commas.
func (tr *translator) callArgs() ([][]Token, error) {
	open := tr.advance()
	if !open.IsPunct("(") {
		return nil, &SyntaxError{Pos: open.Pos, Msg: "expected ("}
	}
	var args [][]Token
	var cur []Token
	depth := 0
	for {
		t := tr.peek(0)
		if t.Kind == EOF {
			return nil, &SyntaxError{Pos: open.Pos, Msg: "unclosed ("}
		}
		tr.advance()
		switch {
		case t.IsPunct("(") || t.IsPunct("["):
			depth++
		case t.IsPunct(")") || t.IsPunct("]"):
			if depth == 0 {
				if len(cur) > 0 || len(args) > 0 {
					args = append(args, cur)
				}
				return args, nil
			}
			depth--
		case t.IsPunct(",") && depth == 0:
			args = append(args, cur)
			cur = nil
			continue
		}
		cur = append(cur, t)
	}
}

// call rewrites a function call with fn.
func (tr *translator) call(fn rewrite) error { return tr.callUDF(fn, 0) }

// fromUnnest rewrites "UNNEST(arr) [AS] x" in a FROM clause to DuckDB's
// "UNNEST(arr) AS _unnest_x(x)", which names the element column x, and a
// bare "UNNEST(arr)" to a subquery that spreads struct fields into columns.
func (tr *translator) fromUnnest() error {
	name := tr.advance()
	args, err := tr.callArgs()
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return &SyntaxError{Pos: name.Pos, Msg: "UNNEST takes one argument"}
	}
	a, err := tr.sub(args[0])
	if err != nil {
		return err
	}
	// Without an alias BigQuery spreads the fields of an array of structs
	// into columns; DuckDB's unnest does that with max_depth 2.
	s := "(SELECT unnest(" + a + ", max_depth := 2))"
	if tr.peek(0).Is("AS") {
		tr.advance()
	}
	if al := tr.peek(0); (al.Kind == Ident && !notAlias[al.Upper()]) || al.Kind == QuotedIdent {
		tr.advance()
		s = "UNNEST(" + a + ") AS " + QuoteIdent("_unnest_"+al.Text) + "(" + QuoteIdent(al.Text) + ")"
	}
	if tr.peek(0).Is("WITH") && tr.peek(1).Is("OFFSET") {
		return &UnsupportedError{Construct: "UNNEST … WITH OFFSET", Hint: "use generate_subscripts or ROW_NUMBER()"}
	}
	tr.emit(name, s)
	return nil
}

// structExpr rewrites STRUCT(a AS x, b) and STRUCT<x T, y U>(a, b).
func (tr *translator) structExpr() error {
	kw := tr.advance()
	var typed *warehouse.Field
	if tr.peek(0).IsPunct("<") {
		f, j, err := parseType(tr.toks, tr.i-1)
		if err != nil {
			return err
		}
		tr.i = j
		typed = &f
		if !tr.peek(0).IsPunct("(") {
			return &SyntaxError{Pos: tr.peek(0).Pos, Msg: "expected ( after STRUCT<…>"}
		}
	}
	args, err := tr.callArgs()
	if err != nil {
		return err
	}
	if typed != nil && len(typed.Fields) != len(args) {
		return &SyntaxError{Pos: kw.Pos, Msg: fmt.Sprintf("STRUCT<…> has %d fields but %d values", len(typed.Fields), len(args))}
	}
	parts := make([]string, len(args))
	for k, a := range args {
		name := ""
		expr := a
		if n := len(a); n >= 3 && a[n-2].Is("AS") && (a[n-1].Kind == Ident || a[n-1].Kind == QuotedIdent) {
			name, expr = a[n-1].Text, a[:n-2]
		} else if n >= 1 && (a[n-1].Kind == Ident || a[n-1].Kind == QuotedIdent) && (n == 1 || a[n-2].IsPunct(".")) {
			name = a[n-1].Text
		}
		s, err := tr.sub(expr)
		if err != nil {
			return err
		}
		if typed != nil {
			ft, err := DuckDBType(typed.Fields[k])
			if err != nil {
				return err
			}
			name = typed.Fields[k].Name
			s = "CAST(" + s + " AS " + ft + ")"
		}
		if name == "" {
			name = fmt.Sprintf("_field_%d", k+1)
		}
		parts[k] = QuoteIdent(name) + " := " + s
	}
	tr.emit(kw, "struct_pack("+strings.Join(parts, ", ")+")")
	return nil
}

// typedArray rewrites ARRAY<T>[…] to CAST([…] AS T[]).
func (tr *translator) typedArray() error {
	kw := tr.peek(0)
	f, j, err := parseType(tr.toks, tr.i)
	if err != nil {
		return err
	}
	tr.i = j
	tr.last = tr.toks[j-1]
	dt, err := DuckDBType(f)
	if err != nil {
		return err
	}
	if !tr.peek(0).IsPunct("[") {
		return &SyntaxError{Pos: tr.peek(0).Pos, Msg: "expected [ after ARRAY<…>"}
	}
	open := tr.advance()
	var elems []Token
	depth := 0
	for {
		t := tr.peek(0)
		if t.Kind == EOF {
			return &SyntaxError{Pos: open.Pos, Msg: "unclosed ["}
		}
		tr.advance()
		if t.IsPunct("[") || t.IsPunct("(") {
			depth++
		} else if t.IsPunct("]") || t.IsPunct(")") {
			if depth == 0 {
				break
			}
			depth--
		}
		elems = append(elems, t)
	}
	s, err := tr.sub(elems)
	if err != nil {
		return err
	}
	tr.emit(kw, "CAST(["+s+"] AS "+dt+")")
	return nil
}

// translateType renders the BigQuery type in toks as a DuckDB type.
func translateType(toks []Token) (string, error) {
	toks = append(append([]Token(nil), toks...), Token{Kind: EOF})
	f, j, err := parseType(toks, 0)
	if err != nil {
		return "", err
	}
	if toks[j].Kind != EOF {
		if toks[j].Is("FORMAT") {
			return "", &UnsupportedError{Construct: "CAST … FORMAT"}
		}
		return "", &SyntaxError{Pos: toks[j].Pos, Msg: fmt.Sprintf("unexpected %q after type", toks[j].Text)}
	}
	return DuckDBType(f)
}
