package bqsql

import (
	"fmt"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// StmtKind classifies a statement.
type StmtKind int

const (
	// Query is SELECT / WITH / a parenthesised query.
	Query StmtKind = iota
	// Insert is INSERT [INTO] target ….
	Insert
	// Delete is DELETE [FROM] target WHERE ….
	Delete
	// Update is UPDATE target SET ….
	Update
	// Merge is MERGE [INTO] target USING ….
	Merge
	// Truncate is TRUNCATE TABLE target.
	Truncate
	// CreateSchema is CREATE SCHEMA [IF NOT EXISTS] [project.]dataset.
	CreateSchema
	// CreateTable is CREATE [OR REPLACE] TABLE [IF NOT EXISTS] ….
	CreateTable
	// DropTable is DROP TABLE [IF EXISTS] target.
	DropTable
	// DropSchema is DROP SCHEMA [IF EXISTS] [project.]dataset [CASCADE].
	DropSchema
)

// IsDML reports whether k changes rows of its Target.
func (k StmtKind) IsDML() bool { return k >= Insert && k <= Truncate }

// Statement is one parsed and translated statement.
type Statement struct {
	Kind StmtKind
	// Text is the statement's source text.
	Text string
	// SQL is the DuckDB translation of a Query or DML statement, with table
	// names as written (the executor sets the default catalog and schema).
	SQL string
	// Reads lists the tables the statement reads (FROM, JOIN, USING),
	// excluding names of its common table expressions.
	Reads []Path
	// Target is the table a DML or DDL statement changes, or the dataset of
	// a schema statement.
	Target Path

	IfNotExists bool
	IfExists    bool
	OrReplace   bool
	Cascade     bool

	// Table is the definition of a CREATE TABLE.
	Table *TableDef
	// Options are the statement's OPTIONS(…) entries, in order.
	Options []Option
}

// TableDef is what CREATE TABLE declares.
type TableDef struct {
	// Columns are the declared columns (none for CTAS, LIKE, COPY, CLONE).
	Columns        []warehouse.Field
	PartitionType  warehouse.PartitionType
	PartitionField string
	Clustering     []string
	// Query is the translated AS query of a CTAS ("" otherwise).
	Query string
	// Like, Copy or Clone name the source of CREATE TABLE … LIKE/COPY/CLONE.
	Like, Copy, Clone Path
}

// Option is one OPTIONS(name = value) entry. Labels holds the value of a
// labels option; otherwise Expr is the value as a DuckDB expression.
type Option struct {
	Name   string
	Expr   string
	Labels map[string]string
}

// Parse tokenizes, splits and translates a script. Parameters referenced
// as @name are rendered as typed literals from params.
func Parse(src string, params []warehouse.Param) ([]Statement, error) {
	toks, err := Tokenize(src)
	if err != nil {
		return nil, err
	}
	pm := make(map[string]warehouse.Param, len(params))
	for _, p := range params {
		pm[p.Name] = p
		if _, dup := pm[strings.ToLower(p.Name)]; !dup {
			pm[strings.ToLower(p.Name)] = p
		}
	}
	var out []Statement
	for _, st := range Split(toks) {
		s, err := parseStatement(src, st, pm)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, &SyntaxError{Pos: 0, Msg: "no SQL statement"}
	}
	return out, nil
}

// unsupportedStatement names the leading keywords of an unsupported statement.
func unsupportedStatement(toks []Token) error {
	// Name the statement by its verb, modifiers and object noun:
	// "ALTER TABLE", "CREATE TEMP FUNCTION", "CREATE OR REPLACE VIEW".
	verbs := map[string]bool{"CREATE": true, "DROP": true, "ALTER": true, "EXPORT": true, "LOAD": true}
	modifiers := map[string]bool{"OR": true, "REPLACE": true, "TEMP": true, "TEMPORARY": true, "MATERIALIZED": true,
		"EXTERNAL": true, "SNAPSHOT": true, "ROW": true, "ACCESS": true, "AGGREGATE": true, "SEARCH": true, "VECTOR": true}
	var words []string
	for i, t := range toks {
		if t.Kind != Ident || len(words) == 5 {
			break
		}
		words = append(words, t.Upper())
		if i == 0 && !verbs[words[0]] || i > 0 && !modifiers[t.Upper()] {
			break
		}
	}
	construct := strings.Join(words, " ")
	if construct == "" {
		construct = fmt.Sprintf("a statement starting with %q", toks[0].Text)
	}
	return &UnsupportedError{Construct: "statement " + construct,
		Hint: "accepted statements: SELECT, WITH, ASSERT, INSERT, DELETE, UPDATE, MERGE, TRUNCATE TABLE, CREATE SCHEMA, CREATE TABLE, DROP TABLE, DROP SCHEMA"}
}

func parseStatement(src string, toks []Token, params map[string]warehouse.Param) (Statement, error) {
	sh := &shared{params: params, ctes: map[string]bool{}}
	st := Statement{Text: strings.TrimSpace(src[toks[0].Pos:toks[len(toks)-2].End])}
	first := toks[0]
	translate := func(toks []Token) error {
		tr := newTranslator(sh, toks)
		if err := tr.run(); err != nil {
			return err
		}
		st.SQL = strings.TrimSpace(tr.out.String())
		return nil
	}
	// withKeyword inserts an omitted INTO / FROM after the first token.
	withKeyword := func(kw string) []Token {
		if toks[1].Is(kw) {
			return toks
		}
		out := append([]Token{toks[0], {Kind: Ident, Text: kw, Pos: toks[0].End, End: toks[0].End, Space: true}}, toks[1:]...)
		return out
	}
	var err error
	switch {
	case first.Is("SELECT") || first.Is("WITH") || first.IsPunct("("):
		st.Kind = Query
		err = translate(toks)
	case first.Is("INSERT"):
		st.Kind = Insert
		err = translate(withKeyword("INTO"))
	case first.Is("DELETE"):
		st.Kind = Delete
		err = translate(withKeyword("FROM"))
	case first.Is("UPDATE"):
		st.Kind = Update
		err = translate(toks)
	case first.Is("MERGE"):
		st.Kind = Merge
		err = translate(withKeyword("INTO"))
	case first.Is("TRUNCATE"):
		if !toks[1].Is("TABLE") {
			return st, &SyntaxError{Pos: toks[1].Pos, Msg: "expected TRUNCATE TABLE"}
		}
		st.Kind = Truncate
		err = translate(toks)
	case first.Is("ASSERT"):
		st.Kind = Query
		err = parseAssert(&st, sh, src, toks)
	case first.Is("CREATE"):
		err = parseCreate(&st, sh, toks)
	case first.Is("DROP"):
		err = parseDrop(&st, sh, toks)
	default:
		return st, unsupportedStatement(toks)
	}
	if err != nil {
		return st, err
	}
	tables := sh.tables
	if st.Kind.IsDML() {
		if len(tables) == 0 {
			return st, &SyntaxError{Pos: first.Pos, Msg: "cannot find the target table of " + first.Upper()}
		}
		st.Target, tables = tables[0], tables[1:]
	}
	for _, p := range tables {
		if len(p) == 1 && sh.ctes[strings.ToLower(p[0])] {
			continue
		}
		st.Reads = append(st.Reads, p)
	}
	return st, nil
}

// cursor walks a statement's tokens for the DDL parsers.
type cursor struct {
	toks []Token
	i    int
	sh   *shared
}

func (c *cursor) peek(n int) Token {
	if c.i+n >= len(c.toks) {
		return c.toks[len(c.toks)-1]
	}
	return c.toks[c.i+n]
}

// accept consumes the keyword sequence kws if it is next.
func (c *cursor) accept(kws ...string) bool {
	for n, kw := range kws {
		if !c.peek(n).Is(kw) {
			return false
		}
	}
	c.i += len(kws)
	return true
}

func (c *cursor) expectPunct(p string) error {
	if !c.peek(0).IsPunct(p) {
		t := c.peek(0)
		return &SyntaxError{Pos: t.Pos, Msg: fmt.Sprintf("expected %q, got %q", p, t.Text)}
	}
	c.i++
	return nil
}

func (c *cursor) path() (Path, error) {
	tr := newTranslator(c.sh, c.toks)
	tr.i = c.i
	p, err := tr.tablePath()
	if err != nil {
		return nil, err
	}
	c.i = tr.i
	return p, nil
}

func (c *cursor) ident(what string) (string, error) {
	t := c.peek(0)
	if t.Kind != Ident && t.Kind != QuotedIdent {
		return "", &SyntaxError{Pos: t.Pos, Msg: fmt.Sprintf("expected %s, got %q", what, t.Text)}
	}
	c.i++
	return t.Text, nil
}

func (c *cursor) end() error {
	if t := c.peek(0); t.Kind != EOF {
		return &SyntaxError{Pos: t.Pos, Msg: fmt.Sprintf("unexpected %q", t.Text)}
	}
	return nil
}

func parseCreate(st *Statement, sh *shared, toks []Token) error {
	c := &cursor{toks: toks, i: 1, sh: sh}
	st.OrReplace = c.accept("OR", "REPLACE")
	switch {
	case c.accept("SCHEMA"):
		st.Kind = CreateSchema
		st.IfNotExists = c.accept("IF", "NOT", "EXISTS")
		p, err := c.path()
		if err != nil {
			return err
		}
		if len(p) > 2 {
			return &SyntaxError{Pos: toks[0].Pos, Msg: fmt.Sprintf("schema name %q has more than two parts (project.dataset)", p)}
		}
		st.Target = p
		if c.peek(0).Is("DEFAULT") {
			return &UnsupportedError{Construct: "CREATE SCHEMA … DEFAULT COLLATE"}
		}
		if c.accept("OPTIONS") {
			if st.Options, err = c.options(); err != nil {
				return err
			}
		}
		return c.end()
	case c.accept("TABLE"):
		st.Kind = CreateTable
		return parseCreateTable(st, c)
	}
	return unsupportedStatement(toks)
}

func parseCreateTable(st *Statement, c *cursor) error {
	st.IfNotExists = c.accept("IF", "NOT", "EXISTS")
	p, err := c.path()
	if err != nil {
		return err
	}
	st.Target = p
	def := &TableDef{}
	st.Table = def
	for _, kw := range []string{"LIKE", "COPY", "CLONE"} {
		if c.accept(kw) {
			src, err := c.path()
			if err != nil {
				return err
			}
			switch kw {
			case "LIKE":
				def.Like = src
			case "COPY":
				def.Copy = src
			case "CLONE":
				def.Clone = src
			}
			if c.peek(0).Is("FOR") {
				return &UnsupportedError{Construct: "FOR SYSTEM_TIME AS OF (time travel)"}
			}
		}
	}
	if c.peek(0).IsPunct("(") {
		if def.Columns, err = c.columns(); err != nil {
			return err
		}
	}
	if c.peek(0).Is("DEFAULT") {
		return &UnsupportedError{Construct: "CREATE TABLE … DEFAULT COLLATE"}
	}
	if c.accept("PARTITION", "BY") {
		if err := c.partitionBy(def); err != nil {
			return err
		}
	}
	if c.accept("CLUSTER", "BY") {
		for {
			col, err := c.ident("a clustering column")
			if err != nil {
				return err
			}
			def.Clustering = append(def.Clustering, col)
			if !c.peek(0).IsPunct(",") {
				break
			}
			c.i++
		}
	}
	if c.peek(0).Is("WITH") && c.peek(1).Is("CONNECTION") {
		return &UnsupportedError{Construct: "CREATE TABLE … WITH CONNECTION"}
	}
	if c.accept("OPTIONS") {
		if st.Options, err = c.options(); err != nil {
			return err
		}
	}
	if c.accept("AS") {
		rest := c.toks[c.i:]
		if rest[0].Kind == EOF {
			return &SyntaxError{Pos: rest[0].Pos, Msg: "expected a query after AS"}
		}
		tr := newTranslator(c.sh, rest)
		if err := tr.run(); err != nil {
			return err
		}
		def.Query = strings.TrimSpace(tr.out.String())
		c.i = len(c.toks) - 1
	}
	if err := c.end(); err != nil {
		return err
	}
	sources := 0
	for _, s := range []bool{def.Query != "", def.Like != nil, def.Copy != nil, def.Clone != nil} {
		if s {
			sources++
		}
	}
	switch {
	case sources > 1:
		return &SyntaxError{Pos: c.toks[0].Pos, Msg: "CREATE TABLE takes only one of AS, LIKE, COPY and CLONE"}
	case sources == 0 && len(def.Columns) == 0:
		return &SyntaxError{Pos: c.toks[0].Pos, Msg: "CREATE TABLE needs a column list, AS query, LIKE, COPY or CLONE"}
	case (def.Copy != nil || def.Clone != nil) && (len(def.Columns) > 0 || def.PartitionField != "" || def.Clustering != nil):
		return &SyntaxError{Pos: c.toks[0].Pos, Msg: "CREATE TABLE … COPY/CLONE cannot declare columns, partitioning or clustering"}
	case st.OrReplace && st.IfNotExists:
		return &SyntaxError{Pos: c.toks[0].Pos, Msg: "OR REPLACE and IF NOT EXISTS cannot be combined"}
	}
	return nil
}

// columns parses "( name TYPE [NOT NULL] [OPTIONS(description = …)], … )".
func (c *cursor) columns() ([]warehouse.Field, error) {
	if err := c.expectPunct("("); err != nil {
		return nil, err
	}
	var cols []warehouse.Field
	for {
		if t := c.peek(0); t.Is("PRIMARY") || t.Is("FOREIGN") || t.Is("CONSTRAINT") {
			return nil, &UnsupportedError{Construct: "table constraint " + t.Upper() + " KEY"}
		}
		name, err := c.ident("a column name")
		if err != nil {
			return nil, err
		}
		f, j, err := parseType(c.toks, c.i)
		if err != nil {
			return nil, err
		}
		c.i = j
		f.Name = name
		if f.Mode == "" {
			f.Mode = "NULLABLE"
		}
		for {
			switch {
			case c.accept("NOT", "NULL"):
				if f.Mode == "REPEATED" {
					return nil, &SyntaxError{Pos: c.peek(0).Pos, Msg: "an ARRAY column cannot be NOT NULL"}
				}
				f.Mode = "REQUIRED"
				continue
			case c.accept("OPTIONS"):
				opts, err := c.options()
				if err != nil {
					return nil, err
				}
				for _, o := range opts {
					if o.Name != "description" {
						return nil, &UnsupportedError{Construct: "column option " + o.Name, Hint: "columns accept OPTIONS(description = …)"}
					}
					d, ok := stringLiteral(o.Expr)
					if !ok {
						return nil, &SyntaxError{Pos: c.peek(0).Pos, Msg: "column description must be a string literal"}
					}
					f.Description = d
				}
				continue
			case c.peek(0).Is("DEFAULT") || c.peek(0).Is("COLLATE") || c.peek(0).Is("PRIMARY"):
				return nil, &UnsupportedError{Construct: "column " + c.peek(0).Upper() + " clause"}
			}
			break
		}
		cols = append(cols, f)
		if c.peek(0).IsPunct(",") {
			c.i++
			continue
		}
		if err := c.expectPunct(")"); err != nil {
			return nil, err
		}
		return cols, nil
	}
}

// stringLiteral undoes QuoteString for a rendered literal.
func stringLiteral(expr string) (string, bool) {
	if len(expr) < 2 || expr[0] != '\'' || expr[len(expr)-1] != '\'' {
		return "", false
	}
	inner := expr[1 : len(expr)-1]
	if strings.Contains(strings.ReplaceAll(inner, "''", ""), "'") {
		return "", false
	}
	return strings.ReplaceAll(inner, "''", "'"), true
}

// partitionBy parses the partitioning expressions BigQuery allows for time
// partitioning on a column: col, DATE(col), DATE_TRUNC(col, DAY|MONTH),
// TIMESTAMP_TRUNC(col, DAY|MONTH), DATETIME_TRUNC(col, DAY|MONTH).
func (c *cursor) partitionBy(def *TableDef) error {
	t := c.peek(0)
	u := t.Upper()
	if t.Kind == Ident && strings.HasPrefix(u, "_PARTITION") || (u == "DATE" && c.peek(2).Kind == Ident && strings.HasPrefix(c.peek(2).Upper(), "_PARTITION")) {
		return &UnsupportedError{Construct: "ingestion-time partitioning (PARTITION BY _PARTITIONDATE)", Hint: "partition by a DATE, DATETIME or TIMESTAMP column"}
	}
	if u == "RANGE_BUCKET" {
		return &UnsupportedError{Construct: "integer-range partitioning (RANGE_BUCKET)"}
	}
	if !c.peek(1).IsPunct("(") {
		col, err := c.ident("a partitioning column")
		if err != nil {
			return err
		}
		def.PartitionField, def.PartitionType = col, warehouse.Day
		return nil
	}
	c.i += 2
	col, err := c.ident("a partitioning column")
	if err != nil {
		return err
	}
	def.PartitionField, def.PartitionType = col, warehouse.Day
	switch u {
	case "DATE":
	case "DATE_TRUNC", "TIMESTAMP_TRUNC", "DATETIME_TRUNC":
		if err := c.expectPunct(","); err != nil {
			return err
		}
		unit, err := c.ident("DAY or MONTH")
		if err != nil {
			return err
		}
		switch strings.ToUpper(unit) {
		case "DAY":
		case "MONTH":
			def.PartitionType = warehouse.Month
		default:
			return &UnsupportedError{Construct: fmt.Sprintf("%s partitioning", strings.ToUpper(unit)), Hint: "partitions are DAY or MONTH"}
		}
	default:
		return &UnsupportedError{Construct: fmt.Sprintf("PARTITION BY %s(…)", u)}
	}
	return c.expectPunct(")")
}

// options parses "( name = value, … )" after OPTIONS.
func (c *cursor) options() ([]Option, error) {
	if err := c.expectPunct("("); err != nil {
		return nil, err
	}
	var opts []Option
	if c.peek(0).IsPunct(")") {
		c.i++
		return nil, nil
	}
	for {
		name, err := c.ident("an option name")
		if err != nil {
			return nil, err
		}
		if err := c.expectPunct("="); err != nil {
			return nil, err
		}
		// The value runs to the next top-level comma or the closing paren.
		start, depth := c.i, 0
		for {
			t := c.peek(0)
			if t.Kind == EOF {
				return nil, &SyntaxError{Pos: t.Pos, Msg: "unclosed OPTIONS("}
			}
			if depth == 0 && (t.IsPunct(",") || t.IsPunct(")")) {
				break
			}
			if t.IsPunct("(") || t.IsPunct("[") {
				depth++
			} else if t.IsPunct(")") || t.IsPunct("]") {
				depth--
			}
			c.i++
		}
		val := c.toks[start:c.i]
		if len(val) == 0 {
			return nil, &SyntaxError{Pos: c.peek(0).Pos, Msg: "option " + name + " has no value"}
		}
		o := Option{Name: strings.ToLower(name)}
		if o.Name == "labels" {
			if o.Labels, err = parseLabels(val); err != nil {
				return nil, err
			}
		} else {
			tr := newTranslator(c.sh, val)
			tr.frames = []clause{clauseOther}
			if err := tr.run(); err != nil {
				return nil, err
			}
			o.Expr = strings.TrimSpace(tr.out.String())
		}
		opts = append(opts, o)
		if c.peek(0).IsPunct(",") {
			c.i++
			continue
		}
		c.i++ // ")"
		return opts, nil
	}
}

// parseLabels parses [("key", "value"), …].
func parseLabels(val []Token) (map[string]string, error) {
	bad := &SyntaxError{Pos: val[0].Pos, Msg: `labels must be written [("key", "value"), …]`}
	labels := map[string]string{}
	i := 0
	if !val[i].IsPunct("[") {
		return nil, bad
	}
	i++
	for i < len(val) && !val[i].IsPunct("]") {
		if i+4 >= len(val) || !val[i].IsPunct("(") || val[i+1].Kind != String || !val[i+2].IsPunct(",") || val[i+3].Kind != String || !val[i+4].IsPunct(")") {
			return nil, bad
		}
		labels[val[i+1].Text] = val[i+3].Text
		i += 5
		if i < len(val) && val[i].IsPunct(",") {
			i++
		}
	}
	if i != len(val)-1 {
		return nil, bad
	}
	return labels, nil
}

func parseDrop(st *Statement, sh *shared, toks []Token) error {
	c := &cursor{toks: toks, i: 1, sh: sh}
	switch {
	case c.accept("TABLE"):
		st.Kind = DropTable
	case c.accept("SCHEMA"):
		st.Kind = DropSchema
	default:
		return unsupportedStatement(toks)
	}
	st.IfExists = c.accept("IF", "EXISTS")
	p, err := c.path()
	if err != nil {
		return err
	}
	if st.Kind == DropSchema && len(p) > 2 {
		return &SyntaxError{Pos: toks[0].Pos, Msg: fmt.Sprintf("schema name %q has more than two parts (project.dataset)", p)}
	}
	st.Target = p
	if st.Kind == DropSchema {
		st.Cascade = c.accept("CASCADE")
		if !st.Cascade {
			c.accept("RESTRICT")
		}
	}
	return c.end()
}
