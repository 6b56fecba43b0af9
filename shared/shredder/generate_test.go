package shredder

import (
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// TestPartitionFilter: the previous version (and staging, in the checks)
// is read for the partition being written, through the plan's date
// parameter, whatever the partition column's name and type.
func TestPartitionFilter(t *testing.T) {
	tests := []struct {
		name, pfType, param string
		ptype               warehouse.PartitionType
		want                string
	}{
		{"day on a DATE", "DATE", "submission_date", warehouse.Day, "submission_date = @submission_date"},
		{"another parameter name", "DATE", "ds", warehouse.Day, "submission_date = @ds"},
		{"day on a TIMESTAMP", "TIMESTAMP", "submission_date", warehouse.Day, "DATE(submission_date) = @submission_date"},
		{"month", "DATE", "submission_date", warehouse.Month, "DATE_TRUNC(submission_date, MONTH) = DATE_TRUNC(@submission_date, MONTH)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Plan(Input{
				Previous:      warehouse.TableRef{Project: "p", Dataset: "d", Table: "t_v1"},
				NewQuery:      "SELECT submission_date, os, SUM(n) AS n FROM s GROUP BY submission_date, os",
				PreviousQuery: "SELECT submission_date, SUM(n) AS n FROM s GROUP BY submission_date",
				NewSchema:     fields("submission_date:" + tc.pfType + " os:STRING n:INTEGER"), PreviousSchema: fields("submission_date:" + tc.pfType + " n:INTEGER"),
				PartitionField: "submission_date", PartitionType: tc.ptype, Param: tc.param,
			})
			if err != nil {
				t.Fatal(err)
			}
			sql := m.Query("SELECT 1")
			if !strings.Contains(sql, "WHERE\n    "+tc.want+"\n") {
				t.Errorf("query lacks the filter %q:\n%s", tc.want, sql)
			}
			for _, c := range m.Checks(warehouse.TableRef{Project: "p", Dataset: "d", Table: "staging"}) {
				if strings.Count(c.SQL, tc.want) != 2 {
					t.Errorf("check %s does not filter both sides with %q:\n%s", c.Name, tc.want, c.SQL)
				}
			}
		})
	}
}
