package bigquery_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	bq "google.golang.org/api/bigquery/v2"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	bqw "github.com/bqbackfill/bqbackfill/shared/warehouse/bigquery"
)

// The fake authorises every call for the principal of the client: what a
// role does not grant answers 403 accessDenied naming the permission,
// which the adapter reports as PermissionDenied.
func TestPermissionsOfAPrincipal(t *testing.T) {
	e := newEnv(t)
	const sa = "worker@ops.iam.gserviceaccount.com"
	e.fake.EnforceIAM(true)
	e.fake.GrantProject(defaultProject, "roles/bigquery.jobUser", "serviceAccount:"+sa)
	e.fake.SetDatasetAccess(staging.Project, staging.Dataset, []*bq.DatasetAccess{{Role: "WRITER", UserByEmail: sa}})
	e.fake.SetDatasetAccess(prod.Project, prod.Dataset, []*bq.DatasetAccess{{Role: "READER", IamMember: "serviceAccount:" + sa}})
	e.rowsFor(civil.Date{Year: 2024, Month: 1, Day: 1}, 2)
	w, err := bqw.NewWithConfig(context.Background(), bqw.Config{Project: defaultProject, Retry: bqw.RetryPolicy{Attempts: 1}, Sleep: e.sleeps.sleep, CallTimeout: 30 * time.Second}, e.fake.ClientOptionsAs(sa)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })

	if _, err := w.Query(e.ctx, warehouse.QueryJob{SQL: "SELECT * FROM `prod-proj.derived.daily_v1`", Destination: &staging, Partition: "20240101"}); err != nil {
		t.Errorf("query into staging reading production: %v", err)
	}
	if _, err := w.Table(e.ctx, prod); err != nil {
		t.Errorf("read production's metadata: %v", err)
	}
	tests := []struct {
		name string
		call func() error
		perm string
	}{
		{"set IAM on staging", func() error { return w.SetTableIAM(e.ctx, staging, warehouse.Policy{}) }, "bigquery.tables.setIamPolicy"},
		{"delete production", func() error { return w.Delete(e.ctx, prod) }, "bigquery.tables.delete"},
		{"copy into production", func() error {
			e.setRows(staging, "20240101", 2)
			_, err := w.Copy(e.ctx, warehouse.CopyJob{Source: staging, SourcePartition: "20240101", Dest: prod, DestPartition: "20240101", Write: warehouse.WriteTruncate, BillingProject: defaultProject})
			return err
		}, "bigquery.tables.updateData"},
		{"read a table of another dataset", func() error {
			_, err := w.Table(e.ctx, warehouse.TableRef{Project: "prod-proj", Dataset: "other", Table: "t"})
			return err
		}, "bigquery.tables.get"},
		{"run a job in another project", func() error {
			_, err := w.Query(e.ctx, warehouse.QueryJob{SQL: "SELECT 1", BillingProject: "prod-proj"})
			return err
		}, "bigquery.jobs.create"},
	}
	for _, tt := range tests {
		err := tt.call()
		wantCode(t, tt.name, err, warehouse.PermissionDenied)
		if err != nil && !strings.Contains(err.Error(), tt.perm) {
			t.Errorf("%s: %v does not name %s", tt.name, err, tt.perm)
		}
	}
}
