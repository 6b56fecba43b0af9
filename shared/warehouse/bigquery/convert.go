package bigquery

import (
	"fmt"
	"math/big"
	"sort"
	"strings"

	"cloud.google.com/go/bigquery"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// fieldTypes maps standard SQL type names (warehouse.CanonicalType) to the
// field type names of the REST API.
var fieldTypes = map[string]bigquery.FieldType{
	"STRING":     bigquery.StringFieldType,
	"BYTES":      bigquery.BytesFieldType,
	"INT64":      bigquery.IntegerFieldType,
	"FLOAT64":    bigquery.FloatFieldType,
	"BOOL":       bigquery.BooleanFieldType,
	"TIMESTAMP":  bigquery.TimestampFieldType,
	"RECORD":     bigquery.RecordFieldType,
	"DATE":       bigquery.DateFieldType,
	"TIME":       bigquery.TimeFieldType,
	"DATETIME":   bigquery.DateTimeFieldType,
	"NUMERIC":    bigquery.NumericFieldType,
	"BIGNUMERIC": bigquery.BigNumericFieldType,
	"GEOGRAPHY":  bigquery.GeographyFieldType,
	"JSON":       bigquery.JSONFieldType,
	"INTERVAL":   bigquery.IntervalFieldType,
}

// toSchema converts a warehouse schema to the client's, keeping order.
func toSchema(s warehouse.Schema) (bigquery.Schema, error) {
	if len(s) == 0 {
		return nil, nil
	}
	out := make(bigquery.Schema, 0, len(s))
	for _, f := range s {
		t, ok := fieldTypes[warehouse.CanonicalType(f.Type)]
		if !ok {
			return nil, fmt.Errorf("column %q: unsupported type %q", f.Name, f.Type)
		}
		fs := &bigquery.FieldSchema{Name: f.Name, Type: t, Description: f.Description}
		switch strings.ToUpper(f.Mode) {
		case "", "NULLABLE":
		case "REQUIRED":
			fs.Required = true
		case "REPEATED":
			fs.Repeated = true
		default:
			return nil, fmt.Errorf("column %q: unsupported mode %q", f.Name, f.Mode)
		}
		if t == bigquery.RecordFieldType {
			if len(f.Fields) == 0 {
				return nil, fmt.Errorf("column %q: a RECORD needs fields", f.Name)
			}
			sub, err := toSchema(f.Fields)
			if err != nil {
				return nil, fmt.Errorf("column %q: %w", f.Name, err)
			}
			fs.Schema = sub
		}
		out = append(out, fs)
	}
	return out, nil
}

// fromSchema converts the client's schema to a warehouse schema: standard
// SQL type names, modes spelled out (NULLABLE, REQUIRED, REPEATED).
func fromSchema(s bigquery.Schema) warehouse.Schema {
	if len(s) == 0 {
		return nil
	}
	out := make(warehouse.Schema, 0, len(s))
	for _, fs := range s {
		f := warehouse.Field{
			Name:        fs.Name,
			Type:        warehouse.CanonicalType(string(fs.Type)),
			Mode:        "NULLABLE",
			Description: fs.Description,
			Fields:      fromSchema(fs.Schema),
		}
		switch {
		case fs.Repeated:
			f.Mode = "REPEATED"
		case fs.Required:
			f.Mode = "REQUIRED"
		}
		out = append(out, f)
	}
	return out
}

// toTableMetadata converts table metadata for tables.insert.
func toTableMetadata(md warehouse.TableMetadata) (*bigquery.TableMetadata, error) {
	schema, err := toSchema(md.Schema)
	if err != nil {
		return nil, err
	}
	tm := &bigquery.TableMetadata{
		Name:                   md.FriendlyName,
		Description:            md.Description,
		Schema:                 schema,
		RequirePartitionFilter: md.RequirePartitionFilter,
		ExpirationTime:         md.Expiration,
	}
	if len(md.Labels) > 0 {
		tm.Labels = make(map[string]string, len(md.Labels))
		for k, v := range md.Labels {
			tm.Labels[k] = v
		}
	}
	switch md.PartitionType {
	case warehouse.Unpartitioned:
		if md.PartitionField != "" || md.PartitionExpiration != 0 {
			return nil, fmt.Errorf("partition field %q or expiration set on an unpartitioned table", md.PartitionField)
		}
	default:
		tm.TimePartitioning = &bigquery.TimePartitioning{
			Type:       bigquery.TimePartitioningType(strings.ToUpper(string(md.PartitionType))),
			Field:      md.PartitionField,
			Expiration: md.PartitionExpiration,
		}
	}
	if len(md.Clustering) > 0 {
		tm.Clustering = &bigquery.Clustering{Fields: append([]string(nil), md.Clustering...)}
	}
	return tm, nil
}

// fromTableMetadata converts tables.get metadata. Range-partitioned tables
// report Unpartitioned (time partitioning is all a backfill addresses).
func fromTableMetadata(ref warehouse.TableRef, tm *bigquery.TableMetadata) *warehouse.TableMetadata {
	md := &warehouse.TableMetadata{
		Ref:                    ref,
		Schema:                 fromSchema(tm.Schema),
		RequirePartitionFilter: tm.RequirePartitionFilter,
		Expiration:             tm.ExpirationTime,
		Description:            tm.Description,
		FriendlyName:           tm.Name,
		NumRows:                int64(tm.NumRows),
		Created:                tm.CreationTime,
		Modified:               tm.LastModifiedTime,
	}
	if tp := tm.TimePartitioning; tp != nil {
		md.PartitionType = warehouse.PartitionType(tp.Type)
		if md.PartitionType == warehouse.Unpartitioned {
			md.PartitionType = warehouse.Day
		}
		md.PartitionField = tp.Field
		md.PartitionExpiration = tp.Expiration
		md.RequirePartitionFilter = md.RequirePartitionFilter || tp.RequirePartitionFilter
	}
	if tm.Clustering != nil && len(tm.Clustering.Fields) > 0 {
		md.Clustering = append([]string(nil), tm.Clustering.Fields...)
	}
	if len(tm.Labels) > 0 {
		md.Labels = make(map[string]string, len(tm.Labels))
		for k, v := range tm.Labels {
			md.Labels[k] = v
		}
	}
	return md
}

// entityTypes names the client's access entity types as the REST API does.
var entityTypes = map[bigquery.EntityType]string{
	bigquery.DomainEntity:       "domain",
	bigquery.GroupEmailEntity:   "groupByEmail",
	bigquery.UserEmailEntity:    "userByEmail",
	bigquery.SpecialGroupEntity: "specialGroup",
	bigquery.ViewEntity:         "view",
	bigquery.IAMMemberEntity:    "iamMember",
	bigquery.RoutineEntity:      "routine",
	bigquery.DatasetEntity:      "dataset",
}

// fromAccess converts dataset access entries. Entries carrying an IAM
// condition are left out: mirrored as unconditional table bindings they
// would widen access. Views, routines and datasets are named
// "project.dataset[.name]".
func fromAccess(entries []*bigquery.AccessEntry) []warehouse.AccessEntry {
	out := make([]warehouse.AccessEntry, 0, len(entries))
	for _, e := range entries {
		if e == nil || e.Condition != nil {
			continue
		}
		a := warehouse.AccessEntry{Role: string(e.Role), EntityType: entityTypes[e.EntityType], Entity: e.Entity}
		switch {
		case e.EntityType == bigquery.ViewEntity && e.View != nil:
			a.Entity = e.View.ProjectID + "." + e.View.DatasetID + "." + e.View.TableID
		case e.EntityType == bigquery.RoutineEntity && e.Routine != nil:
			a.Entity = e.Routine.ProjectID + "." + e.Routine.DatasetID + "." + e.Routine.RoutineID
		case e.EntityType == bigquery.DatasetEntity && e.Dataset != nil && e.Dataset.Dataset != nil:
			a.Entity = e.Dataset.Dataset.ProjectID + "." + e.Dataset.Dataset.DatasetID
		}
		if a.EntityType == "" {
			a.EntityType = fmt.Sprintf("unknown(%d)", e.EntityType)
		}
		out = append(out, a)
	}
	return out
}

// sortBindings orders bindings by role and members within a role.
func sortBindings(bs []warehouse.Binding) {
	for i := range bs {
		sort.Strings(bs[i].Members)
	}
	sort.SliceStable(bs, func(i, j int) bool { return bs[i].Role < bs[j].Role })
}

// queryParams converts named parameters, typing each value from Param.Type
// (see warehouse.Param.ParseValue). BIGNUMERIC is sent with an explicit
// type (the client would infer NUMERIC from a *big.Rat).
func queryParams(ps []warehouse.Param) ([]bigquery.QueryParameter, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	out := make([]bigquery.QueryParameter, 0, len(ps))
	seen := map[string]bool{}
	for _, p := range ps {
		p.Name = strings.TrimPrefix(strings.TrimSpace(p.Name), "@")
		if p.Name == "" {
			return nil, fmt.Errorf("query parameter without a name")
		}
		if seen[strings.ToLower(p.Name)] {
			return nil, fmt.Errorf("query parameter @%s given twice", p.Name)
		}
		seen[strings.ToLower(p.Name)] = true
		v, err := p.ParseValue()
		if err != nil {
			return nil, err
		}
		if warehouse.CanonicalType(p.Type) == "BIGNUMERIC" {
			v = &bigquery.QueryParameterValue{
				Type:  bigquery.StandardSQLDataType{TypeKind: "BIGNUMERIC"},
				Value: bigquery.BigNumericString(v.(*big.Rat)),
			}
		}
		out = append(out, bigquery.QueryParameter{Name: p.Name, Value: v})
	}
	return out, nil
}

// fromValue converts a value read by the client to a plain Go value:
// records become []any of their fields, repeated columns []any; scalars
// stay as the client returns them (string, int64, float64, bool, []byte,
// *big.Rat, civil.Date, civil.DateTime, civil.Time, time.Time, nil).
func fromValue(v bigquery.Value) any {
	switch x := v.(type) {
	case []bigquery.Value:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = fromValue(e)
		}
		return out
	}
	return v
}

// validDecorator reports whether id can follow "$" in a table id: a time
// partition id (digits) or __NULL__ / __UNPARTITIONED__.
func validDecorator(id string) bool {
	if id == "__NULL__" || id == "__UNPARTITIONED__" {
		return true
	}
	if id == "" {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// jobIDPrefix makes a caller's job id prefix valid: letters, digits, '_'
// and '-' are kept, anything else becomes '_'; it is cut to leave room for
// the random suffix within BigQuery's 1024 characters.
func jobIDPrefix(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			b[i] = '_'
		}
	}
	if len(b) > 960 {
		b = b[:960]
	}
	return string(b)
}
