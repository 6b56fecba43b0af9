package warehouse_test

import (
	"reflect"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func TestAccessBinding(t *testing.T) {
	tests := []struct {
		name       string
		entry      warehouse.AccessEntry
		role, memb string
		ok         bool
	}{
		{"reader user", warehouse.AccessEntry{Role: "READER", EntityType: "userByEmail", Entity: "a@example.com"}, "roles/bigquery.dataViewer", "user:a@example.com", true},
		{"writer service account", warehouse.AccessEntry{Role: "WRITER", EntityType: "userByEmail", Entity: "etl@proj.iam.gserviceaccount.com"}, "roles/bigquery.dataEditor", "serviceAccount:etl@proj.iam.gserviceaccount.com", true},
		{"legacy service account domain", warehouse.AccessEntry{Role: "OWNER", EntityType: "userByEmail", Entity: "123@developer.GSERVICEACCOUNT.COM"}, "roles/bigquery.dataOwner", "serviceAccount:123@developer.GSERVICEACCOUNT.COM", true},
		{"lower-case legacy role", warehouse.AccessEntry{Role: "reader", EntityType: "groupByEmail", Entity: "g@example.com"}, "roles/bigquery.dataViewer", "group:g@example.com", true},
		{"domain", warehouse.AccessEntry{Role: "READER", EntityType: "domain", Entity: "example.com"}, "roles/bigquery.dataViewer", "domain:example.com", true},
		{"iam member kept", warehouse.AccessEntry{Role: "roles/bigquery.metadataViewer", EntityType: "iamMember", Entity: "workgroup:def/data-viewers"}, "roles/bigquery.metadataViewer", "workgroup:def/data-viewers", true},
		{"iam role kept", warehouse.AccessEntry{Role: "roles/custom.thing", EntityType: "userByEmail", Entity: "b@example.com"}, "roles/custom.thing", "user:b@example.com", true},
		{"special group skipped", warehouse.AccessEntry{Role: "READER", EntityType: "specialGroup", Entity: "projectReaders"}, "", "", false},
		{"view skipped", warehouse.AccessEntry{EntityType: "view", Entity: "p.d.v"}, "", "", false},
		{"routine skipped", warehouse.AccessEntry{EntityType: "routine", Entity: "p.d.r"}, "", "", false},
		{"dataset skipped", warehouse.AccessEntry{EntityType: "dataset", Entity: "p.d"}, "", "", false},
		{"unknown type skipped", warehouse.AccessEntry{Role: "READER", EntityType: "somethingNew", Entity: "x"}, "", "", false},
		{"empty entity skipped", warehouse.AccessEntry{Role: "READER", EntityType: "userByEmail"}, "", "", false},
		{"empty role skipped", warehouse.AccessEntry{EntityType: "userByEmail", Entity: "a@example.com"}, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			role, member, ok := warehouse.AccessBinding(tt.entry)
			if role != tt.role || member != tt.memb || ok != tt.ok {
				t.Errorf("AccessBinding(%+v) = %q, %q, %v; want %q, %q, %v", tt.entry, role, member, ok, tt.role, tt.memb, tt.ok)
			}
		})
	}
}

func TestMirrorBindings(t *testing.T) {
	viewer, editor, owner := "roles/bigquery.dataViewer", "roles/bigquery.dataEditor", "roles/bigquery.dataOwner"
	tests := []struct {
		name       string
		table      warehouse.Policy
		access     []warehouse.AccessEntry
		existing   warehouse.Policy
		wantMerged warehouse.Policy
		wantAdded  []warehouse.Binding
	}{
		{
			name: "empty everything",
		},
		{
			name: "union of table bindings and dataset access, grouped and sorted",
			table: warehouse.Policy{Bindings: []warehouse.Binding{
				{Role: viewer, Members: []string{"user:z@example.com", "group:g@example.com"}},
				{Role: "projects/p/roles/custom", Members: []string{"user:c@example.com"}},
			}},
			access: []warehouse.AccessEntry{
				{Role: "READER", EntityType: "userByEmail", Entity: "a@example.com"},
				{Role: "READER", EntityType: "groupByEmail", Entity: "g@example.com"}, // already in the table policy
				{Role: "WRITER", EntityType: "userByEmail", Entity: "sa@p.iam.gserviceaccount.com"},
				{Role: "OWNER", EntityType: "specialGroup", Entity: "projectOwners"},
				{EntityType: "view", Entity: "p.d.v"},
			},
			wantMerged: warehouse.Policy{Bindings: []warehouse.Binding{
				{Role: "projects/p/roles/custom", Members: []string{"user:c@example.com"}},
				{Role: editor, Members: []string{"serviceAccount:sa@p.iam.gserviceaccount.com"}},
				{Role: viewer, Members: []string{"group:g@example.com", "user:a@example.com", "user:z@example.com"}},
			}},
			wantAdded: []warehouse.Binding{
				{Role: "projects/p/roles/custom", Members: []string{"user:c@example.com"}},
				{Role: editor, Members: []string{"serviceAccount:sa@p.iam.gserviceaccount.com"}},
				{Role: viewer, Members: []string{"group:g@example.com", "user:a@example.com", "user:z@example.com"}},
			},
		},
		{
			name: "existing bindings are kept, not replaced (reference §10.2 item 12)",
			table: warehouse.Policy{Bindings: []warehouse.Binding{
				{Role: viewer, Members: []string{"user:a@example.com"}},
			}},
			existing: warehouse.Policy{ETag: "BwX1", Bindings: []warehouse.Binding{
				{Role: owner, Members: []string{"serviceAccount:backfill@p.iam.gserviceaccount.com"}},
				{Role: viewer, Members: []string{"user:keep@example.com"}},
			}},
			wantMerged: warehouse.Policy{ETag: "BwX1", Bindings: []warehouse.Binding{
				{Role: owner, Members: []string{"serviceAccount:backfill@p.iam.gserviceaccount.com"}},
				{Role: viewer, Members: []string{"user:a@example.com", "user:keep@example.com"}},
			}},
			wantAdded: []warehouse.Binding{{Role: viewer, Members: []string{"user:a@example.com"}}},
		},
		{
			name: "nothing to add when the destination already has everything",
			table: warehouse.Policy{Bindings: []warehouse.Binding{
				{Role: viewer, Members: []string{"user:A@Example.com"}},
			}},
			access: []warehouse.AccessEntry{{Role: "WRITER", EntityType: "iamMember", Entity: "workgroup:def/x"}},
			existing: warehouse.Policy{ETag: "e", Bindings: []warehouse.Binding{
				{Role: editor, Members: []string{"workgroup:def/x"}},
				{Role: viewer, Members: []string{"user:a@example.com"}},
			}},
			wantMerged: warehouse.Policy{ETag: "e", Bindings: []warehouse.Binding{
				{Role: editor, Members: []string{"workgroup:def/x"}},
				{Role: viewer, Members: []string{"user:a@example.com"}},
			}},
		},
		{
			name: "deleted members of the source are not copied, duplicates collapse",
			table: warehouse.Policy{Bindings: []warehouse.Binding{
				{Role: viewer, Members: []string{"deleted:user:gone@example.com?uid=1", "user:b@example.com", "user:b@example.com"}},
			}},
			access: []warehouse.AccessEntry{{Role: "READER", EntityType: "userByEmail", Entity: "B@example.com"}},
			wantMerged: warehouse.Policy{Bindings: []warehouse.Binding{
				{Role: viewer, Members: []string{"user:b@example.com"}},
			}},
			wantAdded: []warehouse.Binding{{Role: viewer, Members: []string{"user:b@example.com"}}},
		},
		{
			name: "existing members with empty roles or members are dropped",
			existing: warehouse.Policy{Bindings: []warehouse.Binding{
				{Role: "", Members: []string{"user:x@example.com"}},
				{Role: viewer, Members: []string{"", "user:y@example.com"}},
				{Role: editor},
			}},
			wantMerged: warehouse.Policy{Bindings: []warehouse.Binding{
				{Role: viewer, Members: []string{"user:y@example.com"}},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			merged, added := warehouse.MirrorBindings(tt.table, tt.access, tt.existing)
			if !reflect.DeepEqual(merged, tt.wantMerged) {
				t.Errorf("merged = %+v\nwant     %+v", merged, tt.wantMerged)
			}
			if !reflect.DeepEqual(added, tt.wantAdded) {
				t.Errorf("added = %+v\nwant    %+v", added, tt.wantAdded)
			}
		})
	}
}

func TestMirrorBindingsDoesNotModifyInputs(t *testing.T) {
	table := warehouse.Policy{Bindings: []warehouse.Binding{{Role: "r", Members: []string{"user:b@x", "user:a@x"}}}}
	existing := warehouse.Policy{Bindings: []warehouse.Binding{{Role: "r", Members: []string{"user:d@x", "user:c@x"}}}}
	merged, _ := warehouse.MirrorBindings(table, nil, existing)
	if got := table.Bindings[0].Members; got[0] != "user:b@x" {
		t.Errorf("table policy reordered: %v", got)
	}
	if got := existing.Bindings[0].Members; got[0] != "user:d@x" {
		t.Errorf("existing policy reordered: %v", got)
	}
	merged.Bindings[0].Members[0] = "changed"
	if existing.Bindings[0].Members[0] == "changed" || table.Bindings[0].Members[0] == "changed" {
		t.Error("merged shares memory with an input")
	}
}

// F8: what cannot be granted on a table is left out and reported, so that
// one such grant does not fail the whole policy write: a conditional
// binding (read as version 3, or as a version-1 "_withcond_" role), a
// dataset- or project-level role, a member IAM does not accept. allUsers
// and allAuthenticatedUsers are accepted, as BigQuery does. The
// destination's own conditional bindings are kept.
func TestMirrorPolicySkips(t *testing.T) {
	cond := &warehouse.Condition{Title: "until 2025", Expression: `request.time < timestamp("2025-01-01T00:00:00Z")`}
	table := warehouse.Policy{Bindings: []warehouse.Binding{
		{Role: "roles/bigquery.dataViewer", Members: []string{"allUsers", "user:a@example.com"}},
		{Role: "roles/bigquery.dataViewer", Members: []string{"user:temp@example.com"}, Condition: cond},
		{Role: "roles/bigquery.dataViewer_withcond_6d1c0f5e", Members: []string{"user:old@example.com"}},
	}}
	access := []warehouse.AccessEntry{
		{Role: "roles/bigquery.user", EntityType: "userByEmail", Entity: "u@example.com"},
		{Role: "READER", EntityType: "iamMember", Entity: "workgroup:restricted/readers"},
		{Role: "READER", EntityType: "iamMember", Entity: "allAuthenticatedUsers"},
	}
	existing := warehouse.Policy{ETag: "e1", Bindings: []warehouse.Binding{
		{Role: "roles/bigquery.dataEditor", Members: []string{"user:dst@example.com"}, Condition: cond},
	}}
	m := warehouse.MirrorPolicy(table, access, existing)
	wantMerged := warehouse.Policy{ETag: "e1", Bindings: []warehouse.Binding{
		{Role: "roles/bigquery.dataViewer", Members: []string{"allAuthenticatedUsers", "allUsers", "user:a@example.com"}},
		{Role: "roles/bigquery.dataEditor", Members: []string{"user:dst@example.com"}, Condition: cond},
	}}
	if !reflect.DeepEqual(m.Merged, wantMerged) {
		t.Errorf("merged = %+v\nwant     %+v", m.Merged, wantMerged)
	}
	var skipped []string
	for _, s := range m.Skipped {
		skipped = append(skipped, s.Role+" "+s.Member)
		if s.Reason == "" {
			t.Errorf("skipped %s %s without a reason", s.Role, s.Member)
		}
	}
	want := []string{
		"roles/bigquery.dataViewer user:temp@example.com",
		"roles/bigquery.dataViewer_withcond_6d1c0f5e user:old@example.com",
		"roles/bigquery.user user:u@example.com",
		"roles/bigquery.dataViewer workgroup:restricted/readers",
	}
	if !reflect.DeepEqual(skipped, want) {
		t.Errorf("skipped = %q\nwant      %q", skipped, want)
	}
}
