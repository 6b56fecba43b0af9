package querytext

import (
	"fmt"
	"regexp"
	"strings"
)

// isInitRE is bigquery-etl's test for a Jinja if-block that calls is_init().
var isInitRE = regexp.MustCompile(`\{%-?\s*if\s+[^%]*\bis_init\(\)`)

// HasIsInitBlock reports whether sql has a Jinja if-block that calls
// is_init(), using bigquery-etl's own pattern
// `{%-?\s*if\s+[^%]*\bis_init\(\)`. Like the reference it is a plain text
// match: a block inside a SQL comment counts too (Jinja would render it).
func HasIsInitBlock(sql string) bool { return isInitRE.MatchString(sql) }

// RenderError reports a template Render cannot render: a construct outside
// the supported subset, or a malformed block structure.
type RenderError struct {
	Line      int    // 1-based line of the offending tag
	Construct string // the tag as written, e.g. "{{ ds }}" or "{% for x in y %}"
	Msg       string
}

func (e *RenderError) Error() string {
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Construct, e.Msg)
}

// Render renders the Jinja subset bigquery-etl queries use around
// initialization, with is_init() returning isInit:
//
//   - {% if C %} … {% elif C %} … {% else %} … {% endif %}, nested, where
//     each condition C is is_init() under any number of `not`s and
//     parentheses (`not is_init()`, `(is_init())`);
//   - {# comments #}, which render to nothing;
//   - whitespace control: {%- and {#- remove all whitespace (newlines
//     included) before the tag, -%} and -#} all whitespace after it, even
//     around branches that are not taken, exactly as Jinja does; a '+'
//     (which only matters with lstrip_blocks/trim_blocks) is accepted.
//
// Text outside tags is copied byte for byte, including the trailing newline
// (which Jinja drops by default; it means nothing to SQL). Every other
// construct — {{ expressions }}, {% for %}, {% set %}, {% include %},
// {% macro %}, {% raw %}, an if on any other condition, … — is an error
// naming the construct and its line, so unsupported templates are refused
// instead of reaching BigQuery half-rendered.
//
// Like Jinja, Render ignores SQL syntax: a tag inside a SQL string or
// comment is still a tag.
func Render(sql string, isInit bool) (string, error) {
	items, err := scanTemplate(sql)
	if err != nil {
		return "", err
	}
	applyWhitespaceControl(items)
	var out strings.Builder
	// Each frame is one open if-block: whether its enclosing context emits,
	// whether one of its branches has already been taken, whether the
	// current branch emits, and whether {% else %} has been seen.
	type frame struct {
		parentOn, taken, on, sawElse bool
		open                         item
	}
	var stack []frame
	on := true
	for _, it := range items {
		if it.kind == itemText {
			if on {
				out.WriteString(it.text)
			}
			continue
		}
		if it.kind == itemComment {
			continue
		}
		switch it.keyword {
		case "if":
			v, err := evalCondition(it, isInit)
			if err != nil {
				return "", err
			}
			stack = append(stack, frame{parentOn: on, taken: v, on: v, open: it})
			on = on && v
		case "elif", "else":
			if len(stack) == 0 {
				return "", it.errorf("%s without a matching {%% if %%}", it.keyword)
			}
			f := &stack[len(stack)-1]
			if f.sawElse {
				return "", it.errorf("%s after {%% else %%} (the if-block opened at line %d)", it.keyword, f.open.line)
			}
			v := true
			if it.keyword == "elif" {
				if v, err = evalCondition(it, isInit); err != nil {
					return "", err
				}
			} else {
				if it.args != "" {
					return "", it.errorf("else takes no condition")
				}
				f.sawElse = true
			}
			f.on = !f.taken && v
			f.taken = f.taken || v
			on = f.parentOn && f.on
		case "endif":
			if len(stack) == 0 {
				return "", it.errorf("endif without a matching {%% if %%}")
			}
			if it.args != "" {
				return "", it.errorf("endif takes no arguments")
			}
			on = stack[len(stack)-1].parentOn
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		f := stack[len(stack)-1]
		return "", f.open.errorf("if-block is never closed (missing {%% endif %%})")
	}
	return out.String(), nil
}

type itemKind int

const (
	itemText itemKind = iota
	itemStatement
	itemComment
)

// item is a piece of a template: literal text, a {% statement %} or a
// {# comment #}.
type item struct {
	kind      itemKind
	text      string // text, or the whole tag as written
	line      int
	keyword   string // statement: its first word (if, elif, else, endif, for, …)
	args      string // statement: what follows the keyword, trimmed
	trimLeft  bool   // tag opens with {%- / {#-
	trimRight bool   // tag closes with -%} / -#}
}

func (it item) errorf(format string, args ...any) error {
	return &RenderError{Line: it.line, Construct: it.text, Msg: fmt.Sprintf(format, args...)}
}

// scanTemplate splits a template into text and tags the way Jinja's lexer
// does: at the Jinja level, blind to SQL. A {{ expression }} is an error.
func scanTemplate(src string) ([]item, error) {
	var items []item
	i, textStart := 0, 0
	for {
		j := strings.IndexByte(src[i:], '{')
		if j < 0 {
			break
		}
		j += i
		if j+1 >= len(src) || strings.IndexByte("%{#", src[j+1]) < 0 {
			i = j + 1
			continue
		}
		line, _ := position(src, j)
		kind, end, err := scanJinjaTag(src, j)
		if err != nil {
			return nil, &RenderError{Line: line, Construct: firstLine(src[j:]), Msg: err.Error()}
		}
		tag := src[j:end]
		if j > textStart {
			items = append(items, item{kind: itemText, text: src[textStart:j]})
		}
		inner := tag[2 : len(tag)-2]
		it := item{text: tag, line: line}
		it.trimLeft = strings.HasPrefix(inner, "-")
		it.trimRight = strings.HasSuffix(inner, "-")
		if len(inner) >= 2 {
			inner = strings.TrimSuffix(strings.TrimSuffix(inner, "-"), "+")
		}
		inner = strings.TrimPrefix(strings.TrimPrefix(inner, "-"), "+")
		switch kind {
		case JinjaExpression:
			return nil, it.errorf("unsupported Jinja expression: only {%% if is_init() %%} blocks and {# comments #} can be rendered")
		case JinjaComment:
			it.kind = itemComment
		default:
			it.kind = itemStatement
			body := strings.TrimSpace(inner)
			kw := body
			if k := strings.IndexFunc(body, func(r rune) bool { return !isWordRune(r) }); k >= 0 {
				kw = body[:k]
			}
			if kw == "" {
				return nil, it.errorf("empty or malformed Jinja statement")
			}
			it.keyword, it.args = kw, strings.TrimSpace(body[len(kw):])
			switch kw {
			case "if", "elif", "else", "endif":
			default:
				return nil, it.errorf("unsupported Jinja statement %q: only if/elif/else/endif on is_init() can be rendered", kw)
			}
		}
		items = append(items, it)
		i, textStart = end, end
	}
	if textStart < len(src) {
		items = append(items, item{kind: itemText, text: src[textStart:]})
	}
	return items, nil
}

func isWordRune(r rune) bool {
	return r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return s
}

// applyWhitespaceControl strips the whitespace that - marks remove, as
// Jinja's lexer does before any evaluation.
func applyWhitespaceControl(items []item) {
	for k := range items {
		if items[k].kind == itemText {
			continue
		}
		if items[k].trimLeft && k > 0 && items[k-1].kind == itemText {
			items[k-1].text = strings.TrimRight(items[k-1].text, " \t\r\n\f\v")
		}
		if items[k].trimRight && k+1 < len(items) && items[k+1].kind == itemText {
			items[k+1].text = strings.TrimLeft(items[k+1].text, " \t\r\n\f\v")
		}
	}
}

// evalCondition evaluates an if/elif condition: is_init() under any number
// of `not`s and parentheses.
func evalCondition(it item, isInit bool) (bool, error) {
	toks, ok := conditionTokens(it.args)
	if !ok || len(toks) == 0 {
		return false, it.errorf("unsupported condition %q: only is_init() and not is_init() can be rendered", it.args)
	}
	p := condParser{toks: toks, isInit: isInit}
	v, ok := p.expr()
	if !ok || p.i != len(toks) {
		return false, it.errorf("unsupported condition %q: only is_init() and not is_init() can be rendered", it.args)
	}
	return v, nil
}

// conditionTokens splits a condition into words and parentheses.
func conditionTokens(s string) ([]string, bool) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			toks = append(toks, string(c))
			i++
		case isWordRune(rune(c)):
			j := i
			for j < len(s) && isWordRune(rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			return nil, false
		}
	}
	return toks, true
}

type condParser struct {
	toks   []string
	i      int
	isInit bool
}

func (p *condParser) take(s string) bool {
	if p.i < len(p.toks) && p.toks[p.i] == s {
		p.i++
		return true
	}
	return false
}

// expr := "not" expr | "(" expr ")" | "is_init" "(" ")"
func (p *condParser) expr() (v, ok bool) {
	switch {
	case p.take("not"):
		v, ok = p.expr()
		return !v, ok
	case p.take("("):
		v, ok = p.expr()
		return v, ok && p.take(")")
	case p.take("is_init"):
		return p.isInit, p.take("(") && p.take(")")
	}
	return false, false
}
