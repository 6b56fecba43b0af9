package backfill

import (
	"errors"
	"io/fs"
	"path"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/checks"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// ChecksFileName is the table's data checks, run against staging after
// every partition (shared/checks).
const ChecksFileName = "checks.sql"

func init() {
	Rules["D1"] = "checks.sql does not render (Jinja syntax error, unknown macro, bad macro arguments)"
}

// checksRule is D1 for an Initiate entry: the table's checks.sql must
// render, so that a broken file is caught by validate in CI rather than
// failing every partition at run time. It renders against a placeholder
// staging table with the entry's start date as the partition parameter.
func checksRule(t *Table, e *Entry) []Error {
	if t.FS == nil {
		return nil
	}
	src, err := fs.ReadFile(t.FS, path.Join(t.Dir, ChecksFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	mk := func(msg string) []Error {
		return []Error{{Rule: "D1", File: t.Path(ChecksFileName), EntryDate: e.Key(), Message: msg}}
	}
	if err != nil {
		return mk("cannot read checks.sql: " + err.Error())
	}
	var params []warehouse.Param
	if t.Metadata != nil {
		if name, ok := t.Metadata.Scheduling.DateParameter.Effective(); ok {
			params = append(params, warehouse.Param{Name: name, Type: "DATE", Value: e.StartDate.String()})
		}
	}
	staging := warehouse.TableRef{Project: t.Ref.Project, Dataset: "backfills_staging_derived", Table: t.Ref.Dataset + "__" + t.Ref.Table}
	if _, err := checks.Prepare(string(src), checks.Options{Table: t.Ref, Target: staging, Params: params}); err != nil {
		return mk(err.Error() + "; the macros are " + strings.Join(checks.MacroNames(), ", "))
	}
	return nil
}
