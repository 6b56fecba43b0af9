// Package querytext prepares a table's query text for one backfill: it
// renders the small Jinja subset bigquery-etl queries use around
// initialization (Render, HasIsInitBlock) and points a depends_on_past
// query's reads of its own table at the staging table
// (RewriteSelfReferences). Both are built on Tokenize, a BigQuery SQL lexer
// that keeps every token's position so text can be rewritten precisely.
//
// The package is pure Go with no database dependency, so it builds with
// CGO_ENABLED=0 for the production images.
package querytext

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind classifies a token.
type Kind int

// Token kinds. Whitespace is not a token: it is the gap between one token's
// End and the next token's Pos.
const (
	// Ident is an unquoted identifier or keyword (SELECT, from, my_table).
	// A word that starts with a digit but continues with letters or an
	// underscore (2b, 20240101_t) is also an Ident: BigQuery rejects such a
	// word as a literal, and it occurs in dashed project ids and path parts.
	Ident Kind = iota + 1
	// QuotedIdent is a backtick-quoted identifier or path: `p.d.t`.
	QuotedIdent
	// String is a string literal in single, double or triple quotes,
	// optionally raw (r'...').
	String
	// Bytes is a bytes literal (b'...', rb'...').
	Bytes
	// Number is an integer, hexadecimal or floating-point literal.
	Number
	// Param is a named query parameter: @submission_date.
	Param
	// SysVar is a system variable: @@project_id.
	SysVar
	// Punct is an operator or punctuation: ( ) , . ; = <> || and so on.
	Punct
	// Comment is a -- or # line comment (without its newline) or a /* */
	// block comment.
	Comment
	// JinjaStatement is a Jinja block tag: {% if is_init() %}.
	JinjaStatement
	// JinjaExpression is a Jinja expression: {{ ds }}.
	JinjaExpression
	// JinjaComment is a Jinja comment: {# note #}.
	JinjaComment
)

var kindNames = map[Kind]string{
	Ident: "Ident", QuotedIdent: "QuotedIdent", String: "String", Bytes: "Bytes",
	Number: "Number", Param: "Param", SysVar: "SysVar", Punct: "Punct", Comment: "Comment",
	JinjaStatement: "JinjaStatement", JinjaExpression: "JinjaExpression", JinjaComment: "JinjaComment",
}

// String returns the kind's name.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// IsJinja reports whether k is one of the Jinja template kinds.
func (k Kind) IsJinja() bool {
	return k == JinjaStatement || k == JinjaExpression || k == JinjaComment
}

// Token is one lexical element of the source. Text is exactly
// src[Pos:End], so replacing that byte range rewrites the token and nothing
// else. Line and Col (in bytes) are 1-based and locate Pos.
type Token struct {
	Kind      Kind
	Text      string
	Pos, End  int
	Line, Col int
}

// Value returns the token's meaning without its syntax: the name of an
// identifier (backticks removed and escapes decoded for a QuotedIdent), the
// decoded content of a string or bytes literal, a parameter's or system
// variable's name without the @ signs, a Jinja tag's inner text without
// delimiters, whitespace-control marks or surrounding spaces, and Text for
// every other kind. Tokenize has already validated escapes, so Value cannot
// fail on a token it returned.
func (t Token) Value() string {
	switch t.Kind {
	case QuotedIdent:
		return unescape(t.Text[1:len(t.Text)-1], false)
	case String, Bytes:
		raw, body := splitLiteral(t.Text)
		return unescape(body, raw)
	case Param:
		return t.Text[1:]
	case SysVar:
		return t.Text[2:]
	case JinjaStatement, JinjaExpression, JinjaComment:
		inner := t.Text[2 : len(t.Text)-2]
		inner = strings.TrimPrefix(strings.TrimPrefix(inner, "-"), "+")
		inner = strings.TrimSuffix(strings.TrimSuffix(inner, "-"), "+")
		return strings.TrimSpace(inner)
	}
	return t.Text
}

// IsKeyword reports whether t is the unquoted word kw, compared without
// regard to case as BigQuery compares keywords.
func (t Token) IsKeyword(kw string) bool {
	return t.Kind == Ident && strings.EqualFold(t.Text, kw)
}

// IsPunct reports whether t is the punctuation p.
func (t Token) IsPunct(p string) bool { return t.Kind == Punct && t.Text == p }

// String formats the token for diagnostics: Kind(Text)@line:col.
func (t Token) String() string { return fmt.Sprintf("%s(%s)@%d:%d", t.Kind, t.Text, t.Line, t.Col) }

// SyntaxError reports text Tokenize cannot lex, with its position.
type SyntaxError struct {
	Pos, Line, Col int
	Msg            string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// Tokenize splits BigQuery SQL into tokens, comments included and
// whitespace left out. It understands backtick-quoted identifiers,
// single, double and triple-quoted strings with r/b prefixes and escapes,
// --, # and /* */ comments, @params and @@system variables, numbers,
// operators, and the Jinja delimiters {% %}, {{ }} and {# #}.
//
// The lexer is SQL-first: a Jinja delimiter inside a SQL string or comment
// stays part of that string or comment. Jinja itself ignores SQL syntax, so
// templates must be rendered (Render) before their text is treated as SQL.
func Tokenize(src string) ([]Token, error) {
	lx := lexer{src: src, line: 1, lineStart: 0}
	var toks []Token
	for {
		lx.skipSpace()
		if lx.pos >= len(src) {
			return toks, nil
		}
		tok, err := lx.next(toks)
		if err != nil {
			return nil, err
		}
		toks = append(toks, tok)
	}
}

type lexer struct {
	src       string
	pos       int
	line      int
	lineStart int
}

func (lx *lexer) errorf(pos int, format string, args ...any) error {
	line, col := position(lx.src, pos)
	return &SyntaxError{Pos: pos, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// position returns the 1-based line and byte column of offset pos in src.
func position(src string, pos int) (line, col int) {
	line = 1 + strings.Count(src[:pos], "\n")
	col = pos - strings.LastIndexByte(src[:pos], '\n')
	return line, col
}

func (lx *lexer) skipSpace() {
	for lx.pos < len(lx.src) {
		switch lx.src[lx.pos] {
		case '\n':
			lx.pos++
			lx.line++
			lx.lineStart = lx.pos
		case ' ', '\t', '\r', '\f', '\v':
			lx.pos++
		default:
			return
		}
	}
}

// make builds the token src[start:lx.pos], advancing the line counter over
// any newlines it spans.
func (lx *lexer) make(kind Kind, start int) Token {
	t := Token{Kind: kind, Text: lx.src[start:lx.pos], Pos: start, End: lx.pos, Line: lx.line, Col: start - lx.lineStart + 1}
	if n := strings.Count(t.Text, "\n"); n > 0 {
		lx.line += n
		lx.lineStart = start + strings.LastIndexByte(t.Text, '\n') + 1
	}
	return t
}

func isIdentStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool      { return '0' <= c && c <= '9' }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }
func isHex(c byte) bool        { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func (lx *lexer) peek(off int) byte {
	if lx.pos+off < len(lx.src) {
		return lx.src[lx.pos+off]
	}
	return 0
}

var puncts3 = []string{"<=>"}
var puncts2 = []string{"<=", ">=", "<>", "!=", "||", "<<", ">>", "=>", "->"}

func (lx *lexer) next(prev []Token) (Token, error) {
	start := lx.pos
	c := lx.src[lx.pos]
	switch {
	case c == '{' && (lx.peek(1) == '%' || lx.peek(1) == '{' || lx.peek(1) == '#'):
		return lx.jinja()
	case c == '-' && lx.peek(1) == '-', c == '#':
		for lx.pos < len(lx.src) && lx.src[lx.pos] != '\n' {
			lx.pos++
		}
		return lx.make(Comment, start), nil
	case c == '/' && lx.peek(1) == '*':
		end := strings.Index(lx.src[lx.pos+2:], "*/")
		if end < 0 {
			return Token{}, lx.errorf(start, "unterminated /* comment")
		}
		lx.pos += 2 + end + 2
		return lx.make(Comment, start), nil
	case c == '`':
		return lx.quotedIdent()
	case c == '\'' || c == '"':
		return lx.literal(start, false, false)
	case c == 'r' || c == 'R' || c == 'b' || c == 'B':
		if raw, byts, n := literalPrefix(lx.src[lx.pos:]); n > 0 {
			lx.pos += n
			return lx.literal(start, raw, byts)
		}
		return lx.word(start), nil
	case isIdentStart(c):
		return lx.word(start), nil
	case isDigit(c):
		if afterPathDot(prev, start) {
			return lx.word(start), nil
		}
		return lx.number(start)
	case c == '.' && isDigit(lx.peek(1)) && !endsOperand(prev):
		return lx.number(start)
	case c == '@':
		n := 1
		kind := Param
		if lx.peek(1) == '@' {
			n, kind = 2, SysVar
		}
		if !isIdentStart(lx.peek(n)) {
			return Token{}, lx.errorf(start, "%q must be followed by a name", lx.src[start:lx.pos+n])
		}
		lx.pos += n
		for lx.pos < len(lx.src) && isIdentChar(lx.src[lx.pos]) {
			lx.pos++
		}
		return lx.make(kind, start), nil
	}
	for _, group := range [][]string{puncts3, puncts2} {
		for _, p := range group {
			if strings.HasPrefix(lx.src[lx.pos:], p) {
				lx.pos += len(p)
				return lx.make(Punct, start), nil
			}
		}
	}
	if strings.IndexByte("()[]{},.;:+-*/%=<>&|^~!?", c) >= 0 {
		lx.pos++
		return lx.make(Punct, start), nil
	}
	r, _ := utf8.DecodeRuneInString(lx.src[lx.pos:])
	return Token{}, lx.errorf(start, "unexpected character %q", r)
}

// endsOperand reports whether the last token ends an operand (a name, a
// closing bracket), after which a '.' is member access, not a decimal point.
func endsOperand(prev []Token) bool {
	if len(prev) == 0 {
		return false
	}
	p := prev[len(prev)-1]
	return p.Kind == Ident || p.Kind == QuotedIdent || p.IsPunct(")") || p.IsPunct("]")
}

// afterPathDot reports whether a word starting at pos directly follows a
// '.' that directly follows a name (d.2024_t): a path part, not a number.
func afterPathDot(prev []Token, pos int) bool {
	n := len(prev)
	if n < 2 {
		return false
	}
	dot, name := prev[n-1], prev[n-2]
	return dot.IsPunct(".") && dot.End == pos && name.End == dot.Pos && (name.Kind == Ident || name.Kind == QuotedIdent)
}

// word lexes [A-Za-z0-9_]+ as an Ident.
func (lx *lexer) word(start int) Token {
	for lx.pos < len(lx.src) && isIdentChar(lx.src[lx.pos]) {
		lx.pos++
	}
	return lx.make(Ident, start)
}

func (lx *lexer) number(start int) (Token, error) {
	s := lx.src
	if s[lx.pos] == '0' && (lx.peek(1) == 'x' || lx.peek(1) == 'X') && isHex(lx.peek(2)) {
		lx.pos += 2
		for lx.pos < len(s) && isHex(s[lx.pos]) {
			lx.pos++
		}
	} else {
		for lx.pos < len(s) && isDigit(s[lx.pos]) {
			lx.pos++
		}
		if lx.pos < len(s) && s[lx.pos] == '.' {
			// 1.5 and 1. are numbers; in moz-fx-123.dataset the dot
			// separates path parts.
			nx := lx.peek(1)
			switch {
			case isDigit(nx):
				lx.pos++
				for lx.pos < len(s) && isDigit(s[lx.pos]) {
					lx.pos++
				}
			case (nx == 'e' || nx == 'E') && exponentAt(s, lx.pos+1):
				lx.pos++
			case isIdentStart(nx) || nx == '`':
			default:
				lx.pos++
			}
		}
		if lx.pos < len(s) && (s[lx.pos] == 'e' || s[lx.pos] == 'E') && exponentAt(s, lx.pos) {
			lx.pos++
			if s[lx.pos] == '+' || s[lx.pos] == '-' {
				lx.pos++
			}
			for lx.pos < len(s) && isDigit(s[lx.pos]) {
				lx.pos++
			}
		}
	}
	if lx.pos < len(s) && isIdentChar(s[lx.pos]) {
		// 2b, 123abc: not a literal BigQuery accepts, but a valid part of
		// a dashed project id (my-project-2b) or a path.
		if strings.Trim(s[start:lx.pos], "0123456789") != "" {
			return Token{}, lx.errorf(start, "malformed number %q", s[start:lx.pos+1])
		}
		return lx.word(start), nil
	}
	return lx.make(Number, start), nil
}

// exponentAt reports whether s[i] (an 'e' or 'E') starts a valid exponent.
func exponentAt(s string, i int) bool {
	j := i + 1
	if j < len(s) && (s[j] == '+' || s[j] == '-') {
		j++
	}
	return j < len(s) && isDigit(s[j])
}

// literalPrefix recognises r, b, rb and br prefixes (any case) directly
// followed by a quote, returning the prefix length.
func literalPrefix(s string) (raw, byts bool, n int) {
	for n < len(s) && n < 2 {
		switch s[n] {
		case 'r', 'R':
			if raw {
				return false, false, 0
			}
			raw = true
		case 'b', 'B':
			if byts {
				return false, false, 0
			}
			byts = true
		case '\'', '"':
			return raw, byts, n
		default:
			return false, false, 0
		}
		n++
	}
	if n < len(s) && (s[n] == '\'' || s[n] == '"') {
		return raw, byts, n
	}
	return false, false, 0
}

// literal lexes a quoted string or bytes literal whose opening quote is at
// lx.pos (the prefix, if any, has been consumed).
func (lx *lexer) literal(start int, raw, byts bool) (Token, error) {
	s := lx.src
	q := s[lx.pos]
	delim := string(q)
	if strings.HasPrefix(s[lx.pos:], strings.Repeat(delim, 3)) {
		delim = strings.Repeat(delim, 3)
	}
	lx.pos += len(delim)
	for {
		if lx.pos >= len(s) {
			return Token{}, lx.errorf(start, "unterminated string literal")
		}
		c := s[lx.pos]
		switch {
		case c == '\\':
			if lx.pos+1 >= len(s) {
				return Token{}, lx.errorf(start, "unterminated string literal")
			}
			if raw {
				// As in Python, a backslash in a raw literal keeps the next
				// character from ending it; both characters stay.
				lx.pos += 2
				continue
			}
			n, err := escapeLen(s[lx.pos:], false)
			if err != nil {
				return Token{}, lx.errorf(lx.pos, "%v", err)
			}
			lx.pos += n
		case c == '\n' && len(delim) == 1:
			return Token{}, lx.errorf(start, "newline in a string literal (use a triple-quoted string)")
		case strings.HasPrefix(s[lx.pos:], delim):
			lx.pos += len(delim)
			kind := String
			if byts {
				kind = Bytes
			}
			return lx.make(kind, start), nil
		default:
			lx.pos++
		}
	}
}

func (lx *lexer) quotedIdent() (Token, error) {
	s := lx.src
	start := lx.pos
	lx.pos++
	for {
		if lx.pos >= len(s) {
			return Token{}, lx.errorf(start, "unterminated quoted identifier")
		}
		switch c := s[lx.pos]; c {
		case '\\':
			n, err := escapeLen(s[lx.pos:], true)
			if err != nil {
				return Token{}, lx.errorf(lx.pos, "%v", err)
			}
			lx.pos += n
		case '\n':
			return Token{}, lx.errorf(start, "newline in a quoted identifier")
		case '`':
			lx.pos++
			if lx.pos == start+2 {
				return Token{}, lx.errorf(start, "empty quoted identifier")
			}
			return lx.make(QuotedIdent, start), nil
		default:
			lx.pos++
		}
	}
}

// escapeLen validates the escape sequence at the start of s (s[0] is the
// backslash) and returns its length.
func escapeLen(s string, ident bool) (int, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("incomplete escape sequence")
	}
	digits := func(n int, ok func(byte) bool) (int, error) {
		if len(s) < 2+n {
			return 0, fmt.Errorf("incomplete escape sequence %q", s)
		}
		for i := 2; i < 2+n; i++ {
			if !ok(s[i]) {
				return 0, fmt.Errorf("invalid escape sequence %q", s[:2+n])
			}
		}
		return 2 + n, nil
	}
	switch s[1] {
	case 'a', 'b', 'f', 'n', 'r', 't', 'v', '\\', '?', '"', '\'', '`':
		return 2, nil
	case 'x', 'X':
		return digits(2, isHex)
	case 'u':
		return digits(4, isHex)
	case 'U':
		return digits(8, isHex)
	case '0', '1', '2', '3':
		return digits(2, func(c byte) bool { return '0' <= c && c <= '7' })
	}
	what := "string literal"
	if ident {
		what = "quoted identifier"
	}
	return 0, fmt.Errorf("invalid escape sequence %q in a %s", s[:2], what)
}

// splitLiteral returns whether a string or bytes literal is raw, and its
// content between the quotes.
func splitLiteral(text string) (raw bool, body string) {
	i := strings.IndexAny(text, `'"`)
	prefix := strings.ToLower(text[:i])
	raw = strings.Contains(prefix, "r")
	q := text[i : i+1]
	n := 1
	if strings.HasPrefix(text[i:], strings.Repeat(q, 3)) && len(text)-i >= 6 {
		n = 3
	}
	return raw, text[i+n : len(text)-n]
}

// unescape decodes the escapes of validated literal or identifier content.
func unescape(body string, raw bool) string {
	if raw || !strings.Contains(body, `\`) {
		return body
	}
	var b strings.Builder
	for i := 0; i < len(body); {
		if body[i] != '\\' {
			b.WriteByte(body[i])
			i++
			continue
		}
		c := body[i+1]
		switch c {
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case 'x', 'X':
			v, _ := strconv.ParseUint(body[i+2:i+4], 16, 8)
			b.WriteByte(byte(v))
			i += 4
			continue
		case 'u', 'U':
			n := 4
			if c == 'U' {
				n = 8
			}
			v, _ := strconv.ParseUint(body[i+2:i+2+n], 16, 32)
			b.WriteRune(rune(v))
			i += 2 + n
			continue
		case '0', '1', '2', '3':
			v, _ := strconv.ParseUint(body[i+1:i+4], 8, 8)
			b.WriteByte(byte(v))
			i += 4
			continue
		default:
			b.WriteByte(c)
		}
		i += 2
	}
	return b.String()
}

// jinja lexes a {% %}, {{ }} or {# #} tag. Quoted strings inside {% %} and
// {{ }} may contain the closing delimiter, as in Jinja.
func (lx *lexer) jinja() (Token, error) {
	start := lx.pos
	kind, end, err := scanJinjaTag(lx.src, start)
	if err != nil {
		return Token{}, lx.errorf(start, "%v", err)
	}
	lx.pos = end
	return lx.make(kind, start), nil
}

// scanJinjaTag finds the end of the Jinja tag opening at src[start] ("{%",
// "{{" or "{#") and returns its kind and the offset just past it.
func scanJinjaTag(src string, start int) (Kind, int, error) {
	var kind Kind
	var closing string
	switch src[start+1] {
	case '%':
		kind, closing = JinjaStatement, "%}"
	case '{':
		kind, closing = JinjaExpression, "}}"
	default:
		kind, closing = JinjaComment, "#}"
	}
	i := start + 2
	for i < len(src) {
		c := src[i]
		if kind != JinjaComment && (c == '\'' || c == '"') {
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) {
				break
			}
			i = j + 1
			continue
		}
		if strings.HasPrefix(src[i:], closing) {
			return kind, i + 2, nil
		}
		i++
	}
	return kind, 0, fmt.Errorf("unterminated Jinja %s (no closing %q)", src[start:start+2], closing)
}
