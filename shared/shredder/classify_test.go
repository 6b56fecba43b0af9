package shredder

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/metadata"
)

func fields(spec string) []metadata.Field {
	var out []metadata.Field
	for _, f := range strings.Fields(spec) {
		name, typ, _ := strings.Cut(f, ":")
		mode := "NULLABLE"
		if t, ok := strings.CutSuffix(typ, "[]"); ok {
			typ, mode = t, "REPEATED"
		}
		out = append(out, metadata.Field{Name: name, Type: typ, Mode: mode})
	}
	return out
}

// TestClassify covers the shapes of the labelled corpus tables (a
// partition column that is an alias of @submission_date, FLOAT64 and
// NUMERIC metrics, BOOLEAN and DATE dimensions, a RECORD column, a removed
// dimension) and the failing preconditions of reference §5.3 and §2.
func TestClassify(t *testing.T) {
	tests := []struct {
		name               string
		prevGB, newGB      string
		prevSchema, schema string
		want               string
		rule               string
	}{
		{
			name:       "feature usage v1 to v2: added dimension, new and old metrics",
			prevGB:     "submission_date metric_date channel country",
			newGB:      "submission_date metric_date channel country adjust_network is_default_browser",
			prevSchema: "submission_date:DATE metric_date:DATE channel:STRING country:STRING clients:INTEGER logins_deleted:INTEGER",
			schema:     "submission_date:DATE metric_date:DATE clients:INTEGER channel:STRING country:STRING adjust_network:STRING is_default_browser:BOOLEAN logins_deleted:INT64 bookmarks_add:INTEGER",
			want: "adjust_network:added_dimension:STRING bookmarks_add:added_metric:INTEGER channel:common_dimension:STRING clients:common_metric:INTEGER country:common_dimension:STRING " +
				"is_default_browser:added_dimension:BOOLEAN logins_deleted:common_metric:INTEGER metric_date:common_dimension:DATE submission_date:common_dimension:DATE",
		},
		{
			name:       "types upstream leaves to the sample: FLOAT64, BIGINT, DECIMAL, TIME; RECORD and REPEATED undetermined",
			prevGB:     "submission_date os",
			newGB:      "submission_date os at",
			prevSchema: "submission_date:DATE os:STRING a:FLOAT64 b:BIGINT c:DECIMAL",
			schema:     "submission_date:DATE os:STRING at:TIME a:FLOAT64 b:BIGINT c:DECIMAL r:RECORD xs:INTEGER[] label:STRING",
			want: "a:common_metric:FLOAT at:added_dimension:TIME b:common_metric:INTEGER c:common_metric:NUMERIC label:undetermined:STRING os:common_dimension:STRING " +
				"r:undetermined:STRUCT submission_date:common_dimension:DATE xs:undetermined:ARRAY",
		},
		{
			name:       "removed dimensions: one still output, one gone; case-insensitive names",
			prevGB:     "submission_date OS country app_version",
			newGB:      "Submission_Date os",
			prevSchema: "submission_date:DATE os:STRING country:STRING app_version:STRING dau:INTEGER",
			schema:     "submission_date:DATE os:STRING country:STRING dau:INTEGER",
			want:       "app_version:removed_dimension: country:removed_dimension:STRING dau:common_metric:INTEGER os:common_dimension:STRING submission_date:common_dimension:DATE",
		},
		{
			name:   "partition column grouped only by the new query still counts as common",
			prevGB: "os", newGB: "submission_date os",
			prevSchema: "submission_date:DATE os:STRING dau:INTEGER", schema: "submission_date:DATE os:STRING dau:INTEGER",
			want: "dau:common_metric:INTEGER os:common_dimension:STRING submission_date:common_dimension:DATE",
		},
		{
			name:   "new GROUP BY column not in schema.yaml",
			prevGB: "submission_date os", newGB: "submission_date os country",
			prevSchema: "submission_date:DATE os:STRING dau:INTEGER", schema: "submission_date:DATE os:STRING dau:INTEGER",
			rule: "S4",
		},
		{
			name:   "grouping by a RECORD",
			prevGB: "submission_date os", newGB: "submission_date os r",
			prevSchema: "submission_date:DATE os:STRING dau:INTEGER", schema: "submission_date:DATE os:STRING r:RECORD dau:INTEGER",
			rule: "S4",
		},
		{
			name:   "no common dimension",
			prevGB: "channel", newGB: "os",
			prevSchema: "submission_date:DATE channel:STRING dau:INTEGER", schema: "submission_date:DATE os:STRING dau:INTEGER",
			rule: "S5",
		},
		{
			name:   "no metric",
			prevGB: "submission_date os", newGB: "submission_date os",
			prevSchema: "submission_date:DATE os:STRING", schema: "submission_date:DATE os:STRING label:STRING",
			rule: "S5",
		},
		{
			name:   "only new metrics",
			prevGB: "submission_date os", newGB: "submission_date os",
			prevSchema: "submission_date:DATE os:STRING dau:INTEGER", schema: "submission_date:DATE os:STRING clicks:INTEGER",
			rule: "S6",
		},
		{
			name:   "partition column not in the schema",
			prevGB: "os", newGB: "os",
			prevSchema: "os:STRING dau:INTEGER", schema: "os:STRING dau:INTEGER",
			rule: "S7",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cols, err := classify("submission_date", strings.Fields(tc.prevGB), strings.Fields(tc.newGB), fields(tc.prevSchema), fields(tc.schema), "v2/schema.yaml")
			if tc.rule != "" {
				if err == nil || err.Rule != tc.rule || err.File != "v2/schema.yaml" {
					t.Fatalf("classify = %v, %v; want rule %s", cols, err, tc.rule)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cols {
				got = append(got, fmt.Sprintf("%s:%s:%s", c.Name, c.Role, c.Type))
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("classify:\n%s\nwant\n%s", strings.Join(got, " "), tc.want)
			}
		})
	}
}
