// Package metadata models a table's metadata.yaml and schema.yaml as
// bigquery-etl writes them, keeping every field a backfill reads (reference
// §2) and ignoring the rest. The three cases of
// scheduling.date_partition_parameter (absent, null, a name) are explicit,
// labels follow bigquery-etl's bool/string rules, and a schema.yaml converts
// to a warehouse.Schema.
package metadata

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// FileName is the metadata file in a table directory.
const FileName = "metadata.yaml"

// DefaultDateParameter is the date parameter of a table whose scheduling
// block does not name one.
const DefaultDateParameter = "submission_date"

// Metadata is the part of metadata.yaml a backfill reads.
type Metadata struct {
	FriendlyName string
	Description  string
	Owners       []string
	// Labels are the labels as bigquery-etl applies them: string values as
	// written, boolean true as "" and boolean false dropped. Labels of any
	// other type (lists, numbers) are listed in IgnoredLabels.
	Labels map[string]string
	// IgnoredLabels are label keys whose value is neither a string nor a bool.
	IgnoredLabels []string
	Scheduling    Scheduling
	BigQuery      BigQuery
	// WorkgroupAccess is read for completeness; backfill does not use it.
	WorkgroupAccess []WorkgroupAccess
	// HasExternalData reports an external_data block (such a table cannot
	// be deployed to staging).
	HasExternalData bool
}

// Scheduling is the scheduling block.
type Scheduling struct {
	// Present reports that metadata.yaml has a scheduling block.
	Present bool
	DagName string
	// DependsOnPast is scheduling.depends_on_past; DependsOnPastSet reports
	// that the key is present (rule M1 needs both keys present).
	DependsOnPast    bool
	DependsOnPastSet bool
	// DateParameter is scheduling.date_partition_parameter, in its three cases.
	DateParameter DateParameter
	// DateOffset is scheduling.date_partition_offset in days (0 when absent).
	DateOffset int
	// Parameters are the scheduling.parameters strings, "name:TYPE:value".
	Parameters []string
	// DestinationTableNull reports scheduling.destination_table: null.
	DestinationTableNull bool
}

// DateParameterKind tells the three cases of date_partition_parameter apart.
type DateParameterKind int

const (
	// DateParameterAbsent: the key is absent, so the parameter is
	// submission_date.
	DateParameterAbsent DateParameterKind = iota
	// DateParameterNull: the key is present with null; the query computes
	// the whole table and binds no date parameter.
	DateParameterNull
	// DateParameterNamed: the key names the parameter.
	DateParameterNamed
)

// DateParameter is scheduling.date_partition_parameter.
type DateParameter struct {
	Kind DateParameterKind
	Name string // set when Kind is DateParameterNamed
}

// Effective returns the parameter name queries bind, and false when the
// parameter is null (no parameter is bound).
func (p DateParameter) Effective() (string, bool) {
	switch p.Kind {
	case DateParameterNull:
		return "", false
	case DateParameterNamed:
		return p.Name, true
	}
	return DefaultDateParameter, true
}

// String renders the parameter as metadata.yaml would: "(absent)", "null"
// or the name.
func (p DateParameter) String() string {
	switch p.Kind {
	case DateParameterNull:
		return "null"
	case DateParameterNamed:
		return p.Name
	}
	return "(absent: " + DefaultDateParameter + ")"
}

// BigQuery is the bigquery block.
type BigQuery struct {
	// TimePartitioning is nil when the table has no time partitioning.
	TimePartitioning *TimePartitioning
	// RangePartitioning is nil when absent or null.
	RangePartitioning *RangePartitioning
	// Clustering is bigquery.clustering.fields.
	Clustering []string
}

// TimePartitioning is bigquery.time_partitioning.
type TimePartitioning struct {
	// Type is upper case as written: DAY, MONTH, HOUR, YEAR (DAY when the
	// key is absent, as BigQuery defaults it).
	Type                   string
	Field                  string
	RequirePartitionFilter bool
	// ExpirationDays is nil when absent or null.
	ExpirationDays *float64
}

// RangePartitioning is bigquery.range_partitioning (integer range).
type RangePartitioning struct {
	Field                string
	Start, End, Interval int64
}

// WorkgroupAccess is one workgroup_access grant.
type WorkgroupAccess struct {
	Role    string
	Members []string
}

// PartitionType returns the warehouse partition type: Day, Month, or
// Unpartitioned when there is no time partitioning. ok is false for a type
// the backfill cannot handle (HOUR, YEAR, or anything else).
func (m *Metadata) PartitionType() (t warehouse.PartitionType, ok bool) {
	tp := m.BigQuery.TimePartitioning
	if tp == nil {
		return warehouse.Unpartitioned, true
	}
	switch tp.Type {
	case "DAY":
		return warehouse.Day, true
	case "MONTH":
		return warehouse.Month, true
	}
	return warehouse.PartitionType(tp.Type), false
}

// HasLabel reports whether the table has the label key (a string value or
// boolean true).
func (m *Metadata) HasLabel(key string) bool {
	_, ok := m.Labels[key]
	return ok
}

// ShredderMitigation reports the shredder_mitigation label.
func (m *Metadata) ShredderMitigation() bool { return m.HasLabel("shredder_mitigation") }

// Public reports the public_bigquery label.
func (m *Metadata) Public() bool { return m.HasLabel("public_bigquery") }

// RetentionDays is the effective retention limit: min(limit,
// int(expiration_days)) when the partition expiration is set, else limit.
func (m *Metadata) RetentionDays(limit int) int {
	if m == nil || m.BigQuery.TimePartitioning == nil || m.BigQuery.TimePartitioning.ExpirationDays == nil {
		return limit
	}
	d := *m.BigQuery.TimePartitioning.ExpirationDays
	if d >= float64(limit) {
		return limit
	}
	return int(math.Trunc(d))
}

// Problem is one thing wrong in a metadata.yaml or schema.yaml.
type Problem struct {
	Line    int    // 1-based, 0 when unknown
	Field   string // dotted path, e.g. scheduling.date_partition_offset
	Message string
}

// ParseError lists every problem found in one file.
type ParseError struct {
	Path     string
	Problems []Problem
}

// Error lists every problem as "path:line: field: message", separated by "; ".
func (e *ParseError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		loc := e.Path
		if p.Line > 0 {
			loc += ":" + strconv.Itoa(p.Line)
		}
		if p.Field != "" {
			parts[i] = fmt.Sprintf("%s: %s: %s", loc, p.Field, p.Message)
		} else {
			parts[i] = fmt.Sprintf("%s: %s", loc, p.Message)
		}
	}
	return strings.Join(parts, "; ")
}

// parser collects problems while walking a document.
type parser struct {
	problems []Problem
}

func (p *parser) addf(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.problems = append(p.problems, Problem{Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

// Parse reads a metadata.yaml. path is used in messages. Fields a backfill
// does not read are ignored; a field it reads with the wrong type is a
// problem, and all problems are returned together as a *ParseError.
func Parse(data []byte, path string) (*Metadata, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &ParseError{Path: path, Problems: []Problem{{Message: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	m := &Metadata{Labels: map[string]string{}}
	if len(doc.Content) == 0 {
		return m, nil
	}
	root := deref(doc.Content[0])
	if isNull(root) {
		return m, nil
	}
	p := &parser{}
	if root.Kind != yaml.MappingNode {
		p.addf(root, "", "metadata.yaml must be a mapping")
		return nil, &ParseError{Path: path, Problems: p.problems}
	}
	forEach(root, func(k, v *yaml.Node) {
		switch k.Value {
		case "friendly_name":
			m.FriendlyName = p.str(v, "friendly_name")
		case "description":
			m.Description = p.str(v, "description")
		case "owners":
			m.Owners = p.strList(v, "owners")
		case "labels":
			p.labels(v, m)
		case "scheduling":
			p.scheduling(v, &m.Scheduling)
		case "bigquery":
			p.bigquery(v, &m.BigQuery)
		case "workgroup_access":
			m.WorkgroupAccess = p.workgroups(v)
		case "external_data":
			m.HasExternalData = !isNull(v)
		}
	})
	if len(p.problems) > 0 {
		return nil, &ParseError{Path: path, Problems: p.problems}
	}
	return m, nil
}

func (p *parser) labels(n *yaml.Node, m *Metadata) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.addf(n, "labels", "must be a mapping of label: value")
		return
	}
	forEach(n, func(k, v *yaml.Node) {
		if v.Kind == yaml.ScalarNode {
			if b, ok := boolValue(v); ok {
				if b {
					m.Labels[k.Value] = ""
				}
				return
			}
			switch v.Tag {
			case "!!str":
				m.Labels[k.Value] = v.Value
				return
			case "!!null":
				return
			}
		}
		m.IgnoredLabels = append(m.IgnoredLabels, k.Value)
	})
	sort.Strings(m.IgnoredLabels)
}

func (p *parser) scheduling(n *yaml.Node, s *Scheduling) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.addf(n, "scheduling", "must be a mapping")
		return
	}
	s.Present = true
	forEach(n, func(k, v *yaml.Node) {
		field := "scheduling." + k.Value
		switch k.Value {
		case "dag_name":
			s.DagName = p.str(v, field)
		case "depends_on_past":
			s.DependsOnPastSet = true
			s.DependsOnPast = p.boolean(v, field)
		case "date_partition_parameter":
			switch {
			case isNull(v):
				s.DateParameter = DateParameter{Kind: DateParameterNull}
			case v.Kind == yaml.ScalarNode && v.Value != "":
				s.DateParameter = DateParameter{Kind: DateParameterNamed, Name: v.Value}
			default:
				p.addf(v, field, "must be a parameter name or null")
			}
		case "date_partition_offset":
			if isNull(v) {
				return
			}
			if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
				p.addf(v, field, "must be a whole number of days, got %q", v.Value)
				return
			}
			n, err := strconv.Atoi(strings.ReplaceAll(v.Value, "_", ""))
			if err != nil {
				p.addf(v, field, "must be a whole number of days, got %q", v.Value)
				return
			}
			s.DateOffset = n
		case "parameters":
			s.Parameters = p.strList(v, field)
		case "destination_table":
			s.DestinationTableNull = isNull(v)
		}
	})
}

func (p *parser) bigquery(n *yaml.Node, b *BigQuery) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.addf(n, "bigquery", "must be a mapping")
		return
	}
	forEach(n, func(k, v *yaml.Node) {
		switch k.Value {
		case "time_partitioning":
			b.TimePartitioning = p.timePartitioning(v)
		case "range_partitioning":
			b.RangePartitioning = p.rangePartitioning(v)
		case "clustering":
			if isNull(v) {
				return
			}
			if v.Kind != yaml.MappingNode {
				p.addf(v, "bigquery.clustering", "must be a mapping with fields")
				return
			}
			forEach(v, func(ck, cv *yaml.Node) {
				if ck.Value == "fields" {
					b.Clustering = p.strList(cv, "bigquery.clustering.fields")
				}
			})
		}
	})
}

func (p *parser) timePartitioning(n *yaml.Node) *TimePartitioning {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.addf(n, "bigquery.time_partitioning", "must be a mapping with type and field")
		return nil
	}
	tp := &TimePartitioning{Type: "DAY"}
	forEach(n, func(k, v *yaml.Node) {
		field := "bigquery.time_partitioning." + k.Value
		switch k.Value {
		case "type":
			if isNull(v) {
				return
			}
			tp.Type = strings.ToUpper(p.str(v, field))
		case "field":
			tp.Field = p.str(v, field)
		case "require_partition_filter":
			tp.RequirePartitionFilter = p.boolean(v, field)
		case "expiration_days":
			if isNull(v) {
				return
			}
			f, err := strconv.ParseFloat(strings.ReplaceAll(v.Value, "_", ""), 64)
			if v.Kind != yaml.ScalarNode || (v.Tag != "!!int" && v.Tag != "!!float") || err != nil {
				p.addf(v, field, "must be a number of days or null, got %q", v.Value)
				return
			}
			tp.ExpirationDays = &f
		}
	})
	return tp
}

func (p *parser) rangePartitioning(n *yaml.Node) *RangePartitioning {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.addf(n, "bigquery.range_partitioning", "must be a mapping with field and range")
		return nil
	}
	rp := &RangePartitioning{}
	forEach(n, func(k, v *yaml.Node) {
		switch k.Value {
		case "field":
			rp.Field = p.str(v, "bigquery.range_partitioning.field")
		case "range":
			if v.Kind != yaml.MappingNode {
				p.addf(v, "bigquery.range_partitioning.range", "must be a mapping with start, end and interval")
				return
			}
			forEach(v, func(rk, rv *yaml.Node) {
				field := "bigquery.range_partitioning.range." + rk.Value
				n, err := strconv.ParseInt(rv.Value, 10, 64)
				if rv.Kind != yaml.ScalarNode || err != nil {
					p.addf(rv, field, "must be a whole number, got %q", rv.Value)
					return
				}
				switch rk.Value {
				case "start":
					rp.Start = n
				case "end":
					rp.End = n
				case "interval":
					rp.Interval = n
				}
			})
		}
	})
	return rp
}

func (p *parser) workgroups(n *yaml.Node) []WorkgroupAccess {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.addf(n, "workgroup_access", "must be a list of {role, members}")
		return nil
	}
	var out []WorkgroupAccess
	for _, item := range n.Content {
		item = deref(item)
		if item.Kind != yaml.MappingNode {
			p.addf(item, "workgroup_access", "each item must be a mapping with role and members")
			continue
		}
		var w WorkgroupAccess
		forEach(item, func(k, v *yaml.Node) {
			switch k.Value {
			case "role":
				w.Role = p.str(v, "workgroup_access.role")
			case "members":
				w.Members = p.strList(v, "workgroup_access.members")
			}
		})
		out = append(out, w)
	}
	return out
}

// str reads a scalar as text (numbers and booleans keep their spelling).
func (p *parser) str(n *yaml.Node, field string) string {
	if isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		p.addf(n, field, "must be a string")
		return ""
	}
	return n.Value
}

func (p *parser) strList(n *yaml.Node, field string) []string {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.addf(n, field, "must be a list of strings")
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, item := range n.Content {
		item = deref(item)
		if item.Kind != yaml.ScalarNode {
			p.addf(item, field, "must be a list of strings")
			continue
		}
		out = append(out, item.Value)
	}
	return out
}

func (p *parser) boolean(n *yaml.Node, field string) bool {
	if isNull(n) {
		return false
	}
	b, ok := boolValue(n)
	if !ok {
		p.addf(n, field, "must be true or false, got %q", n.Value)
	}
	return b
}

// boolValue reads a YAML 1.1 boolean as PyYAML does (true/True/TRUE,
// yes/Yes/YES, on/On/ON and their negations), plain scalars only.
func boolValue(n *yaml.Node) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
		return false, false
	}
	switch n.Value {
	case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON":
		return true, true
	case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF":
		return false, true
	}
	return false, false
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// forEach calls f for every key/value pair of a mapping, with aliases
// resolved. Keys that are not scalars are skipped.
func forEach(n *yaml.Node, f func(k, v *yaml.Node)) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			continue
		}
		f(k, v)
	}
}
