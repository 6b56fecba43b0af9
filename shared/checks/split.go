package checks

import (
	"fmt"
	"regexp"
	"strings"
)

// Marker selects which checks run: #fail checks block promotion, #warn
// checks are reported.
type Marker string

const (
	Fail Marker = "fail"
	Warn Marker = "warn"
)

// Check is one statement of a rendered checks file that carries a marker.
type Check struct {
	// N is the statement's 1-based position among the file's statements.
	N    int    `json:"n"`
	Fail bool   `json:"fail,omitempty"`
	Warn bool   `json:"warn,omitempty"`
	SQL  string `json:"sql"`
}

// Name identifies the check in messages: "check 3 (#fail)".
func (c Check) Name() string {
	var m []string
	if c.Fail {
		m = append(m, "#fail")
	}
	if c.Warn {
		m = append(m, "#warn")
	}
	return fmt.Sprintf("check %d (%s)", c.N, strings.Join(m, ", "))
}

var (
	failRE = regexp.MustCompile(`(?i)#fail`)
	warnRE = regexp.MustCompile(`(?i)#warn`)
)

// Split cuts rendered SQL into the checks that run, as bqetl does
// (spec/data-checks.md §3): statements end at ";" outside quotes and
// comments (--, /* */, and # followed by whitespace, as sqlparse reads
// them); a statement runs under a marker when it contains "#fail" / "#warn"
// case-insensitively anywhere, in a comment or a string included, also as a
// prefix (#failure). A statement carrying both markers runs once, under
// both. Unmarked statements never run.
func Split(sql string) []Check {
	var out []Check
	for i, st := range statements(sql) {
		c := Check{N: i + 1, Fail: failRE.MatchString(st), Warn: warnRE.MatchString(st), SQL: st}
		if c.Fail || c.Warn {
			out = append(out, c)
		}
	}
	return out
}

// statements splits at top-level semicolons, dropping empty pieces. The
// semicolon stays with its statement, as sqlparse keeps it.
func statements(sql string) []string {
	var out []string
	start := 0
	emit := func(end int) {
		if s := strings.TrimSpace(sql[start:end]); s != "" && s != ";" {
			out = append(out, s)
		}
		start = end
	}
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == ';':
			i++
			emit(i)
		case c == '-' && strings.HasPrefix(sql[i:], "--"), c == '#':
			i = lineEnd(sql, i)
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			if j := strings.Index(sql[i+2:], "*/"); j >= 0 {
				i += j + 4
			} else {
				i = len(sql)
			}
		case c == '\'' || c == '"' || c == '`':
			i = quoteEnd(sql, i)
		default:
			i++
		}
	}
	emit(len(sql))
	return out
}

func lineEnd(s string, i int) int {
	if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
		return i + j + 1
	}
	return len(s)
}

// quoteEnd returns the index after the quoted text starting at i: '…', "…",
// `…`, or a triple-quoted string; backslash escapes the next byte. An
// unclosed quote runs to the end, as in sqlparse.
func quoteEnd(s string, i int) int {
	q := s[i : i+1]
	if q != "`" && strings.HasPrefix(s[i:], q+q+q) {
		if j := strings.Index(s[i+3:], q+q+q); j >= 0 {
			return i + 3 + j + 3
		}
		return len(s)
	}
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case s[i]:
			return j + 1
		}
	}
	return len(s)
}
