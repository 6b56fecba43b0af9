package bigquery_test

import (
	"reflect"
	"testing"

	bq "google.golang.org/api/bigquery/v2"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

func TestTableIAMRoundTrip(t *testing.T) {
	e := newEnv(t)
	if err := e.fake.SetTableIAM(prod, &bq.Policy{Bindings: []*bq.Binding{
		{Role: "roles/bigquery.dataViewer", Members: []string{"user:z@example.com", "group:g@example.com"}},
		{Role: "roles/bigquery.dataEditor", Members: []string{"serviceAccount:etl@p.iam.gserviceaccount.com"}},
	}}); err != nil {
		t.Fatal(err)
	}
	pol, err := e.w.TableIAM(e.ctx, prod)
	if err != nil {
		t.Fatalf("TableIAM: %v", err)
	}
	get := e.fake.RequestsFor("tables.getIamPolicy")
	if len(get) != 1 || get[0].Path != "/projects/prod-proj/datasets/derived/tables/daily_v1:getIamPolicy" {
		t.Fatalf("getIamPolicy: %v", paths(get))
	}
	jsonEqual(t, "getIamPolicy body", jsonBody(t, get[0]), map[string]any{"options": map[string]any{"requestedPolicyVersion": 3.0}})
	want := warehouse.Policy{ETag: e.fake.TableIAM(prod).Etag, Bindings: []warehouse.Binding{
		{Role: "roles/bigquery.dataEditor", Members: []string{"serviceAccount:etl@p.iam.gserviceaccount.com"}},
		{Role: "roles/bigquery.dataViewer", Members: []string{"group:g@example.com", "user:z@example.com"}},
	}}
	if !reflect.DeepEqual(pol, want) {
		t.Errorf("TableIAM = %+v, want %+v", pol, want)
	}

	// Mirror onto staging the way the pipeline does: read, merge, write
	// back with the destination's etag.
	existing, err := e.w.TableIAM(e.ctx, staging)
	if err != nil {
		t.Fatalf("TableIAM(staging): %v", err)
	}
	merged, added := warehouse.MirrorBindings(pol, []warehouse.AccessEntry{{Role: "READER", EntityType: "domain", Entity: "example.com"}}, existing)
	if len(added) != 2 {
		t.Errorf("added = %v", added)
	}
	if err := e.w.SetTableIAM(e.ctx, staging, merged); err != nil {
		t.Fatalf("SetTableIAM: %v", err)
	}
	set := e.fake.RequestsFor("tables.setIamPolicy")
	if len(set) != 1 || set[0].Path != "/projects/staging-proj/datasets/backfills_staging_derived/tables/"+staging.Table+":setIamPolicy" {
		t.Fatalf("setIamPolicy: %v", paths(set))
	}
	jsonEqual(t, "setIamPolicy body", jsonBody(t, set[0]), map[string]any{"policy": map[string]any{
		"version": 1.0,
		"etag":    existing.ETag,
		"bindings": []any{
			map[string]any{"role": "roles/bigquery.dataEditor", "members": []any{"serviceAccount:etl@p.iam.gserviceaccount.com"}},
			map[string]any{"role": "roles/bigquery.dataViewer", "members": []any{"domain:example.com", "group:g@example.com", "user:z@example.com"}},
		},
	}})
	// The etag now stale, a second write is refused.
	err = e.w.SetTableIAM(e.ctx, staging, merged)
	wantCode(t, "SetTableIAM with a stale etag", err, warehouse.FailedPrecondition)
	if n := len(e.fake.RequestsFor("tables.setIamPolicy")); n != 2 {
		t.Errorf("%d setIamPolicy requests, want 2 (a conflict is not retried)", n)
	}
}

func TestSetTableIAMFailures(t *testing.T) {
	tests := []struct {
		name  string
		fault bqfake.Fault
		want  warehouse.ErrorCode
	}{
		{"precondition failed", bqfake.Fault{Op: "tables.setIamPolicy", Status: 412, Reason: "failedPrecondition"}, warehouse.FailedPrecondition},
		{"conflict without a reason", bqfake.Fault{Op: "tables.setIamPolicy", Status: 409}, warehouse.FailedPrecondition},
		{"conflict reported as duplicate", bqfake.Fault{Op: "tables.setIamPolicy", Status: 409, Reason: "duplicate"}, warehouse.FailedPrecondition},
		{"bad member", bqfake.Fault{Op: "tables.setIamPolicy", Status: 400, Reason: "invalid"}, warehouse.InvalidArgument},
		{"denied", bqfake.Fault{Op: "tables.setIamPolicy", Status: 403, Reason: "accessDenied"}, warehouse.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.InjectFault(tt.fault)
			err := e.w.SetTableIAM(e.ctx, staging, warehouse.Policy{ETag: "x", Bindings: []warehouse.Binding{{Role: "roles/bigquery.dataViewer", Members: []string{"user:a@example.com"}}}})
			wantCode(t, "SetTableIAM", err, tt.want)
		})
	}
	e := newEnv(t)
	_, err := e.w.TableIAM(e.ctx, warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "gone"})
	wantCode(t, "TableIAM of a missing table", err, warehouse.NotFound)
	err = e.w.SetTableIAM(e.ctx, warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "gone"}, warehouse.Policy{})
	wantCode(t, "SetTableIAM of a missing table", err, warehouse.NotFound)
}

func TestDatasetAccess(t *testing.T) {
	e := newEnv(t)
	e.fake.SetDatasetAccess("prod-proj", "derived", []*bq.DatasetAccess{
		{Role: "OWNER", SpecialGroup: "projectOwners"},
		{Role: "READER", UserByEmail: "a@example.com"},
		{Role: "WRITER", UserByEmail: "etl@p.iam.gserviceaccount.com"},
		{Role: "READER", GroupByEmail: "readers@example.com"},
		{Role: "READER", Domain: "example.com"},
		{Role: "roles/bigquery.metadataViewer", IamMember: "workgroup:def/viewers"},
		{View: &bq.TableReference{ProjectId: "p2", DatasetId: "views", TableId: "v"}},
		{Routine: &bq.RoutineReference{ProjectId: "p2", DatasetId: "udfs", RoutineId: "f"}},
		{Dataset: &bq.DatasetAccessEntry{Dataset: &bq.DatasetReference{ProjectId: "p3", DatasetId: "shared"}, TargetTypes: []string{"VIEWS"}}},
		{Role: "READER", UserByEmail: "temp@example.com", Condition: &bq.Expr{Expression: "request.time < timestamp('2025-01-01T00:00:00Z')"}},
	})
	got, err := e.w.DatasetAccess(e.ctx, "prod-proj", "derived")
	if err != nil {
		t.Fatalf("DatasetAccess: %v", err)
	}
	want := []warehouse.AccessEntry{
		{Role: "OWNER", EntityType: "specialGroup", Entity: "projectOwners"},
		{Role: "READER", EntityType: "userByEmail", Entity: "a@example.com"},
		{Role: "WRITER", EntityType: "userByEmail", Entity: "etl@p.iam.gserviceaccount.com"},
		{Role: "READER", EntityType: "groupByEmail", Entity: "readers@example.com"},
		{Role: "READER", EntityType: "domain", Entity: "example.com"},
		{Role: "roles/bigquery.metadataViewer", EntityType: "iamMember", Entity: "workgroup:def/viewers"},
		{EntityType: "view", Entity: "p2.views.v"},
		{EntityType: "routine", Entity: "p2.udfs.f"},
		{EntityType: "dataset", Entity: "p3.shared"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DatasetAccess =\n%+v\nwant\n%+v", got, want)
	}
	_, err = e.w.DatasetAccess(e.ctx, "prod-proj", "gone")
	wantCode(t, "DatasetAccess of a missing dataset", err, warehouse.NotFound)
}

func jsonBody(t *testing.T, r bqfake.Request) map[string]any {
	t.Helper()
	var m map[string]any
	if err := r.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// F8: policies are read as version 3, so a conditional binding comes back
// with its condition instead of as an unwritable "_withcond_" role; a
// policy keeping a conditional binding is written as version 3.
func TestTableIAMConditions(t *testing.T) {
	e := newEnv(t)
	cond := &bq.Expr{Title: "until 2025", Expression: `request.time < timestamp("2025-01-01T00:00:00Z")`}
	if err := e.fake.SetTableIAM(staging, &bq.Policy{Version: 3, Bindings: []*bq.Binding{
		{Role: "roles/bigquery.dataViewer", Members: []string{"user:temp@example.com"}, Condition: cond},
	}}); err != nil {
		t.Fatal(err)
	}
	pol, err := e.w.TableIAM(e.ctx, staging)
	if err != nil {
		t.Fatalf("TableIAM: %v", err)
	}
	if len(pol.Bindings) != 1 || pol.Bindings[0].Role != "roles/bigquery.dataViewer" || pol.Bindings[0].Condition == nil || pol.Bindings[0].Condition.Expression != cond.Expression {
		t.Fatalf("TableIAM = %+v, want the conditional binding with its condition", pol)
	}
	m := warehouse.MirrorPolicy(warehouse.Policy{Bindings: []warehouse.Binding{{Role: "roles/bigquery.dataViewer", Members: []string{"allUsers"}}}}, nil, pol)
	if err := e.w.SetTableIAM(e.ctx, staging, m.Merged); err != nil {
		t.Fatalf("SetTableIAM of a policy with a conditional binding: %v", err)
	}
	got := e.fake.TableIAM(staging)
	if got.Version != 3 || len(got.Bindings) != 2 {
		t.Errorf("stored policy version %d with %d bindings, want version 3 with 2", got.Version, len(got.Bindings))
	}
}
