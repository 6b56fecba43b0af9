// Package shredder builds bigquery-etl's shredder mitigation for one
// backfill: the previous version of a table, the GROUP BY columns of both
// versions' queries, the classification of every column, the generated
// query (the new query's rows plus, per partition and common dimensions,
// the difference the previous version still accounts for) and the two
// generated #fail checks. Behaviour: ../shared/spec/shredder-mitigation.md;
// where upstream crashes or emits invalid SQL this package does what was
// evidently meant, and says so where it does.
//
// Upstream runs the new query once to get a sample row, and takes the
// output columns (and the types its schema mapping misses) from it. Here
// the new version's schema.yaml is the column list and the only source of
// types: bigquery-etl's CI keeps schema.yaml equal to the query's output
// (bqetl query schema validate), so it is what the sample row would say,
// it is known before anything runs (validate and plan can report every
// precondition), it does not depend on data existing on the start date,
// and it works the same on BigQuery and on the embedded warehouse.
package shredder

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/metadata"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

var versionRE = regexp.MustCompile(`^(.*_)v(\d+)$`)

// PreviousVersion names the previous version of a table: x_v10 gives x_v9
// (reference §2 items 3–4). A name without a _v<N> suffix, or N < 2, is
// rule S1. Upstream accepts any name ending in v<N> (t_3v2 too); the
// version must follow an underscore here, as bigquery-etl's naming has it.
func PreviousVersion(table string) (string, *Error) {
	m := versionRE.FindStringSubmatch(table)
	if m == nil {
		return "", errorf("S1", "", "invalid or missing table version in %s: shredder mitigation compares a table <name>_v<N> with its previous version <name>_v<N-1>", table)
	}
	n, err := strconv.Atoi(m[2])
	if err != nil || n < 2 {
		return "", errorf("S1", "", "the new version of the table is expected >= 2. Actual is %s: shredder mitigation needs a previous version %s_v<N-1> to compare with", m[2], strings.TrimSuffix(m[1], "_"))
	}
	return m[1] + "v" + strconv.Itoa(n-1), nil
}

// Input is what Plan needs: both versions' queries (rendered) and schemas,
// and the new version's partitioning.
type Input struct {
	// Previous is the previous version's table.
	Previous warehouse.TableRef
	// NewQuery and PreviousQuery are the rendered query texts; the File
	// fields name them (and the schemas) in messages.
	NewQuery, PreviousQuery         string
	NewQueryFile, PreviousQueryFile string
	// NewSchema and PreviousSchema are the top-level schema.yaml fields.
	NewSchema, PreviousSchema         []metadata.Field
	NewSchemaFile, PreviousSchemaFile string
	// PartitionField and PartitionType are the new version's partitioning;
	// Param is the date parameter bound per partition.
	PartitionField string
	PartitionType  warehouse.PartitionType
	Param          string
}

// Mitigation is the planned mitigation of one backfill.
type Mitigation struct {
	Previous        warehouse.TableRef
	PartitionField  string
	PartitionType   warehouse.PartitionType
	Param           string
	PreviousGroupBy []string
	NewGroupBy      []string
	// Columns are the new version's columns (and removed dimensions) with
	// their roles, sorted by name.
	Columns []Column
}

// Plan checks the preconditions that depend on the queries and schemas
// (rules S3–S6) and classifies the columns.
func Plan(in Input) (*Mitigation, *Error) {
	prevGB, err := GroupBy(in.PreviousQuery)
	if err != nil {
		return nil, errorf("S3", in.PreviousQueryFile, "the previous version's query: %v", err)
	}
	newGB, err := GroupBy(in.NewQuery)
	if err != nil {
		return nil, errorf("S3", in.NewQueryFile, "%v", err)
	}
	cols, cerr := classify(in.PartitionField, prevGB, newGB, in.PreviousSchema, in.NewSchema, in.NewSchemaFile)
	if cerr != nil {
		return nil, cerr
	}
	return &Mitigation{
		Previous: in.Previous, PartitionField: in.PartitionField, PartitionType: in.PartitionType,
		Param: in.Param, PreviousGroupBy: prevGB, NewGroupBy: newGB, Columns: cols,
	}, nil
}

// MarshalJSON writes the mitigation as `plan --json` shows it.
func (m *Mitigation) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Previous        string   `json:"previous_version"`
		PartitionField  string   `json:"partition_field"`
		Param           string   `json:"date_parameter"`
		PreviousGroupBy []string `json:"previous_group_by"`
		NewGroupBy      []string `json:"new_group_by"`
		Columns         []Column `json:"columns"`
	}{m.Previous.String(), m.PartitionField, m.Param, m.PreviousGroupBy, m.NewGroupBy, m.Columns})
}

// ByRole returns the columns with role r (in name order); removed
// dimensions the new schema lacks are left out unless r is
// RemovedDimension.
func (m *Mitigation) ByRole(r Role) []Column {
	var out []Column
	for _, c := range m.Columns {
		if c.Role == r {
			out = append(out, c)
		}
	}
	return out
}

// Summary describes the mitigation in a few lines for `plan`.
func (m *Mitigation) Summary() []string {
	lines := []string{
		fmt.Sprintf("previous version: %s (partition %s = @%s)", m.Previous, m.PartitionField, m.Param),
		"previous GROUP BY: " + strings.Join(m.PreviousGroupBy, ", "),
		"new GROUP BY: " + strings.Join(m.NewGroupBy, ", "),
	}
	for _, c := range m.Columns {
		typ := string(c.Type)
		if typ == "" {
			typ = "-"
		}
		note := ""
		switch {
		case c.Role == RemovedDimension && c.InSchema:
			note = " (still output: kept in new rows, NULL in shredded rows)"
		case c.Role == RemovedDimension:
			note = " (not output by the new query)"
		case c.Role == Undetermined:
			note = " (kept in new rows, NULL in shredded rows; not compared)"
		}
		lines = append(lines, fmt.Sprintf("  %-18s %-10s %s%s", c.Role, typ, c.Name, note))
	}
	return lines
}
