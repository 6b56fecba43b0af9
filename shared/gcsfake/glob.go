// Package gcsfake adds to fake-gcs-server (github.com/fsouza/fake-gcs-server,
// v1.56.1, the in-process Cloud Storage of the tests, the local stack and the
// deployment twin) what real Cloud Storage does and the fake does not: object
// listings filtered by matchGlob. The fake ignores the parameter and lists
// every object under the prefix, so a client asking for a glob would get
// more than real Cloud Storage returns; MatchGlob wraps the fake's transport
// and applies the glob to the listing's response.
package gcsfake

import (
	"fmt"
	"regexp"
	"strings"
)

// Glob is a compiled matchGlob pattern, with the syntax Cloud Storage
// documents for objects.list?matchGlob: "*" matches zero or more
// characters other than "/" (within one path segment), "**" matches zero or
// more characters including "/" (across segments), and every other
// character matches itself. "\" making the next character literal is an
// assumption (the documentation at hand does not show it; the ledger uses
// no escapes). The rest of the documented syntax ("?", "[...]" classes,
// "{a,b}" alternatives) is not modelled: CompileGlob rejects a pattern that
// uses it rather than matching it differently from the real service.
type Glob struct {
	pattern string
	re      *regexp.Regexp
}

// CompileGlob parses pattern. Its errors are what Cloud Storage answers
// with 400 for: a dangling escape, or syntax this fake does not model.
func CompileGlob(pattern string) (*Glob, error) {
	var re strings.Builder
	re.WriteString(`(?s)\A`)
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '\\':
			if i+1 == len(pattern) {
				return nil, fmt.Errorf("invalid matchGlob %q: it ends in an escape character", pattern)
			}
			i++
			re.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		case '*':
			n := 1
			for i+n < len(pattern) && pattern[i+n] == '*' {
				n++
			}
			switch n {
			case 1:
				re.WriteString(`[^/]*`)
			case 2:
				re.WriteString(`.*`)
			default:
				return nil, fmt.Errorf("invalid matchGlob %q: a run of %d stars (only * and ** are wildcards)", pattern, n)
			}
			i += n - 1
		case '?', '[', ']', '{', '}':
			return nil, fmt.Errorf("invalid matchGlob %q: %q at offset %d is glob syntax the fake Cloud Storage does not model (only *, ** and \\ are); escape it to match it literally", pattern, c, i)
		default:
			re.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		}
	}
	re.WriteString(`\z`)
	compiled, err := regexp.Compile(re.String())
	if err != nil {
		return nil, fmt.Errorf("invalid matchGlob %q: %w", pattern, err)
	}
	return &Glob{pattern: pattern, re: compiled}, nil
}

// Match reports whether the object name matches the whole pattern.
func (g *Glob) Match(name string) bool { return g.re.MatchString(name) }

// String is the pattern as given.
func (g *Glob) String() string { return g.pattern }
