package bqfake

import (
	"fmt"
	"strings"

	bq "google.golang.org/api/bigquery/v2"
)

// Schema semantics of jobs writing into existing tables, as documented for
// JobConfigurationQuery.writeDisposition and JobConfigurationTableCopy
// (google.golang.org/api bigquery/v2 bigquery-gen.go; ../shared/spec/
// gcp-limits.md §4):
//
//   - query, WRITE_TRUNCATE into a whole table: the data AND the schema are
//     replaced by the result's (descriptions, policy tags and REQUIRED modes
//     are lost) and table constraints are removed;
//   - query, WRITE_TRUNCATE_DATA: the data is replaced, the table's schema
//     and constraints are kept; the result must fit the schema, and a NULL
//     in a REQUIRED column fails the job;
//   - query into a partition (decorator), WRITE_APPEND or WRITE_EMPTY: the
//     schema is kept and the result must fit it exactly; a schema change
//     (a NULLABLE column into a REQUIRED one included) would need
//     schemaUpdateOptions, which this fake does not offer;
//   - copy, WRITE_TRUNCATE of a whole table: the destination takes the
//     source's schema and constraints; copy jobs do not offer
//     WRITE_TRUNCATE_DATA;
//   - copy into a partition, or appending: the source's schema must fit the
//     destination's.
//
// Fit is checked by column name (case-insensitive), recursively: no column
// the destination lacks, none of its columns missing, the same type
// (legacy and standard names are the same type) and the same repeatedness;
// NULLABLE may not go into REQUIRED unless relax is set (WRITE_TRUNCATE_DATA
// checks the values instead). Messages are BigQuery's.

// legacyTypes maps standard SQL type names to the names tables.get reports.
var legacyTypes = map[string]string{
	"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN", "STRUCT": "RECORD",
}

func fieldType(t string) string {
	u := strings.ToUpper(t)
	if l, ok := legacyTypes[u]; ok {
		return l
	}
	return u
}

func fieldMode(m string) string {
	if m == "" {
		return "NULLABLE"
	}
	return strings.ToUpper(m)
}

// tableName is "project:dataset.table", as BigQuery's messages name tables.
func tableName(r *bq.TableReference) string {
	base, _ := splitDecorator(r.TableId)
	return r.ProjectId + ":" + r.DatasetId + "." + base
}

// fitSchema checks that rows of schema got can be written into a table of
// schema want without a schema update.
func fitSchema(dest *bq.TableReference, got, want []*bq.TableFieldSchema, relax bool) *bq.ErrorProto {
	if msg := fitFields("", got, want, relax); msg != "" {
		return invalidJob("Provided Schema does not match Table %s. %s", tableName(dest), msg)
	}
	return nil
}

func fitFields(prefix string, got, want []*bq.TableFieldSchema, relax bool) string {
	byName := map[string]*bq.TableFieldSchema{}
	for _, f := range want {
		byName[strings.ToLower(f.Name)] = f
	}
	seen := map[string]bool{}
	for _, g := range got {
		name := prefix + g.Name
		w := byName[strings.ToLower(g.Name)]
		if w == nil {
			return fmt.Sprintf("Cannot add fields (field: %s)", name)
		}
		seen[strings.ToLower(g.Name)] = true
		if gt, wt := fieldType(g.Type), fieldType(w.Type); gt != wt {
			return fmt.Sprintf("Field %s has changed type from %s to %s", name, wt, gt)
		}
		gm, wm := fieldMode(g.Mode), fieldMode(w.Mode)
		if (gm == "REPEATED") != (wm == "REPEATED") || (wm == "REQUIRED" && gm == "NULLABLE" && !relax) {
			return fmt.Sprintf("Field %s has changed mode from %s to %s", name, wm, gm)
		}
		if fieldType(g.Type) == "RECORD" {
			if msg := fitFields(name+".", g.Fields, w.Fields, relax); msg != "" {
				return msg
			}
		}
	}
	for _, w := range want {
		if !seen[strings.ToLower(w.Name)] {
			return fmt.Sprintf("Field %s is missing in new schema", prefix+w.Name)
		}
	}
	return ""
}

// requiredNulls fails a WRITE_TRUNCATE_DATA whose result has a NULL in a
// top-level column the table declares REQUIRED.
func requiredNulls(res *Result, want []*bq.TableFieldSchema) *bq.ErrorProto {
	required := map[string]bool{}
	for _, f := range want {
		if fieldMode(f.Mode) == "REQUIRED" {
			required[strings.ToLower(f.Name)] = true
		}
	}
	for i, f := range res.Schema {
		if !required[strings.ToLower(f.Name)] {
			continue
		}
		for _, row := range res.Rows {
			if value(row, i) == nil {
				return invalidJob("Required field %s cannot be null", f.Name)
			}
		}
	}
	return nil
}

// resultSchema is the schema a query result gives a table it creates or
// replaces: names, types and modes only (a query result has no
// descriptions, policy tags or other column options).
func resultSchema(fs []*bq.TableFieldSchema) []*bq.TableFieldSchema {
	out := make([]*bq.TableFieldSchema, 0, len(fs))
	for _, f := range fs {
		out = append(out, &bq.TableFieldSchema{Name: f.Name, Type: fieldType(f.Type), Mode: fieldMode(f.Mode), Fields: resultSchema(f.Fields)})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
