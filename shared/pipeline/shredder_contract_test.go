package pipeline_test

import (
	"strings"
	"testing"
	"testing/fstest"

	bq "google.golang.org/api/bigquery/v2"

	"github.com/bqbackfill/bqbackfill/shared/treescan"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

// shredderTree is usage_v2 (adds the dimension os to usage_v1) with an
// Initiate entry that uses shredder mitigation.
func shredderTree() fstest.MapFS {
	const dir = "moz-fx-data-shared-prod/special_derived/"
	md := "friendly_name: Usage\nlabels:\n  shredder_mitigation: true\nscheduling:\n  dag_name: bqetl_test\nbigquery:\n  time_partitioning:\n    type: day\n    field: submission_date\n"
	return fstest.MapFS{
		dir + "usage_v1/metadata.yaml": {Data: []byte(md)},
		dir + "usage_v1/query.sql":     {Data: []byte("SELECT submission_date, channel, COUNT(*) AS dau FROM `p.d.clients` WHERE submission_date = @submission_date GROUP BY submission_date, channel\n")},
		dir + "usage_v1/schema.yaml":   {Data: []byte("fields:\n- {name: submission_date, type: DATE}\n- {name: channel, type: STRING}\n- {name: dau, type: INTEGER}\n")},
		dir + "usage_v2/metadata.yaml": {Data: []byte(md)},
		dir + "usage_v2/query.sql":     {Data: []byte("SELECT submission_date, channel, os, COUNT(*) AS dau FROM `p.d.clients` WHERE submission_date = @submission_date GROUP BY submission_date, channel, os;\n")},
		dir + "usage_v2/schema.yaml":   {Data: []byte("fields:\n- {name: submission_date, type: DATE}\n- {name: channel, type: STRING}\n- {name: os, type: STRING}\n- {name: dau, type: INTEGER}\n")},
		dir + "usage_v2/backfill.yaml": {Data: []byte(entryDate + ":\n  start_date: 2024-03-18\n  end_date: 2024-03-19\n  reason: New version by os (TEST-4).\n  watchers:\n  - test@example.com\n  status: Initiate\n  shredder_mitigation: true\n")},
	}
}

// TestContractShredderMitigation: on BigQuery, each partition of a
// shredder-mitigated backfill runs the generated query (the new query as
// a CTE, the previous version read for the same date) into its staging
// partition with the date parameter bound.
func TestContractShredderMitigation(t *testing.T) {
	e := newContractEnv(t)
	v2 := warehouse.TableRef{Project: prodProject, Dataset: "special_derived", Table: "usage_v2"}
	stagingV2 := "special_derived__usage_v2_2024_03_20"
	e.fake.PutTable(&bq.Table{
		TableReference: &bq.TableReference{ProjectId: v2.Project, DatasetId: v2.Dataset, TableId: v2.Table},
		Schema: &bq.TableSchema{Fields: []*bq.TableFieldSchema{
			bqfake.Column("submission_date", "DATE"), bqfake.Column("channel", "STRING"), bqfake.Column("os", "STRING"), bqfake.Column("dau", "INTEGER"),
		}},
		TimePartitioning: &bq.TimePartitioning{Type: "DAY", Field: "submission_date"},
	})
	e.fake.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) {
		if q.Destination == nil || !strings.HasPrefix(q.Destination.TableId, stagingV2+"$") {
			return nil, nil
		}
		return &bqfake.Result{Schema: []*bq.TableFieldSchema{
			bqfake.Column("channel", "STRING"), bqfake.Column("submission_date", "DATE"), bqfake.Column("os", "STRING"), bqfake.Column("dau", "INTEGER"),
		}}, nil
	})
	desired, problems := treescan.Desired(e.ctx, shredderTree(), treescan.Options{Now: now, Tree: "trees/contract.zip"})
	if len(problems) > 0 {
		t.Fatalf("tree problems: %+v", problems)
	}
	for _, a := range e.p.Scan(e.ctx, desired) {
		if a.Err != nil || a.Did != "started" {
			t.Fatalf("scan: %s: did %q, %v", a.BackfillID, a.Did, a.Err)
		}
	}
	if got := e.work(t); len(got) != 2 {
		t.Fatalf("partitions handled %q, want 2", got)
	}
	seen := map[string]bool{}
	for _, j := range e.insertedJobs(t) {
		q := j.Configuration.Query
		if q == nil || q.DestinationTable == nil || !strings.HasPrefix(q.DestinationTable.TableId, stagingV2+"$") {
			continue
		}
		day := strings.TrimPrefix(q.DestinationTable.TableId, stagingV2+"$")
		seen[day] = true
		for _, want := range []string{
			"-- Query generated using a template for shredder mitigation.\nWITH new_version AS (\nSELECT submission_date, channel, os, COUNT(*) AS dau FROM `p.d.clients` WHERE submission_date = @submission_date GROUP BY submission_date, channel, os\n),",
			"FROM\n    `moz-fx-data-shared-prod.special_derived.usage_v1`\n  WHERE\n    submission_date = @submission_date\n",
			"CAST(NULL AS STRING) AS os",
		} {
			if !strings.Contains(q.Query, want) {
				t.Errorf("partition %s: query lacks %q:\n%s", day, want, q.Query)
			}
		}
		if len(q.QueryParameters) != 1 || q.QueryParameters[0].Name != "submission_date" || q.QueryParameters[0].ParameterValue.Value != day[:4]+"-"+day[4:6]+"-"+day[6:] {
			t.Errorf("partition %s: parameters %+v", day, q.QueryParameters)
		}
	}
	if !seen["20240318"] || !seen["20240319"] {
		t.Errorf("query jobs into staging for %v, want 20240318 and 20240319", seen)
	}
}
