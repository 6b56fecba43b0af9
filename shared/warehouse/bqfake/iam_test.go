package bqfake_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"cloud.google.com/go/iam"
	"cloud.google.com/go/iam/apiv1/iampb"
	bq "google.golang.org/api/bigquery/v2"

	"github.com/bqbackfill/bqbackfill/shared/iamcheck"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Table policies as IAM keeps them: a version-1 reader sees a conditional
// binding as "<role>_withcond_<hash>", which cannot be written back; only
// roles grantable on a table are accepted; allUsers is accepted.
func TestTablePolicyVersions(t *testing.T) {
	ctx := context.Background()
	s, c := setup(t)
	if err := s.SetTableIAM(daily, &bq.Policy{Version: 3, Bindings: []*bq.Binding{
		{Role: "roles/bigquery.dataViewer", Members: []string{"user:a@example.com"}, Condition: &bq.Expr{Title: "t", Expression: "true"}},
	}}); err != nil {
		t.Fatal(err)
	}
	h := c.Dataset("d").Table("daily").IAM()
	pol, err := h.Policy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	roles := pol.Roles()
	if len(roles) != 1 || !strings.HasPrefix(string(roles[0]), "roles/bigquery.dataViewer_withcond_") {
		t.Fatalf("version-1 roles = %v, want one _withcond_ role", roles)
	}
	if err := h.SetPolicy(ctx, pol); reason(err) != "invalid" {
		t.Errorf("writing back a _withcond_ role: %v, want reason invalid", err)
	}
	set := func(role, member string) error {
		p, err := h.Policy(ctx)
		if err != nil {
			return err
		}
		return h.SetPolicy(ctx, &iam.Policy{InternalProto: &iampb.Policy{Etag: p.InternalProto.Etag, Bindings: []*iampb.Binding{{Role: role, Members: []string{member}}}}})
	}
	// The conditional binding is still there: a version-1 write is refused.
	if err := set("roles/bigquery.dataViewer", "allUsers"); reason(err) != "invalid" {
		t.Errorf("version-1 write over a conditional policy: %v, want reason invalid", err)
	}
	if err := s.SetTableIAM(daily, &bq.Policy{}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		role, member string
		ok           bool
	}{
		{"roles/bigquery.dataViewer", "allUsers", true},
		{"roles/bigquery.dataViewer", "allAuthenticatedUsers", true},
		{"projects/p/roles/custom", "serviceAccount:x@p.iam.gserviceaccount.com", true},
		{"roles/bigquery.user", "user:a@example.com", false},
		{"roles/bigquery.jobUser", "user:a@example.com", false},
		{"roles/bigquery.dataViewer", "workgroup:x", false},
	} {
		err := set(tt.role, tt.member)
		if (err == nil) != tt.ok {
			t.Errorf("grant %s to %s on a table: %v, want ok=%v", tt.role, tt.member, err, tt.ok)
		}
	}
}

// The fake and the mirroring code (shared/warehouse) each keep, from
// BigQuery's docs, which roles a table's policy accepts and what the basic
// dataset roles stand for: the fake as the service's model, the mirroring
// code to decide what it copies. Neither may be derived from the other
// (the fake would then agree with any mistake), so they are held equal
// here: a role the fake refuses and the mirroring code copies would fail
// every mirror that carries it.
func TestRolesAgreeWithWarehouse(t *testing.T) {
	ctx := context.Background()
	_, c := setup(t)
	h := c.Dataset("d").Table("daily").IAM()
	roles := []string{"READER", "WRITER", "OWNER", "projects/p/roles/custom", "organizations/1/roles/custom"}
	for role := range iamcheck.Roles {
		if strings.HasPrefix(role, "roles/bigquery.") {
			roles = append(roles, role)
		}
	}
	sort.Strings(roles)
	const member = "user:a@example.com"
	for _, role := range roles {
		p, err := h.Policy(ctx)
		if err != nil {
			t.Fatal(err)
		}
		err = h.SetPolicy(ctx, &iam.Policy{InternalProto: &iampb.Policy{Etag: p.InternalProto.Etag, Bindings: []*iampb.Binding{{Role: role, Members: []string{member}}}}})
		if err != nil && reason(err) != "invalid" {
			t.Fatalf("grant %s on a table: %v", role, err)
		}
		if copies, why := warehouse.TableGrantable(role, member); copies != (err == nil) {
			t.Errorf("grant %s on a table: the fake answers %v; warehouse.TableGrantable says %v (%s)", role, err, copies, why)
		}
	}
	for basic, want := range iamcheck.BasicDatasetRoles {
		got, _, ok := warehouse.AccessBinding(warehouse.AccessEntry{Role: basic, EntityType: "userByEmail", Entity: "a@example.com"})
		if !ok || got != want {
			t.Errorf("warehouse.AccessBinding mirrors %s as %q (ok=%v); the fake grants it as %s", basic, got, ok, want)
		}
	}
}
