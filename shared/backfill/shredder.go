package backfill

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/metadata"
	"github.com/bqbackfill/bqbackfill/shared/querytext"
	"github.com/bqbackfill/bqbackfill/shared/shredder"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func init() {
	for id, text := range shredder.Rules {
		Rules[id] = text
	}
}

// usesShredder reports whether an entry runs with shredder mitigation: it
// asks for it and the table has the label (V5 reports a mismatch).
func usesShredder(e *Entry, md *metadata.Metadata) bool {
	return e.ShredderMitigation && md != nil && md.ShredderMitigation()
}

// shredderRules are S1–S7 for an Initiate entry with shredder mitigation:
// every precondition of the generated query, found from the files alone.
// An entry whose query cannot be planned at all is left to the rules that
// report that (C1, R9, …).
func shredderRules(t *Table, e *Entry, file string) []Error {
	if !usesShredder(e, t.Metadata) {
		return nil
	}
	q, err := planQuery(t, e, nil)
	if err != nil {
		return nil
	}
	if _, serr := PlanShredder(t, e, q); serr != nil {
		if serr.File == "" {
			serr.File, serr.Line = file, e.FieldLine(serr.Field)
		}
		return []Error{*serr}
	}
	return nil
}

// PlanShredder plans the shredder mitigation of entry e of table t whose
// partitions run query q (reference §5.8 and shredder-mitigation.md §2):
// the previous version _v<N-1> in the same dataset, both queries' GROUP BY
// and both schema.yaml. It returns a rule error (S1–S7) for the first
// precondition that fails. The previous version is read where production
// has it, under a target too: like the query's other sources it is only
// read, and a target deploys the table being backfilled, not its
// predecessor.
func PlanShredder(t *Table, e *Entry, q Query) (*shredder.Mitigation, *Error) {
	fail := func(rule, file, format string, args ...any) *Error {
		f := ""
		if file == "" {
			f = "shredder_mitigation"
		}
		return &Error{Rule: rule, File: file, EntryDate: e.Key(), Field: f, Message: fmt.Sprintf(format, args...)}
	}
	md := t.Metadata
	prevName, serr := shredder.PreviousVersion(t.Ref.Table)
	if serr != nil {
		return nil, fail(serr.Rule, "", "%s", serr.Message)
	}
	if q.Kind != QuerySQL {
		return nil, fail("S2", "", "shredder mitigation needs a SQL query: %s is a Python script, whose GROUP BY cannot be read", t.DisplayPath(q.Path))
	}
	ptype, _ := md.PartitionType()
	param, hasParam := md.Scheduling.DateParameter.Effective()
	field := ""
	if tp := md.BigQuery.TimePartitioning; tp != nil {
		field = tp.Field
	}
	switch {
	case ptype != warehouse.Day && ptype != warehouse.Month || field == "":
		return nil, fail("S7", t.Path(metadata.FileName), "shredder mitigation compares partitions: %s must be day or month partitioned on a column (bigquery.time_partitioning.field)", t.Ref)
	case !hasParam:
		return nil, fail("S7", t.Path(metadata.FileName), "shredder mitigation runs per partition: %s has a null date_partition_parameter, so its query computes the whole table", t.Ref)
	case e.Reinitialize():
		return nil, fail("S7", "", "shredder mitigation runs per partition: it cannot be combined with reinitialize_table")
	}

	prevDir := path.Join(t.Ref.Project, t.Ref.Dataset, prevName)
	prev := &Table{Ref: warehouse.TableRef{Project: t.Ref.Project, Dataset: t.Ref.Dataset, Table: prevName}, FS: t.FS, Dir: prevDir, DisplayRoot: t.DisplayRoot}
	newQuery, err := renderFile(t, q.Path)
	if err != nil {
		return nil, fail("S2", "", "%v", err)
	}
	prevQuery, err := renderFile(t, path.Join(prevDir, QuerySQLFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fail("S2", "", "the previous version %s has no %s: shredder mitigation reads its GROUP BY (a previous version computed by a Python script, or missing from the tree, cannot be mitigated)", prev.Ref, prev.Path(QuerySQLFile))
		}
		return nil, fail("S2", "", "%v", err)
	}
	newSchema, err := topFields(t)
	if err != nil {
		return nil, fail("S2", t.Path(metadata.SchemaFileName), "%s is not a valid YAML schema file: %v", t.Path(metadata.SchemaFileName), err)
	}
	prevSchema, err := topFields(prev)
	if err != nil {
		return nil, fail("S2", "", "%s is not a valid YAML schema file: %v", prev.Path(metadata.SchemaFileName), err)
	}
	prevMDBytes, err := prev.ReadFile(metadata.FileName)
	if err != nil {
		return nil, fail("S2", "", "the previous version's metadata.yaml cannot be read (it tells its partitioning): %v", err)
	}
	prevMD, err := metadata.Parse(prevMDBytes, prev.Path(metadata.FileName))
	if err != nil {
		return nil, fail("S2", "", "%v", err)
	}
	if tp := prevMD.BigQuery.TimePartitioning; tp == nil || !strings.EqualFold(tp.Field, field) {
		got := "no time partitioning"
		if tp != nil {
			got = "partitioning on " + tp.Field
		}
		return nil, fail("S7", "", "the previous version %s has %s in %s; both versions must be partitioned on %s", prev.Ref, got, prev.Path(metadata.FileName), field)
	}
	m, serr := shredder.Plan(shredder.Input{
		Previous: prev.Ref, NewQuery: newQuery, PreviousQuery: prevQuery,
		NewQueryFile: t.DisplayPath(q.Path), PreviousQueryFile: prev.Path(QuerySQLFile),
		NewSchema: newSchema, PreviousSchema: prevSchema,
		NewSchemaFile: t.Path(metadata.SchemaFileName), PreviousSchemaFile: prev.Path(metadata.SchemaFileName),
		PartitionField: field, PartitionType: ptype, Param: param,
	})
	if serr != nil {
		return nil, fail(serr.Rule, serr.File, "%s", serr.Message)
	}
	return m, nil
}

// renderFile reads a tree-relative query file and renders its Jinja (the
// steady-state branch, as the backfill runs it).
func renderFile(t *Table, p string) (string, error) {
	b, err := readTree(t, p)
	if err != nil {
		return "", err
	}
	sql, err := querytext.Render(string(b), false)
	if err != nil {
		return "", fmt.Errorf("render %s: %w", t.DisplayPath(p), err)
	}
	return sql, nil
}

// topFields reads a table's schema.yaml and returns its top-level fields,
// expanding !include-field(s) from the tree.
func topFields(t *Table) ([]metadata.Field, error) {
	s, err := t.Schema()
	if err != nil {
		return nil, err
	}
	if len(s.Unresolved()) > 0 {
		if s, err = s.Resolve(treeSchemaLoader(t.FS)); err != nil {
			return nil, err
		}
	}
	return s.Fields, nil
}

// treeSchemaLoader reads include sources from the tree: a table's
// schema.yaml, or a file relative to the repository root (whose sql/
// directory is the tree).
func treeSchemaLoader(fsys fs.FS) metadata.Loader {
	return func(src metadata.Source) (*metadata.Schema, error) {
		p := strings.TrimPrefix(path.Clean(src.File), "sql/")
		if src.Table != "" {
			ref, err := warehouse.ParseTableRef(src.Table)
			if err != nil {
				return nil, err
			}
			p = path.Join(ref.Project, ref.Dataset, ref.Table, metadata.SchemaFileName)
		}
		if fsys == nil {
			return nil, fs.ErrNotExist
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		return metadata.ParseSchema(b, p)
	}
}
