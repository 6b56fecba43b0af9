package warehouse

import (
	"fmt"
	"strings"
)

// CanonicalType returns the standard SQL name of a BigQuery column type,
// mapping the legacy names the REST API and schema.json files use
// (INTEGER, FLOAT, BOOLEAN, STRUCT, DECIMAL, BIGDECIMAL) and the DDL aliases
// (INT, SMALLINT, BIGINT, TINYINT, BYTEINT) to INT64, FLOAT64, BOOL, RECORD,
// NUMERIC and BIGNUMERIC. Other names are returned upper-cased.
func CanonicalType(t string) string {
	switch u := strings.ToUpper(strings.TrimSpace(t)); u {
	case "INTEGER", "INT", "SMALLINT", "BIGINT", "TINYINT", "BYTEINT":
		return "INT64"
	case "FLOAT":
		return "FLOAT64"
	case "BOOLEAN":
		return "BOOL"
	case "STRUCT":
		return "RECORD"
	case "DECIMAL":
		return "NUMERIC"
	case "BIGDECIMAL":
		return "BIGNUMERIC"
	default:
		return u
	}
}

// canonicalMode maps "" to NULLABLE and upper-cases the rest.
func canonicalMode(m string) string {
	if m == "" {
		return "NULLABLE"
	}
	return strings.ToUpper(m)
}

// CompatibleSchemas reports whether rows of a table with schema src can be
// copied, partition by partition, onto a table with schema dst the way a
// BigQuery copy job matches them: the same columns in the same order, with
// the same names (case-insensitive), the same types and the same
// repeatedness, recursively. NULLABLE and REQUIRED may differ only from
// REQUIRED in src to NULLABLE in dst. It returns nil or an error naming the
// first difference. The pipeline uses it to refuse a swap before backing
// up production; implementations use it to reject incompatible copies with
// FailedPrecondition.
func CompatibleSchemas(src, dst Schema) error {
	return compatibleFields("", src, dst)
}

func compatibleFields(prefix string, src, dst []Field) error {
	n := len(src)
	if len(dst) < n {
		n = len(dst)
	}
	for i := 0; i < n; i++ {
		s, d := src[i], dst[i]
		name := prefix + s.Name
		if !strings.EqualFold(s.Name, d.Name) {
			return fmt.Errorf("column %d is %q in the source but %q in the destination", i+1, prefix+s.Name, prefix+d.Name)
		}
		if st, dt := CanonicalType(s.Type), CanonicalType(d.Type); st != dt {
			return fmt.Errorf("column %q is %s in the source but %s in the destination", name, st, dt)
		}
		sm, dm := canonicalMode(s.Mode), canonicalMode(d.Mode)
		if (sm == "REPEATED") != (dm == "REPEATED") || (sm == "NULLABLE" && dm == "REQUIRED") {
			return fmt.Errorf("column %q is %s in the source but %s in the destination", name, sm, dm)
		}
		if CanonicalType(s.Type) == "RECORD" {
			if err := compatibleFields(name+".", s.Fields, d.Fields); err != nil {
				return err
			}
		}
	}
	switch {
	case len(src) > n:
		return fmt.Errorf("column %q of the source is missing in the destination", prefix+src[n].Name)
	case len(dst) > n:
		return fmt.Errorf("column %q of the destination is missing in the source", prefix+dst[n].Name)
	}
	return nil
}
