package querytext

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func kindsAndTexts(toks []Token) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = t.Kind.String() + ":" + t.Text
	}
	return out
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"keywords and names", "SELECT a, b.c FROM t",
			[]string{"Ident:SELECT", "Ident:a", "Punct:,", "Ident:b", "Punct:.", "Ident:c", "Ident:FROM", "Ident:t"}},
		{"backtick paths", "FROM `moz-fx-data-shared-prod.telemetry.main` JOIN `p`.d.`t`",
			[]string{"Ident:FROM", "QuotedIdent:`moz-fx-data-shared-prod.telemetry.main`", "Ident:JOIN",
				"QuotedIdent:`p`", "Punct:.", "Ident:d", "Punct:.", "QuotedIdent:`t`"}},
		{"strings of every quoting", `'a' "b" '''c'd''' """e"f""" r'\d' R"\w" b'x' B"y" rb'\z' BR'q' 'it\'s'`,
			[]string{"String:'a'", `String:"b"`, "String:'''c'd'''", `String:"""e"f"""`, `String:r'\d'`, `String:R"\w"`,
				"Bytes:b'x'", `Bytes:B"y"`, `Bytes:rb'\z'`, "Bytes:BR'q'", `String:'it\'s'`}},
		{"adjacent quotes are two literals", "'it''s'", []string{"String:'it'", "String:'s'"}},
		{"comments", "a -- line ; 'x'\nb # hash\nc /* block\n ; */ d",
			[]string{"Ident:a", "Comment:-- line ; 'x'", "Ident:b", "Comment:# hash", "Ident:c", "Comment:/* block\n ; */", "Ident:d"}},
		{"params and system variables", "@submission_date @@project_id @x1",
			[]string{"Param:@submission_date", "SysVar:@@project_id", "Param:@x1"}},
		{"numbers", "1 1.5 .5 1. 1e10 1.5E-3 2e+4 0x1F 1.e5",
			[]string{"Number:1", "Number:1.5", "Number:.5", "Number:1.", "Number:1e10", "Number:1.5E-3", "Number:2e+4", "Number:0x1F", "Number:1.e5"}},
		{"operators", "a<=b>=c<>d!=e||f<<g>>h=>i->j<=>k",
			[]string{"Ident:a", "Punct:<=", "Ident:b", "Punct:>=", "Ident:c", "Punct:<>", "Ident:d", "Punct:!=", "Ident:e",
				"Punct:||", "Ident:f", "Punct:<<", "Ident:g", "Punct:>>", "Ident:h", "Punct:=>", "Ident:i", "Punct:->", "Ident:j", "Punct:<=>", "Ident:k"}},
		{"dashed project id stays in parts", "moz-fx-data-123.d.t",
			[]string{"Ident:moz", "Punct:-", "Ident:fx", "Punct:-", "Ident:data", "Punct:-", "Number:123", "Punct:.", "Ident:d", "Punct:.", "Ident:t"}},
		{"digit-led words", "my-proj-2b.d.2024_t",
			[]string{"Ident:my", "Punct:-", "Ident:proj", "Punct:-", "Ident:2b", "Punct:.", "Ident:d", "Punct:.", "Ident:2024_t"}},
		{"member access is not a decimal point", "a.b arr[OFFSET(0)].x f(x).y",
			[]string{"Ident:a", "Punct:.", "Ident:b", "Ident:arr", "Punct:[", "Ident:OFFSET", "Punct:(", "Number:0", "Punct:)", "Punct:]",
				"Punct:.", "Ident:x", "Ident:f", "Punct:(", "Ident:x", "Punct:)", "Punct:.", "Ident:y"}},
		{"jinja tags", "{% if is_init() %}a{%- else -%}{{ ds }}{# c #}{% endif %}",
			[]string{"JinjaStatement:{% if is_init() %}", "Ident:a", "JinjaStatement:{%- else -%}", "JinjaExpression:{{ ds }}",
				"JinjaComment:{# c #}", "JinjaStatement:{% endif %}"}},
		{"jinja string containing the closer", `{% set x = "%}" %}b`,
			[]string{`JinjaStatement:{% set x = "%}" %}`, "Ident:b"}},
		{"jinja inside SQL strings and comments is SQL", "'{{ x }}' -- {% if %}\n`{#`",
			[]string{"String:'{{ x }}'", "Comment:-- {% if %}", "QuotedIdent:`{#`"}},
		{"hash after brace is jinja, plain hash is a comment", "{#x#} #y", []string{"JinjaComment:{#x#}", "Comment:#y"}},
		{"empty input", "  \n\t ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toks, err := Tokenize(tt.src)
			if err != nil {
				t.Fatalf("Tokenize(%q): %v", tt.src, err)
			}
			if got := kindsAndTexts(toks); !reflect.DeepEqual(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("Tokenize(%q)\n got %q\nwant %q", tt.src, got, tt.want)
			}
			for _, tk := range toks {
				if tt.src[tk.Pos:tk.End] != tk.Text {
					t.Errorf("token %v: src[%d:%d] = %q, want its Text", tk, tk.Pos, tk.End, tt.src[tk.Pos:tk.End])
				}
			}
		})
	}
}

func TestTokenPositions(t *testing.T) {
	src := "SELECT\n  `a\\`b`, /* x\ny */ z\n\t'''p\nq''' w"
	toks, err := Tokenize(src)
	if err != nil {
		t.Fatal(err)
	}
	type lc struct {
		Text      string
		Line, Col int
	}
	var got []lc
	for _, tk := range toks {
		got = append(got, lc{tk.Text, tk.Line, tk.Col})
	}
	want := []lc{{"SELECT", 1, 1}, {"`a\\`b`", 2, 3}, {",", 2, 9}, {"/* x\ny */", 2, 11}, {"z", 3, 6},
		{"'''p\nq'''", 4, 2}, {"w", 5, 6}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("positions\n got %+v\nwant %+v", got, want)
	}
}

func TestTokenValue(t *testing.T) {
	tests := []struct{ src, want string }{
		{"`moz-fx.d.t`", "moz-fx.d.t"},
		{"`a\\`b`", "a`b"},
		{`'it\'s\n'`, "it's\n"},
		{`"tab\there"`, "tab\there"},
		{`'\x41\u00e9\U0001F600\101'`, "Aé😀A"},
		{`r'\d+\''`, `\d+\'`},
		{`'''multi'line'''`, "multi'line"},
		{`b'\x00\xff'`, "\x00\xff"},
		{`''`, ""},
		{`""""""`, ""},
		{"@submission_date", "submission_date"},
		{"@@project_id", "project_id"},
		{"{%- if is_init() -%}", "if is_init()"},
		{"{{ ds }}", "ds"},
		{"{#+ note +#}", "note"},
		{"SELECT", "SELECT"},
		{"-- c", "-- c"},
	}
	for _, tt := range tests {
		toks, err := Tokenize(tt.src)
		if err != nil {
			t.Errorf("Tokenize(%q): %v", tt.src, err)
			continue
		}
		if len(toks) != 1 {
			t.Errorf("Tokenize(%q) = %v, want one token", tt.src, toks)
			continue
		}
		if got := toks[0].Value(); got != tt.want {
			t.Errorf("Value(%q) = %q, want %q", tt.src, got, tt.want)
		}
	}
}

func TestTokenizeErrors(t *testing.T) {
	tests := []struct {
		src, msg  string
		line, col int
	}{
		{"SELECT 'open", "unterminated string literal", 1, 8},
		{"SELECT\n `open", "unterminated quoted identifier", 2, 2},
		{"a /* open", "unterminated /* comment", 1, 3},
		{"SELECT 'a\nb'", "newline in a string literal", 1, 8},
		{"SELECT @ x", `"@" must be followed by a name`, 1, 8},
		{`SELECT '\q'`, `invalid escape sequence "\\q"`, 1, 9},
		{`SELECT '\x4'`, "invalid escape sequence", 1, 9},
		{"SELECT $1", "unexpected character '$'", 1, 8},
		{"SELECT ``", "empty quoted identifier", 1, 8},
		{"x {% if a", "unterminated Jinja {%", 1, 3},
		{"SELECT 1.5x", "malformed number", 1, 8},
		{"SELECT é", "unexpected character 'é'", 1, 8},
	}
	for _, tt := range tests {
		_, err := Tokenize(tt.src)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Tokenize(%q) error = %v, want a *SyntaxError", tt.src, err)
			continue
		}
		if !strings.Contains(se.Msg, tt.msg) || se.Line != tt.line || se.Col != tt.col {
			t.Errorf("Tokenize(%q) error = %q at %d:%d, want %q at %d:%d", tt.src, se.Msg, se.Line, se.Col, tt.msg, tt.line, tt.col)
		}
	}
}

func TestKindHelpers(t *testing.T) {
	toks, err := Tokenize("from ( {{x}}")
	if err != nil {
		t.Fatal(err)
	}
	if !toks[0].IsKeyword("FROM") || toks[0].IsKeyword("FRO") || !toks[1].IsPunct("(") || toks[1].IsPunct(")") {
		t.Errorf("IsKeyword/IsPunct misclassify %v", toks)
	}
	if !toks[2].Kind.IsJinja() || toks[0].Kind.IsJinja() {
		t.Errorf("IsJinja misclassifies %v", toks)
	}
	if got := Kind(99).String(); got != "Kind(99)" {
		t.Errorf("Kind(99).String() = %q", got)
	}
	if got := toks[0].String(); got != "Ident(from)@1:1" {
		t.Errorf("Token.String() = %q", got)
	}
}
