package metadata

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func TestDateParameterCases(t *testing.T) {
	for src, want := range map[string]struct {
		kind DateParameterKind
		name string
		ok   bool
	}{
		"scheduling:\n  dag_name: x\n":                           {DateParameterAbsent, "submission_date", true},
		"scheduling:\n  date_partition_parameter: null\n":        {DateParameterNull, "", false},
		"scheduling:\n  date_partition_parameter:\n":             {DateParameterNull, "", false},
		"scheduling:\n  date_partition_parameter: month_start\n": {DateParameterNamed, "month_start", true},
		"friendly_name: no scheduling\n":                         {DateParameterAbsent, "submission_date", true},
	} {
		m, err := Parse([]byte(src), "metadata.yaml")
		if err != nil {
			t.Fatal(err)
		}
		name, ok := m.Scheduling.DateParameter.Effective()
		if m.Scheduling.DateParameter.Kind != want.kind || name != want.name || ok != want.ok {
			t.Errorf("%q: kind %v name %q ok %v", src, m.Scheduling.DateParameter.Kind, name, ok)
		}
	}
}

func TestParseFields(t *testing.T) {
	src := `friendly_name: Example
description: Example table
owners: [alice@mozilla.com]
labels:
  incremental: true
  shredder_mitigation: true
  public_bigquery: yes
  deprecated: false
  owner1: alice
  review_bugs: [222222]
scheduling:
  dag_name: bqetl_example
  depends_on_past: True
  date_partition_offset: -7
  parameters: ["download_date:DATE:{{ds}}"]
  destination_table: null
bigquery:
  time_partitioning:
    type: month
    field: month_start_date
    require_partition_filter: true
    expiration_days: 180.5
  range_partitioning: null
  clustering:
    fields: [normalized_channel]
workgroup_access:
- role: roles/bigquery.dataViewer
  members: [workgroup:mozilla-confidential/data-viewers]
external_data:
  format: csv
`
	m, err := Parse([]byte(src), "metadata.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !m.ShredderMitigation() || !m.Public() || m.HasLabel("deprecated") || m.Labels["owner1"] != "alice" || m.Labels["incremental"] != "" {
		t.Errorf("labels %v", m.Labels)
	}
	if len(m.IgnoredLabels) != 1 || m.IgnoredLabels[0] != "review_bugs" {
		t.Errorf("ignored labels %v", m.IgnoredLabels)
	}
	sc := m.Scheduling
	if !sc.DependsOnPast || !sc.DependsOnPastSet || sc.DateOffset != -7 || len(sc.Parameters) != 1 || !sc.DestinationTableNull {
		t.Errorf("scheduling %+v", sc)
	}
	if pt, ok := m.PartitionType(); pt != warehouse.Month || !ok {
		t.Errorf("partition type %v %v", pt, ok)
	}
	tp := m.BigQuery.TimePartitioning
	if tp.Field != "month_start_date" || !tp.RequirePartitionFilter || *tp.ExpirationDays != 180.5 || m.BigQuery.RangePartitioning != nil {
		t.Errorf("time partitioning %+v", tp)
	}
	if m.RetentionDays(775) != 180 || (&Metadata{}).RetentionDays(775) != 775 {
		t.Errorf("retention %d", m.RetentionDays(775))
	}
	if len(m.BigQuery.Clustering) != 1 || len(m.WorkgroupAccess) != 1 || !m.HasExternalData || m.FriendlyName != "Example" || len(m.Owners) != 1 {
		t.Errorf("rest %+v", m)
	}
}

func TestParseProblems(t *testing.T) {
	src := "scheduling:\n  depends_on_past: maybe\n  date_partition_offset: soon\nbigquery:\n  time_partitioning:\n    expiration_days: long\n"
	_, err := Parse([]byte(src), "m.yaml")
	var pe *ParseError
	if !errors.As(err, &pe) || len(pe.Problems) != 3 {
		t.Fatalf("got %v", err)
	}
	if pe.Problems[0].Line != 2 || pe.Problems[0].Field != "scheduling.depends_on_past" {
		t.Errorf("first problem %+v", pe.Problems[0])
	}
	if !strings.Contains(err.Error(), "m.yaml:2: scheduling.depends_on_past") {
		t.Errorf("message %s", err)
	}
	if _, err := Parse([]byte("a: [\n"), "m.yaml"); err == nil {
		t.Error("YAML error accepted")
	}
	if pt, ok := mustParse(t, "bigquery:\n  time_partitioning:\n    type: hour\n").PartitionType(); ok || pt != "HOUR" {
		t.Errorf("hour: %v %v", pt, ok)
	}
}

func mustParse(t *testing.T, src string) *Metadata {
	t.Helper()
	m, err := Parse([]byte(src), "metadata.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSchemaToWarehouse(t *testing.T) {
	src := `fields:
- mode: NULLABLE
  name: submission_date
  type: DATE
  description: The day.
- name: n
  type: INTEGER
- name: rec
  type: RECORD
  mode: REPEATED
  fields:
  - name: f
    type: FLOAT
    description: !include-field-description
      file: sql/moz-fx-data-shared-prod/x/x.yaml
      field: f
`
	s, err := ParseSchema([]byte(src), "schema.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := s.ToWarehouse()
	if err != nil {
		t.Fatal(err)
	}
	want := warehouse.Schema{
		{Name: "submission_date", Type: "DATE", Mode: "NULLABLE", Description: "The day."},
		{Name: "n", Type: "INT64"},
		{Name: "rec", Type: "RECORD", Mode: "REPEATED", Fields: []warehouse.Field{{Name: "f", Type: "FLOAT64"}}},
	}
	if len(ws) != 3 || !reflect.DeepEqual(ws[0], want[0]) || ws[1].Type != "INT64" || ws[2].Fields[0].Type != "FLOAT64" || ws[2].Mode != "REPEATED" {
		t.Errorf("got %+v", ws)
	}
}

func TestSchemaIncludes(t *testing.T) {
	other := `fields:
- name: a
  type: STRING
  description: A.
- name: sub
  type: RECORD
  fields:
  - name: x
    type: INT64
  - name: y
    type: STRING
    description: Y.
- name: c
  type: BOOL
`
	src := `fields: !flatten-lists
- !include-fields
  table: p.d.other
  exclude_field_names: [c]
  field_replacements:
  - !include-field
    table: p.d.other
    field: a
    new_description: New A.
- name: own
  type: DATE
- !include-field
  table: p.d.other
  field: sub.y
  new_name: y2
  append_description: More.
- !include-fields
  table: p.d.other
  parent_field: sub
  field_names: [x]
`
	s, err := ParseSchema([]byte(src), "schema.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Unresolved()) != 3 {
		t.Errorf("unresolved %d", len(s.Unresolved()))
	}
	if _, err := s.ToWarehouse(); err == nil {
		t.Error("unresolved includes converted")
	}
	load := func(src Source) (*Schema, error) {
		if src.Table != "p.d.other" {
			return nil, errors.New("not found")
		}
		return ParseSchema([]byte(other), "other.yaml")
	}
	r, err := s.Resolve(load)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range r.Fields {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "a,sub,own,y2,x" {
		t.Errorf("fields %v", names)
	}
	if r.Fields[0].Description != "New A." || r.Fields[3].Description != "Y.\nMore." {
		t.Errorf("descriptions %q %q", r.Fields[0].Description, r.Fields[3].Description)
	}
	if _, err := r.ToWarehouse(); err != nil {
		t.Error(err)
	}
	bad, _ := ParseSchema([]byte("fields: !include-fields\n  table: p.d.missing\n"), "s.yaml")
	if _, err := bad.Resolve(load); err == nil {
		t.Error("missing include resolved")
	}
}
