package querytext

import (
	"errors"
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name            string
		src             string
		wantInit, wantN string // rendered with is_init() true / false
	}{
		{"plain text is untouched", "SELECT '{not jinja}' AS x, {a: 1}\n-- % } #\n",
			"SELECT '{not jinja}' AS x, {a: 1}\n-- % } #\n", "SELECT '{not jinja}' AS x, {a: 1}\n-- % } #\n"},
		{"if/else", "SELECT\n{% if is_init() %}\n  init\n{% else %}\n  daily\n{% endif %}\nFROM t",
			"SELECT\n\n  init\n\nFROM t", "SELECT\n\n  daily\n\nFROM t"},
		{"if without else", "a {% if is_init() %}b {% endif %}c", "a b c", "a c"},
		{"not is_init()", "a {% if not is_init() %}b{% endif %} c", "a  c", "a b c"},
		{"double negation and parentheses", "{% if not (not is_init()) %}i{% else %}n{% endif %}|{%if(is_init( ))%}p{%endif%}",
			"i|p", "n|"},
		{"elif", "{% if not is_init() %}daily{% elif is_init() %}init{% else %}never{% endif %}", "init", "daily"},
		{"elif after a taken branch is skipped", "{% if is_init() %}A{% elif is_init() %}B{% elif not is_init() %}C{% endif %}", "A", "C"},
		{"nested", "{% if is_init() %}I{% if not is_init() %}x{% else %}y{% endif %}{% else %}N{% if is_init() %}z{% endif %}{% endif %}",
			"Iy", "N"},
		{"whitespace control", "SELECT 1\n  {%- if is_init() -%}\n  , 2\n  {%- else -%}\n  , 3\n  {%- endif %}\nFROM t",
			"SELECT 1, 2\nFROM t", "SELECT 1, 3\nFROM t"},
		{"plus markers are accepted", "a {%+ if is_init() +%} b {%+ endif +%}", "a  b ", "a "},
		{"comments render to nothing", "a{# note {% if x %} #}b\n{#- trimmed -#}\nc", "abc", "abc"},
		{"comment in an untaken branch", "{% if is_init() %}{# c #}x{% endif %}y", "xy", "y"},
		{"tag inside a SQL string is still Jinja", "SELECT '{% if is_init() %}i{% else %}n{% endif %}'", "SELECT 'i'", "SELECT 'n'"},
		{"typical bigquery-etl query", `SELECT
  client_id,
  submission_date
FROM
  telemetry.main
WHERE
{% if is_init() %}
  submission_date >= '2020-01-01'
{% else %}
  submission_date = @submission_date
{% endif %}
`, "SELECT\n  client_id,\n  submission_date\nFROM\n  telemetry.main\nWHERE\n\n  submission_date >= '2020-01-01'\n\n",
			"SELECT\n  client_id,\n  submission_date\nFROM\n  telemetry.main\nWHERE\n\n  submission_date = @submission_date\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				init bool
				want string
			}{{true, tt.wantInit}, {false, tt.wantN}} {
				got, err := Render(tt.src, c.init)
				if err != nil {
					t.Fatalf("Render(isInit=%v): %v", c.init, err)
				}
				if got != c.want {
					t.Errorf("Render(isInit=%v)\n got %q\nwant %q", c.init, got, c.want)
				}
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		line      int
		construct string
		msg       string
	}{
		{"expression", "SELECT\n  {{ metrics.calculate() }}", 2, "{{ metrics.calculate() }}", "unsupported Jinja expression"},
		{"expression in an untaken branch", "{% if is_init() %}\n{{ x }}\n{% endif %}", 2, "{{ x }}", "unsupported Jinja expression"},
		{"for", "a\nb\n{% for x in xs %}{{x}}{% endfor %}", 3, "{% for x in xs %}", `unsupported Jinja statement "for"`},
		{"include", "{% include 'x.sql' %}", 1, "{% include 'x.sql' %}", `unsupported Jinja statement "include"`},
		{"set", "{%- set y = 1 -%}", 1, "{%- set y = 1 -%}", `unsupported Jinja statement "set"`},
		{"raw", "{% raw %}{% endraw %}", 1, "{% raw %}", `unsupported Jinja statement "raw"`},
		{"macro", "{% macro m() %}{% endmacro %}", 1, "{% macro m() %}", `unsupported Jinja statement "macro"`},
		{"other condition", "x\n{% if parallel %}a{% endif %}", 2, "{% if parallel %}", `unsupported condition "parallel"`},
		{"compound condition", "{% if is_init() and x %}a{% endif %}", 1, "{% if is_init() and x %}", "unsupported condition"},
		{"is_init without a call", "{% if is_init %}a{% endif %}", 1, "{% if is_init %}", "unsupported condition"},
		{"comparison", "{% if is_init() == true %}a{% endif %}", 1, "{% if is_init() == true %}", "unsupported condition"},
		{"elif on another condition", "{% if is_init() %}a\n{% elif y %}b{% endif %}", 2, "{% elif y %}", `unsupported condition "y"`},
		{"unclosed if", "a\n{% if is_init() %}b", 2, "{% if is_init() %}", "never closed"},
		{"stray endif", "a{% endif %}", 1, "{% endif %}", "endif without a matching"},
		{"stray else", "\n{% else %}", 2, "{% else %}", "else without a matching"},
		{"elif after else", "{% if is_init() %}a{% else %}b{% elif is_init() %}c{% endif %}", 1, "{% elif is_init() %}", "after {% else %}"},
		{"else with a condition", "{% if is_init() %}a{% else is_init() %}b{% endif %}", 1, "{% else is_init() %}", "else takes no condition"},
		{"empty statement", "{% %}", 1, "{% %}", "empty or malformed"},
		{"unterminated tag", "a\n{% if is_init()", 2, "{% if is_init()", "unterminated Jinja"},
		{"unterminated comment", "{# never", 1, "{# never", "unterminated Jinja"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(tt.src, false)
			var re *RenderError
			if !errors.As(err, &re) {
				t.Fatalf("Render(%q) error = %v, want a *RenderError", tt.src, err)
			}
			if re.Line != tt.line || re.Construct != tt.construct || !strings.Contains(re.Msg, tt.msg) {
				t.Errorf("Render(%q) = line %d construct %q msg %q; want line %d construct %q msg containing %q",
					tt.src, re.Line, re.Construct, re.Msg, tt.line, tt.construct, tt.msg)
			}
			if !strings.Contains(err.Error(), tt.construct) || !strings.Contains(err.Error(), "line ") {
				t.Errorf("error text %q does not name the construct and its line", err)
			}
		})
	}
}

func TestHasIsInitBlock(t *testing.T) {
	tests := []struct {
		src  string
		want bool
	}{
		{"{% if is_init() %}x{% endif %}", true},
		{"{%- if is_init() -%}x{% endif %}", true},
		{"{%if not is_init()%}x{% endif %}", true},
		{"{% if parallel and is_init() %}x{% endif %}", true},
		{"-- {% if is_init() %}", true}, // a text match, as in bigquery-etl
		{"{% if my_is_init() %}", false},
		{"{% elif is_init() %}", false},
		{"SELECT is_init()", false},
		{"{% if x %}{{ is_init() }}", false},
		{"SELECT 1", false},
	}
	for _, tt := range tests {
		if got := HasIsInitBlock(tt.src); got != tt.want {
			t.Errorf("HasIsInitBlock(%q) = %v, want %v", tt.src, got, tt.want)
		}
	}
}
