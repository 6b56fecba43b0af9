package backfill_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/sqltree"
)

// fixtureToday is "today" for every rule fixture.
var fixtureToday = civil.Date{Year: 2026, Month: 6, Day: 15}

// parseTxtar splits a txtar archive into its comment and files.
func parseTxtar(data string) (string, map[string]string) {
	files := map[string]string{}
	var comment strings.Builder
	name := ""
	var body strings.Builder
	flush := func() {
		if name != "" {
			files[name] = body.String()
		}
		body.Reset()
	}
	for _, line := range strings.SplitAfter(data, "\n") {
		trimmed := strings.TrimRight(line, "\n")
		if strings.HasPrefix(trimmed, "-- ") && strings.HasSuffix(trimmed, " --") && len(trimmed) > 6 {
			flush()
			name = strings.TrimSuffix(strings.TrimPrefix(trimmed, "-- "), " --")
			continue
		}
		if name == "" {
			comment.WriteString(line)
		} else {
			body.WriteString(line)
		}
	}
	flush()
	return comment.String(), files
}

// fixtureTree returns the pass or fail tree of a rule fixture.
func fixtureTree(t *testing.T, rule, kind string) fstest.MapFS {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "rules", rule+".txtar"))
	if err != nil {
		t.Fatal(err)
	}
	_, files := parseTxtar(string(data))
	fsys := fstest.MapFS{}
	for name, content := range files {
		if rest, ok := strings.CutPrefix(name, kind+"/"); ok {
			fsys[rest] = &fstest.MapFile{Data: []byte(content)}
		}
	}
	if len(fsys) == 0 {
		t.Fatalf("%s.txtar has no %s tree", rule, kind)
	}
	return fsys
}

// validateTree validates every table of a tree.
func validateTree(t *testing.T, fsys fstest.MapFS, opts backfill.Options) (errs, warns []backfill.Error) {
	t.Helper()
	tree := sqltree.New(fsys, "sql")
	tables, problems, err := tree.BackfillTables(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Directories that cannot be read as tables are errors too (T2, T5).
	errs = append(errs, problems...)
	if len(tables) == 0 {
		t.Fatal("no table with a backfill.yaml in the fixture")
	}
	for _, tb := range tables {
		r := backfill.Validate(tb, opts)
		errs = append(errs, r.Errors...)
		warns = append(warns, r.Warnings...)
	}
	return errs, warns
}

func hasRule(errs []backfill.Error, rule string) bool {
	for _, e := range errs {
		if e.Rule == rule {
			return true
		}
	}
	return false
}

// programmaticRules cannot be produced from a file (an earlier rule always
// fires first) or are not about a table's files; they have their own tests.
var programmaticRules = map[string]string{
	"P5": "TestLoadFileName",
	"V3": "TestUnreachableFromFiles",
	"V4": "TestUnreachableFromFiles",
	"T1": "cmd/bqbackfill TestValidateMissingTable",
	"T3": "shared/treefs TestRefused and shared/sqltree TestHostileTree (links, devices and FIFOs cannot be written in a txtar)",
	"T4": "shared/treefs TestRefused and shared/sqltree TestHostileTree (an 8 MiB fixture is not worth committing)",
	"R1": "TestSingleInitiate and shared/treescan TestDesiredSingleInitiate (the scanner's rule; Validate reports V6)",
	"R5": "TestCheckTargetScript (it depends on --target, not on the files)",
}

// TestRuleFixtures runs every rule's pass and fail fixture
// (testdata/rules/<RULE>.txtar): the pass tree is valid and the fail tree
// breaks exactly that rule (among possibly others).
func TestRuleFixtures(t *testing.T) {
	opts := backfill.Options{Today: fixtureToday, Settings: config.Default(), CheckPython: backfill.PythonSyntax()}
	for _, rule := range backfill.RuleIDs() {
		if _, ok := programmaticRules[rule]; ok {
			continue
		}
		t.Run(rule, func(t *testing.T) {
			if rule == "C2" && opts.CheckPython == nil {
				t.Skip("python3 is not installed: C2 cannot be checked")
			}
			warning := strings.HasPrefix(backfill.Rules[rule], "warning:")
			errs, warns := validateTree(t, fixtureTree(t, rule, "pass"), opts)
			if len(errs) > 0 || hasRule(warns, rule) {
				t.Errorf("pass tree: want no errors and no %s warning, got errors %v warnings %v", rule, errs, warns)
			}
			errs, warns = validateTree(t, fixtureTree(t, rule, "fail"), opts)
			got := errs
			if warning {
				got = warns
			}
			if !hasRule(got, rule) {
				t.Fatalf("fail tree: want rule %s, got errors %v warnings %v", rule, errs, warns)
			}
			for _, e := range got {
				if e.Rule != rule {
					continue
				}
				if e.File == "" || e.Message == "" {
					t.Errorf("%s error lacks a file or message: %+v", rule, e)
				}
				// t_v1, or t_v2 for the shredder mitigation rules (whose
				// errors may name the previous version's files); the tree
				// rules name the directory they could not read.
				if strings.HasPrefix(rule, "T") && strings.HasPrefix(e.File, "sql/moz-fx-data-shared-prod/test_derived/") {
					continue
				}
				if !strings.HasPrefix(e.File, "sql/moz-fx-data-shared-prod/test_derived/t_v1/") && !strings.HasPrefix(e.File, "sql/moz-fx-data-shared-prod/test_derived/t_v2/") {
					t.Errorf("%s error names file %q, want one in the table directory", rule, e.File)
				}
			}
		})
	}
}

// TestEveryRuleHasAFixture keeps the rule list and the fixtures in step.
func TestEveryRuleHasAFixture(t *testing.T) {
	for _, rule := range backfill.RuleIDs() {
		if test, ok := programmaticRules[rule]; ok {
			t.Logf("%s is covered by %s", rule, test)
			continue
		}
		if _, err := os.Stat(filepath.Join("testdata", "rules", rule+".txtar")); err != nil {
			t.Errorf("rule %s has no fixture testdata/rules/%s.txtar", rule, rule)
		}
	}
	matches, _ := filepath.Glob(filepath.Join("testdata", "rules", "*.txtar"))
	for _, m := range matches {
		rule := strings.TrimSuffix(filepath.Base(m), ".txtar")
		if _, ok := backfill.Rules[rule]; !ok {
			t.Errorf("fixture %s names no rule", m)
		}
	}
}
