// Package bqsql reads the BigQuery Standard SQL subset the DuckDB warehouse
// accepts and translates it to DuckDB SQL. It has a real tokenizer (strings,
// quoted identifiers and comments are respected), splits scripts into
// statements, classifies each statement, parses the BigQuery DDL the
// warehouse executes itself (CREATE SCHEMA, CREATE TABLE … PARTITION BY …,
// DROP) and rewrites the expressions where the two dialects differ.
//
// It does not touch a database; package duckdb executes what it returns.
// docs/duckdb-sql.md documents the supported subset.
package bqsql

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is the lexical class of a token.
type Kind int

const (
	// EOF ends every token list.
	EOF Kind = iota
	// Ident is an unquoted identifier or keyword.
	Ident
	// QuotedIdent is a backtick-quoted identifier; Text holds its content
	// (which may contain dots, as in `project.dataset.table`).
	QuotedIdent
	// String is a string literal; Text holds its decoded value.
	String
	// Bytes is a bytes literal (b'…'); Text holds its decoded value.
	Bytes
	// Number is a numeric literal as written (hex already converted to decimal).
	Number
	// Param is a named query parameter (@name); Text holds the name.
	Param
	// SysVar is a system variable (@@name); Text holds the name.
	SysVar
	// Punct is an operator or punctuation; Text holds it.
	Punct
)

func (k Kind) String() string {
	switch k {
	case EOF:
		return "end of input"
	case Ident:
		return "identifier"
	case QuotedIdent:
		return "quoted identifier"
	case String:
		return "string"
	case Bytes:
		return "bytes"
	case Number:
		return "number"
	case Param:
		return "parameter"
	case SysVar:
		return "system variable"
	}
	return "punctuation"
}

// Token is one lexical token. Pos and End are byte offsets in the source;
// Space reports whether whitespace or a comment precedes the token, and
// Newline whether that gap contained a line break.
type Token struct {
	Kind    Kind
	Text    string
	Pos     int
	End     int
	Space   bool
	Newline bool
}

// Is reports whether t is the unquoted keyword kw (case-insensitive).
func (t Token) Is(kw string) bool { return t.Kind == Ident && strings.EqualFold(t.Text, kw) }

// IsPunct reports whether t is the punctuation p.
func (t Token) IsPunct(p string) bool { return t.Kind == Punct && t.Text == p }

// Upper returns t's text in upper case (for keyword and function lookups).
func (t Token) Upper() string { return strings.ToUpper(t.Text) }

// SyntaxError is a lexical or syntactic error at a byte offset.
type SyntaxError struct {
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("syntax error at offset %d: %s", e.Pos, e.Msg)
}

// Tokenize splits src into tokens, dropping whitespace and comments (--, #
// and /* */). The returned slice always ends with an EOF token.
func Tokenize(src string) ([]Token, error) {
	lx := lexer{src: src}
	var toks []Token
	for {
		t, err := lx.next()
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		if t.Kind == EOF {
			return toks, nil
		}
	}
}

type lexer struct {
	src string
	pos int
}

// skipSpace skips whitespace and comments, reporting whether it skipped
// anything and whether that included a line break.
func (lx *lexer) skipSpace() (space, newline bool, err error) {
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		switch {
		case c == '\n':
			newline, space = true, true
			lx.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			space = true
			lx.pos++
		case c == '#' || (c == '-' && strings.HasPrefix(lx.src[lx.pos:], "--")):
			space = true
			end := strings.IndexByte(lx.src[lx.pos:], '\n')
			if end < 0 {
				lx.pos = len(lx.src)
			} else {
				lx.pos += end
			}
		case c == '/' && strings.HasPrefix(lx.src[lx.pos:], "/*"):
			space = true
			end := strings.Index(lx.src[lx.pos+2:], "*/")
			if end < 0 {
				return false, false, &SyntaxError{Pos: lx.pos, Msg: "unterminated /* comment"}
			}
			if strings.Contains(lx.src[lx.pos:lx.pos+2+end], "\n") {
				newline = true
			}
			lx.pos += 2 + end + 2
		default:
			return space, newline, nil
		}
	}
	return space, newline, nil
}

// threeCharPuncts and twoCharPuncts are matched longest first. ">>" is
// deliberately absent so that nested type parameters (ARRAY<STRUCT<…>>)
// close one bracket per token; the translator re-emits adjacent ">" ">"
// without a space, so a shift operator survives.
var twoCharPuncts = []string{"<=", ">=", "<>", "!=", "||", "<<", "=>", "->", "::"}

func (lx *lexer) next() (Token, error) {
	space, newline, err := lx.skipSpace()
	if err != nil {
		return Token{}, err
	}
	start := lx.pos
	tok := func(k Kind, text string) (Token, error) {
		return Token{Kind: k, Text: text, Pos: start, End: lx.pos, Space: space, Newline: newline}, nil
	}
	if lx.pos >= len(lx.src) {
		return tok(EOF, "")
	}
	c := lx.src[lx.pos]
	switch {
	case isIdentStart(c):
		// String prefixes: r, b, rb, br (any case) directly before a quote.
		if q, raw, bytes, n := lx.stringPrefix(); q != 0 {
			lx.pos += n
			s, err := lx.quoted(q, raw)
			if err != nil {
				return Token{}, err
			}
			if bytes {
				return tok(Bytes, s)
			}
			return tok(String, s)
		}
		for lx.pos < len(lx.src) && isIdentPart(lx.src[lx.pos]) {
			lx.pos++
		}
		return tok(Ident, lx.src[start:lx.pos])
	case c >= '0' && c <= '9' || (c == '.' && lx.pos+1 < len(lx.src) && isDigit(lx.src[lx.pos+1])):
		return lx.number(tok)
	case c == '\'' || c == '"':
		s, err := lx.quoted(c, false)
		if err != nil {
			return Token{}, err
		}
		return tok(String, s)
	case c == '`':
		end := strings.IndexByte(lx.src[lx.pos+1:], '`')
		if end < 0 {
			return Token{}, &SyntaxError{Pos: start, Msg: "unterminated backtick identifier"}
		}
		text := lx.src[lx.pos+1 : lx.pos+1+end]
		lx.pos += end + 2
		if text == "" {
			return Token{}, &SyntaxError{Pos: start, Msg: "empty backtick identifier"}
		}
		return tok(QuotedIdent, text)
	case c == '@':
		kind := Param
		lx.pos++
		if lx.pos < len(lx.src) && lx.src[lx.pos] == '@' {
			kind = SysVar
			lx.pos++
		}
		nameStart := lx.pos
		if lx.pos < len(lx.src) && lx.src[lx.pos] == '`' {
			end := strings.IndexByte(lx.src[lx.pos+1:], '`')
			if end < 0 {
				return Token{}, &SyntaxError{Pos: start, Msg: "unterminated backtick parameter name"}
			}
			name := lx.src[lx.pos+1 : lx.pos+1+end]
			lx.pos += end + 2
			return tok(kind, name)
		}
		for lx.pos < len(lx.src) && isIdentPart(lx.src[lx.pos]) {
			lx.pos++
		}
		if lx.pos == nameStart {
			return Token{}, &SyntaxError{Pos: start, Msg: "@ must be followed by a parameter name"}
		}
		return tok(kind, lx.src[nameStart:lx.pos])
	}
	for _, p := range twoCharPuncts {
		if strings.HasPrefix(lx.src[lx.pos:], p) {
			lx.pos += len(p)
			return tok(Punct, p)
		}
	}
	if strings.ContainsRune("(),.;[]{}<>=+-*/%&|^~!:?", rune(c)) {
		lx.pos++
		return tok(Punct, string(c))
	}
	r, _ := utf8.DecodeRuneInString(lx.src[lx.pos:])
	return Token{}, &SyntaxError{Pos: start, Msg: fmt.Sprintf("unexpected character %q", r)}
}

// stringPrefix recognises r'…', b'…', rb'…' and br'…' (any case) at the
// current position and returns the quote character, the flags and the
// prefix length. q is 0 when there is no prefixed string here.
func (lx *lexer) stringPrefix() (q byte, raw, bytes bool, n int) {
	for n < 2 && lx.pos+n < len(lx.src) {
		switch lx.src[lx.pos+n] {
		case 'r', 'R':
			if raw {
				return 0, false, false, 0
			}
			raw = true
		case 'b', 'B':
			if bytes {
				return 0, false, false, 0
			}
			bytes = true
		default:
			goto done
		}
		n++
	}
done:
	if n == 0 || lx.pos+n >= len(lx.src) {
		return 0, false, false, 0
	}
	if c := lx.src[lx.pos+n]; c == '\'' || c == '"' {
		return c, raw, bytes, n
	}
	return 0, false, false, 0
}

// quoted reads a string literal starting at the quote character q
// (triple-quoted when the quote is tripled) and decodes its escapes unless raw.
func (lx *lexer) quoted(q byte, raw bool) (string, error) {
	start := lx.pos
	triple := strings.HasPrefix(lx.src[lx.pos:], strings.Repeat(string(q), 3))
	if triple {
		lx.pos += 3
	} else {
		lx.pos++
	}
	var b strings.Builder
	for {
		if lx.pos >= len(lx.src) {
			return "", &SyntaxError{Pos: start, Msg: "unterminated string literal"}
		}
		c := lx.src[lx.pos]
		switch {
		case c == q && !triple:
			lx.pos++
			return b.String(), nil
		case c == q && triple && strings.HasPrefix(lx.src[lx.pos:], strings.Repeat(string(q), 3)):
			lx.pos += 3
			return b.String(), nil
		case c == '\n' && !triple:
			return "", &SyntaxError{Pos: start, Msg: "newline in a string literal (use a triple-quoted string)"}
		case c == '\\':
			if lx.pos+1 >= len(lx.src) {
				return "", &SyntaxError{Pos: start, Msg: "unterminated string literal"}
			}
			if raw {
				// Raw strings keep the backslash, but it still protects a quote.
				b.WriteByte('\\')
				b.WriteByte(lx.src[lx.pos+1])
				lx.pos += 2
				continue
			}
			if err := lx.escape(&b); err != nil {
				return "", err
			}
		default:
			b.WriteByte(c)
			lx.pos++
		}
	}
}

// escape decodes one backslash escape at lx.pos into b.
func (lx *lexer) escape(b *strings.Builder) error {
	start := lx.pos
	e := lx.src[lx.pos+1]
	lx.pos += 2
	simple := map[byte]byte{'a': '\a', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v',
		'\\': '\\', '?': '?', '"': '"', '\'': '\'', '`': '`'}
	if r, ok := simple[e]; ok {
		b.WriteByte(r)
		return nil
	}
	hex := func(n int) (uint64, error) {
		if lx.pos+n > len(lx.src) {
			return 0, &SyntaxError{Pos: start, Msg: "truncated escape sequence"}
		}
		v, err := strconv.ParseUint(lx.src[lx.pos:lx.pos+n], 16, 32)
		if err != nil {
			return 0, &SyntaxError{Pos: start, Msg: fmt.Sprintf("bad escape sequence \\%c%s", e, lx.src[lx.pos:lx.pos+n])}
		}
		lx.pos += n
		return v, nil
	}
	switch e {
	case 'x', 'X':
		v, err := hex(2)
		if err != nil {
			return err
		}
		b.WriteByte(byte(v))
	case 'u':
		v, err := hex(4)
		if err != nil {
			return err
		}
		b.WriteRune(rune(v))
	case 'U':
		v, err := hex(8)
		if err != nil {
			return err
		}
		b.WriteRune(rune(v))
	case '0', '1', '2', '3':
		if lx.pos+2 > len(lx.src) {
			return &SyntaxError{Pos: start, Msg: "truncated octal escape"}
		}
		v, err := strconv.ParseUint(lx.src[lx.pos-1:lx.pos+2], 8, 8)
		if err != nil {
			return &SyntaxError{Pos: start, Msg: "bad octal escape"}
		}
		lx.pos += 2
		b.WriteByte(byte(v))
	default:
		return &SyntaxError{Pos: start, Msg: fmt.Sprintf("unknown escape sequence \\%c", e)}
	}
	return nil
}

func (lx *lexer) number(tok func(Kind, string) (Token, error)) (Token, error) {
	start := lx.pos
	if strings.HasPrefix(lx.src[lx.pos:], "0x") || strings.HasPrefix(lx.src[lx.pos:], "0X") {
		lx.pos += 2
		for lx.pos < len(lx.src) && isHex(lx.src[lx.pos]) {
			lx.pos++
		}
		v, err := strconv.ParseInt(lx.src[start+2:lx.pos], 16, 64)
		if err != nil {
			return Token{}, &SyntaxError{Pos: start, Msg: "bad hexadecimal literal"}
		}
		return tok(Number, strconv.FormatInt(v, 10))
	}
	for lx.pos < len(lx.src) && isDigit(lx.src[lx.pos]) {
		lx.pos++
	}
	if lx.pos < len(lx.src) && lx.src[lx.pos] == '.' {
		lx.pos++
		for lx.pos < len(lx.src) && isDigit(lx.src[lx.pos]) {
			lx.pos++
		}
	}
	if lx.pos < len(lx.src) && (lx.src[lx.pos] == 'e' || lx.src[lx.pos] == 'E') {
		p := lx.pos + 1
		if p < len(lx.src) && (lx.src[p] == '+' || lx.src[p] == '-') {
			p++
		}
		if p < len(lx.src) && isDigit(lx.src[p]) {
			lx.pos = p
			for lx.pos < len(lx.src) && isDigit(lx.src[lx.pos]) {
				lx.pos++
			}
		}
	}
	return tok(Number, lx.src[start:lx.pos])
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}
func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) }
func isDigit(c byte) bool     { return c >= '0' && c <= '9' }
func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// QuoteIdent quotes name as a DuckDB identifier.
func QuoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// QuoteString quotes s as a DuckDB string literal.
func QuoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// quoteBytes renders b as a DuckDB BLOB literal.
func quoteBytes(b string) string {
	var sb strings.Builder
	sb.WriteString("'")
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '\'':
			sb.WriteString("''")
		case c == '\\' || c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&sb, `\x%02X`, c)
		default:
			sb.WriteByte(c)
		}
	}
	sb.WriteString("'::BLOB")
	return sb.String()
}

// Split splits a script into statements at top-level semicolons, returning
// each statement's tokens (with its own EOF). Empty statements are dropped.
func Split(toks []Token) [][]Token {
	var out [][]Token
	depth, start := 0, 0
	flush := func(end int) {
		if end > start {
			st := append([]Token(nil), toks[start:end]...)
			st = append(st, Token{Kind: EOF, Pos: toks[end].Pos, End: toks[end].Pos})
			out = append(out, st)
		}
	}
	for i, t := range toks {
		switch {
		case t.Kind == EOF:
			flush(i)
			return out
		case t.IsPunct("(") || t.IsPunct("["):
			depth++
		case t.IsPunct(")") || t.IsPunct("]"):
			depth--
		case t.IsPunct(";") && depth <= 0:
			flush(i)
			start = i + 1
		}
	}
	return out
}
