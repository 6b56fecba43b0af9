package querytext

import (
	"fmt"
	"sort"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// RewriteSelfReferences points a depends_on_past query's reads of its own
// table at replacement (the staging table), so each partition reads the
// partitions written before it in this backfill instead of production.
// bigquery-etl replaces only the exact text `project.dataset.table`; this
// rewrites every spelling BigQuery resolves to self:
//
//   - three-part names, quoted any way BigQuery accepts: `p.d.t`,
//     `p`.`d`.`t`, `p`.d.t, `p.d`.t, `p`.`d.t`, and unquoted p.d.t,
//     including a dashed project id written unquoted
//     (moz-fx-data-shared-prod.d.t, legal in a FROM clause);
//   - two-part names d.t, `d.t`, `d`.`t`, d.`t` when defaultProject is
//     self.Project (the query runs with that default project);
//   - a bare t or `t` when, in addition, defaultDataset is self.Dataset and
//     the name is in table position (see below).
//
// It never touches string literals, comments or query parameters, names
// that are only part of a longer path (alias.t, d.t.field, t.col) or are
// called as functions (d.t(...)), wildcard tables (`d.t*`), or other
// tables whose names merely contain self's (d.t_v2, other.t, `d.t$2024`).
//
// Case: project, dataset and table names are compared exactly, byte for
// byte. BigQuery dataset and table names are case-sensitive by default, and
// project ids are lowercase; a reference spelled in another case is left
// alone (in a dataset created case-insensitive it would name the same table,
// and the count returned helps the caller notice). Keywords, CTE names and
// aliases are compared case-insensitively, as BigQuery does.
//
// Conservative choices, so that nothing that is not the table is rewritten:
//
//   - A bare name is rewritten only in table position: the first token of a
//     FROM item, directly after FROM (not the FROM of EXTRACT(... FROM ...)
//     or IS [NOT] DISTINCT FROM), after JOIN, or after a comma at the
//     nesting level of a FROM clause. Not as a DML target (INSERT INTO t,
//     MERGE t, UPDATE t), after TABLE, or anywhere else.
//   - A bare name is left alone in any statement that defines a CTE of the
//     same name, and in the whole script when a CREATE TEMP TABLE defines
//     it: there the name resolves to the CTE or the temporary table.
//   - A two-part name d.t is left alone in any statement where d is also
//     declared as an alias or CTE name: it may read as alias.column there.
//   - Two- and three-part names are rewritten wherever they appear outside
//     literals and comments (FROM items, DML targets, TABLE arguments). As a
//     column path a three-part name would need an alias spelled like the
//     project id, which is not a realistic query.
//
// The replacement is always written as a backticked fully-qualified name.
// When the reference is a FROM item without an alias, " AS <table>" is
// added so that the implicit alias the query may use (t.col) still
// resolves: `p.d.t` becomes `staging` AS t.
//
// defaultProject and defaultDataset are what the query job resolves
// unqualified names against: in BigQuery, the job's default dataset when it
// has one, otherwise the project the job runs in (which differs from the
// table's project when the job is billed elsewhere). Pass "" for what the
// job does not resolve.
//
// sql must be rendered first (Render): Jinja tags in it are an error,
// because a name built inside {{ }} cannot be seen here. RewriteSelfReferences
// returns the rewritten text and the number of references replaced; a
// depends_on_past query with none is worth a warning from the caller.
func RewriteSelfReferences(sql string, self, replacement warehouse.TableRef, defaultProject, defaultDataset string) (out string, n int, err error) {
	if self.Project == "" || self.Dataset == "" || self.Table == "" {
		return "", 0, fmt.Errorf("rewrite self references: table %q is not fully qualified", self.String())
	}
	for _, part := range []string{replacement.Project, replacement.Dataset, replacement.Table} {
		if part == "" || strings.ContainsAny(part, "`\\.\n\r") {
			return "", 0, fmt.Errorf("rewrite self references of %s: invalid replacement table %q", self, replacement.String())
		}
	}
	toks, err := Tokenize(sql)
	if err != nil {
		return "", 0, fmt.Errorf("rewrite self references of %s: %w", self, err)
	}
	var sig []Token // tokens that matter: no comments
	for _, t := range toks {
		if t.Kind.IsJinja() {
			return "", 0, fmt.Errorf("rewrite self references of %s: line %d: the query still contains Jinja (%s); render it first", self, t.Line, firstLine(t.Text))
		}
		if t.Kind != Comment {
			sig = append(sig, t)
		}
	}
	rw := rewriter{self: self, defaultProject: defaultProject, defaultDataset: defaultDataset,
		replacement: "`" + replacement.String() + "`", tempTables: tempTableNames(sig)}
	var edits []edit
	start := 0
	for i := 0; i <= len(sig); i++ {
		if i == len(sig) || sig[i].IsPunct(";") {
			edits = append(edits, rw.statement(sig[start:i])...)
			start = i + 1
		}
	}
	sort.Slice(edits, func(a, b int) bool { return edits[a].pos < edits[b].pos })
	var b strings.Builder
	last := 0
	for _, e := range edits {
		b.WriteString(sql[last:e.pos])
		b.WriteString(e.text)
		last = e.end
	}
	b.WriteString(sql[last:])
	return b.String(), len(edits), nil
}

// edit replaces sql[pos:end] with text.
type edit struct {
	pos, end int
	text     string
}

type rewriter struct {
	self                           warehouse.TableRef
	defaultProject, defaultDataset string
	replacement                    string
	tempTables                     map[string]bool // lower-cased CREATE TEMP TABLE names
}

// path is a maximal dotted name: tokens st[first..last] spelling names.
type path struct {
	first, last int
	names       []string
}

// statement finds and rewrites the self references of one statement.
func (rw *rewriter) statement(st []Token) []edit {
	if len(st) == 0 {
		return nil
	}
	tablePos := tablePositions(st)
	ctes := map[string]bool{}
	aliases := map[string]bool{}
	for i, t := range st {
		if !isName(t) {
			continue
		}
		// WITH [RECURSIVE] name AS (  and  , name AS (
		if i > 0 && i+2 < len(st) && st[i+1].IsKeyword("AS") && st[i+2].IsPunct("(") &&
			(st[i-1].IsKeyword("WITH") || st[i-1].IsKeyword("RECURSIVE") || st[i-1].IsPunct(",")) {
			ctes[strings.ToLower(t.Value())] = true
		}
		// ... AS name (explicit aliases; column aliases and CAST types are
		// collected too, which only makes the two-part rule more careful).
		if i > 0 && st[i-1].IsKeyword("AS") {
			aliases[strings.ToLower(t.Value())] = true
		}
	}
	var paths []path
	for i := 0; i < len(st); {
		p, ok := readPath(st, i)
		if !ok {
			i++
			continue
		}
		paths = append(paths, p)
		// FROM d.t x: x is an implicit alias.
		if tablePos[p.first] && p.last+1 < len(st) && isImplicitAlias(st, p.last+1) {
			aliases[strings.ToLower(st[p.last+1].Value())] = true
		}
		i = p.last + 1
	}
	// FROM (subquery) x, FROM UNNEST(...) x: implicit aliases after a
	// parenthesised FROM item.
	for i, t := range st {
		if t.IsPunct("(") && (tablePos[i] || i > 0 && tablePos[i-1]) {
			if j := closing(st, i); j > 0 && j+1 < len(st) && isImplicitAlias(st, j+1) {
				aliases[strings.ToLower(st[j+1].Value())] = true
			}
		}
	}

	var edits []edit
	for _, p := range paths {
		if !rw.matches(st, p, tablePos[p.first], ctes, aliases) {
			continue
		}
		text := rw.replacement
		if tablePos[p.first] && !hasAlias(st, p.last+1) {
			text += " AS " + aliasName(rw.self.Table)
		}
		edits = append(edits, edit{pos: st[p.first].Pos, end: st[p.last].End, text: text})
	}
	return edits
}

// matches reports whether path p names the table rw.self.
func (rw *rewriter) matches(st []Token, p path, inTablePos bool, ctes, aliases map[string]bool) bool {
	if p.first > 0 && st[p.first-1].IsPunct(".") {
		return false // a field of something else: (expr).d.t, arr[0].t
	}
	if p.last+1 < len(st) {
		next := st[p.last+1]
		insertTarget := p.first > 0 && (st[p.first-1].IsKeyword("INTO") || st[p.first-1].IsKeyword("INSERT"))
		if next.IsPunct("(") && !insertTarget {
			return false // a function or table-valued function call
		}
		if next.IsPunct("*") && next.Pos == st[p.last].End {
			return false // unquoted wildcard spelling
		}
		if next.IsPunct(".") {
			return false // continues past a name: d.t.*, d.t.`x y`
		}
	}
	s := rw.self
	switch n := p.names; len(n) {
	case 3:
		return n[0] == s.Project && n[1] == s.Dataset && n[2] == s.Table
	case 2:
		return rw.defaultProject == s.Project && n[0] == s.Dataset && n[1] == s.Table &&
			!aliases[strings.ToLower(n[0])] && !ctes[strings.ToLower(n[0])]
	case 1:
		if !inTablePos || rw.defaultProject != s.Project || rw.defaultDataset != s.Dataset || n[0] != s.Table {
			return false
		}
		lower := strings.ToLower(n[0])
		if ctes[lower] || rw.tempTables[lower] {
			return false
		}
		return st[p.first].Kind == QuotedIdent || !reserved[strings.ToUpper(n[0])]
	}
	return false
}

func isName(t Token) bool { return t.Kind == Ident || t.Kind == QuotedIdent }

// readPath reads the maximal dotted name starting at st[i], if one starts
// there. Parts are quoted identifiers (split at their dots, as BigQuery
// splits `p.d.t`) or unquoted words, where adjacent words joined by '-'
// with no space (moz-fx-data-shared-prod) form one part. Whitespace around
// the dots is allowed, as in BigQuery.
func readPath(st []Token, i int) (path, bool) {
	p := path{first: i}
	j, ok := readPart(st, i, &p.names)
	if !ok {
		return path{}, false
	}
	for j+1 < len(st) && st[j].IsPunct(".") {
		k, ok := readPart(st, j+1, &p.names)
		if !ok {
			break
		}
		j = k
	}
	p.last = j - 1
	return p, true
}

// readPart reads one path part at st[i], appends its names and returns the
// index after it.
func readPart(st []Token, i int, names *[]string) (int, bool) {
	t := st[i]
	switch t.Kind {
	case QuotedIdent:
		*names = append(*names, strings.Split(t.Value(), ".")...)
		return i + 1, true
	case Ident:
		text := t.Text
		j := i + 1
		for j+1 < len(st) && st[j].IsPunct("-") && st[j].Pos == st[j-1].End && st[j+1].Pos == st[j].End &&
			(st[j+1].Kind == Ident || st[j+1].Kind == Number) {
			text += "-" + st[j+1].Text
			j += 2
		}
		*names = append(*names, text)
		return j, true
	}
	return i, false
}

// closing returns the index of the bracket closing the one at st[i], or -1.
func closing(st []Token, i int) int {
	depth := 0
	for j := i; j < len(st); j++ {
		switch {
		case st[j].IsPunct("(") || st[j].IsPunct("["):
			depth++
		case st[j].IsPunct(")") || st[j].IsPunct("]"):
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

// isImplicitAlias reports whether st[i] is an alias written without AS
// after a FROM item: a name that is not a reserved keyword (and not PIVOT
// or UNPIVOT starting their clause).
func isImplicitAlias(st []Token, i int) bool {
	t := st[i]
	if t.Kind == QuotedIdent {
		return true
	}
	if t.Kind != Ident || reserved[strings.ToUpper(t.Text)] {
		return false
	}
	if (t.IsKeyword("PIVOT") || t.IsKeyword("UNPIVOT")) && i+1 < len(st) && st[i+1].IsPunct("(") {
		return false
	}
	return true
}

// hasAlias reports whether the FROM item ending before st[i] has an alias.
func hasAlias(st []Token, i int) bool {
	return i < len(st) && (st[i].IsKeyword("AS") || isImplicitAlias(st, i))
}

// aliasName writes name as an alias, quoting it when BigQuery requires.
func aliasName(name string) string {
	plain := name != "" && isIdentStart(name[0]) && !reserved[strings.ToUpper(name)]
	for i := 0; i < len(name); i++ {
		if !isIdentChar(name[i]) {
			plain = false
		}
	}
	if plain {
		return name
	}
	return "`" + strings.ReplaceAll(strings.ReplaceAll(name, `\`, `\\`), "`", "\\`") + "`"
}

// fromEnders are the keywords that end a FROM clause at their nesting level.
var fromEnders = map[string]bool{
	"WHERE": true, "GROUP": true, "HAVING": true, "QUALIFY": true, "WINDOW": true, "ORDER": true,
	"LIMIT": true, "UNION": true, "INTERSECT": true, "EXCEPT": true, "SELECT": true, "SET": true,
}

// tablePositions marks the tokens of a statement that start a FROM item:
// the token after FROM (not EXTRACT's FROM, not IS DISTINCT FROM), after
// JOIN, after a comma at the nesting level of an open FROM clause, or after
// the opening parenthesis of a FROM item.
func tablePositions(st []Token) []bool {
	pos := make([]bool, len(st))
	type frame struct{ inFrom, extract bool }
	stack := []frame{{}}
	for i, t := range st {
		top := &stack[len(stack)-1]
		switch {
		case t.IsPunct("(") || t.IsPunct("["):
			stack = append(stack, frame{extract: t.IsPunct("(") && i > 0 && st[i-1].IsKeyword("EXTRACT")})
			// FROM (t JOIN u ON ...): a parenthesised FROM item starts
			// with one too.
			if pos[i] && t.IsPunct("(") && i+1 < len(st) {
				pos[i+1] = true
			}
		case t.IsPunct(")") || t.IsPunct("]"):
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
		case t.IsKeyword("FROM"):
			if top.extract || i > 0 && st[i-1].IsKeyword("DISTINCT") {
				continue
			}
			top.inFrom = true
			if i+1 < len(st) {
				pos[i+1] = true
			}
		case t.IsKeyword("JOIN"):
			top.inFrom = true
			if i+1 < len(st) {
				pos[i+1] = true
			}
		case t.IsPunct(","):
			if top.inFrom && i+1 < len(st) {
				pos[i+1] = true
			}
		case t.Kind == Ident && fromEnders[strings.ToUpper(t.Text)]:
			top.inFrom = false
		}
	}
	return pos
}

// tempTableNames collects the lower-cased names that
// CREATE [OR REPLACE] TEMP|TEMPORARY TABLE [IF NOT EXISTS] name defines in
// a script.
func tempTableNames(sig []Token) map[string]bool {
	names := map[string]bool{}
	for i := 0; i < len(sig); i++ {
		if !sig[i].IsKeyword("CREATE") {
			continue
		}
		j := i + 1
		if j+1 < len(sig) && sig[j].IsKeyword("OR") && sig[j+1].IsKeyword("REPLACE") {
			j += 2
		}
		if j+1 >= len(sig) || !(sig[j].IsKeyword("TEMP") || sig[j].IsKeyword("TEMPORARY")) || !sig[j+1].IsKeyword("TABLE") {
			continue
		}
		j += 2
		if j+2 < len(sig) && sig[j].IsKeyword("IF") && sig[j+1].IsKeyword("NOT") && sig[j+2].IsKeyword("EXISTS") {
			j += 3
		}
		if j < len(sig) && isName(sig[j]) {
			names[strings.ToLower(sig[j].Value())] = true
		}
	}
	return names
}

// reserved holds BigQuery's reserved keywords, which cannot be unquoted
// names or aliases.
var reserved = map[string]bool{}

func init() {
	for _, kw := range strings.Fields(`ALL AND ANY ARRAY AS ASC ASSERT_ROWS_MODIFIED AT BETWEEN BY CASE
		CAST COLLATE CONTAINS CREATE CROSS CUBE CURRENT DEFAULT DEFINE DESC DISTINCT ELSE END ENUM
		ESCAPE EXCEPT EXCLUDE EXISTS EXTRACT FALSE FETCH FOLLOWING FOR FROM FULL GROUP GROUPING
		GROUPS HASH HAVING IF IGNORE IN INNER INTERSECT INTERVAL INTO IS JOIN LATERAL LEFT LIKE
		LIMIT LOOKUP MERGE NATURAL NEW NO NOT NULL NULLS OF ON OR ORDER OUTER OVER PARTITION
		PRECEDING PROTO QUALIFY RANGE RECURSIVE RESPECT RIGHT ROLLUP ROWS SELECT SET SOME STRUCT
		TABLESAMPLE THEN TO TREAT TRUE UNBOUNDED UNION UNNEST USING WHEN WHERE WINDOW WITH WITHIN`) {
		reserved[kw] = true
	}
}
