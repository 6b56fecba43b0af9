package bqfake_test

import (
	"context"
	"strings"
	"testing"

	"cloud.google.com/go/iam"
	"cloud.google.com/go/iam/apiv1/iampb"
	bq "google.golang.org/api/bigquery/v2"
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
