package iamcheck_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/iamcheck"
)

// RoleHas answers for every service from the one table, for the basic
// dataset roles through the roles they stand for, and for custom roles
// from their definitions.
func TestRoleHas(t *testing.T) {
	custom := map[string][]string{"projects/p/roles/staging": {"bigquery.tables.getData"}}
	custom["READER"] = []string{"bigquery.tables.delete"} // a basic role cannot be redefined
	for _, tt := range []struct {
		role, perm string
		want       bool
	}{
		{"roles/bigquery.dataViewer", "bigquery.tables.getData", true},
		{"roles/bigquery.dataViewer", "bigquery.tables.updateData", false},
		{"roles/bigquery.jobUser", "bigquery.jobs.create", true},
		{"roles/bigquery.admin", "bigquery.tables.setIamPolicy", true},
		{"roles/bigquery.admin", "storage.objects.get", false},
		{"roles/storage.admin", "bigquery.tables.get", false},
		{"roles/storage.objectViewer", "storage.objects.get", true},
		{"READER", "bigquery.tables.getData", true},
		{"READER", "bigquery.tables.delete", false},
		{"WRITER", "bigquery.tables.updateData", true},
		{"WRITER", "bigquery.datasets.setIamPolicy", false},
		{"OWNER", "bigquery.datasets.setIamPolicy", true},
		{"reader", "bigquery.tables.getData", false}, // access lists spell them in capitals
		{"projects/p/roles/staging", "bigquery.tables.getData", true},
		{"projects/p/roles/staging", "bigquery.tables.get", false},
		{"projects/p/roles/undefined", "bigquery.tables.get", false},
		{"roles/bigquery.notARole", "bigquery.tables.get", false},
	} {
		if got := iamcheck.RoleHas(tt.role, tt.perm, custom); got != tt.want {
			t.Errorf("RoleHas(%s, %s) = %v, want %v", tt.role, tt.perm, got, tt.want)
		}
	}
	for basic, role := range iamcheck.BasicDatasetRoles {
		if _, ok := iamcheck.Roles[role]; !ok {
			t.Errorf("basic dataset role %s stands for %s, which Roles does not hold", basic, role)
		}
	}
}

func TestMemberIs(t *testing.T) {
	const who = "sa@p.iam.gserviceaccount.com"
	for _, tt := range []struct {
		member, principal string
		want              bool
	}{
		{"serviceAccount:" + who, who, true},
		{"serviceAccount:SA@p.iam.gserviceaccount.com", who, true},
		{"user:" + who, who, true},
		{"serviceAccount:other@p.iam.gserviceaccount.com", who, false},
		{"group:" + who, who, false},
		{"domain:" + who, who, false},
		{"allUsers", "", true},
		{"allAuthenticatedUsers", who, true},
		{"allAuthenticatedUsers", "", false},
		{"serviceAccount:", "", false},
		{who, who, false},
	} {
		if got := iamcheck.MemberIs(tt.member, tt.principal); got != tt.want {
			t.Errorf("MemberIs(%q, %q) = %v, want %v", tt.member, tt.principal, got, tt.want)
		}
	}
}

// permissionTableRE finds a role mapped to a literal list of permissions:
// the shape of a second table of roles.
var permissionTableRE = regexp.MustCompile(`"(roles/[A-Za-z0-9_.]+|READER|WRITER|OWNER)"\s*:\s*(\[\]string)?\{\s*"[a-z]+\.`)

// Roles is the only table of what predefined roles allow: the BigQuery
// fake, the IAM checks here and terraform's IAM model all read it, so a
// second table (which would drift from it, as bqfake's and terraform's
// once did) fails here.
func TestRolesOneTable(t *testing.T) {
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	self := filepath.Join(root, "shared", "iamcheck", "roles.go")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || path == self {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if m := permissionTableRE.Find(src); m != nil {
			t.Errorf("%s lists a role's permissions (%.40q...): read them from iamcheck.Roles (iamcheck.Permissions, iamcheck.RoleHas) instead", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The guard itself: it finds the table it protects.
	src, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if !permissionTableRE.Match(src) {
		t.Errorf("permissionTableRE finds nothing in %s: it no longer recognises a table of roles", self)
	}
}
