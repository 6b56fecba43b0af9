package gcsfake

import "testing"

// TestGlobMatch: the documented matchGlob semantics — "*" within one path
// segment, "**" across segments, "\" escapes — on the whole name.
func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		glob, name string
		want       bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/bc", false}, // the whole name, not a prefix
		{"a/b", "xa/b", false},
		{"a/*", "a/b", true},
		{"a/*", "a/", true}, // zero characters
		{"a/*", "a/b/c", false},
		{"a/*/c", "a/b/c", true},
		{"a/*/c", "a/b/d/c", false},
		{"*.txt", "log.txt", true},
		{"*.txt", "dir/log.txt", false},
		{"a*b", "a/b", false},
		{"a/**", "a/b/c/d", true},
		{"a/**", "a/", true},
		{"**.txt", "x/y/z.txt", true},
		{"**.txt", "x/y/z.csv", false},
		{"a/**/c", "a/b/d/c", true},
		{"a/**/c", "a/b/d/e", false},
		{"**/backfill.json", "t/2026-01-01/backfill.json", true},
		{"backfills/*/*/backfill.json", "backfills/p.d.t/2026-11-01/backfill.json", true},
		{"backfills/*/*/backfill.json", "backfills/p.d.t/2026-11-01/partitions/backfill.json", false},
		{"backfills/*/*/backfill.json", "backfills/p.d.t/2026-11-01/partitions/20261101.json", false},
		{`a\*b`, "a*b", true},
		{`a\*b`, "axb", false},
		{`a\?`, "a?", true},
		{`\\`, `\`, true},
		{"é/*", "é/ü", true},
		{"a.b", "axb", false}, // no regexp meaning leaks through
	} {
		g, err := CompileGlob(c.glob)
		if err != nil {
			t.Errorf("CompileGlob(%q): %v", c.glob, err)
			continue
		}
		if got := g.Match(c.name); got != c.want {
			t.Errorf("%q matches %q = %v, want %v", c.glob, c.name, got, c.want)
		}
	}
}

// TestGlobRejects: syntax the fake does not model, and a dangling escape,
// are errors (Cloud Storage answers 400 to an invalid glob), never a
// silent literal match.
func TestGlobRejects(t *testing.T) {
	for _, glob := range []string{"a?c", "f.[jt]xt", "f.[!a-c]", "*.{jpg,png}", "a}", "a]", "***", `a\`} {
		if g, err := CompileGlob(glob); err == nil {
			t.Errorf("CompileGlob(%q) = %v, want an error", glob, g)
		}
	}
}
