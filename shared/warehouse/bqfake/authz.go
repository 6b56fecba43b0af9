package bqfake

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/oauth2"
	bq "google.golang.org/api/bigquery/v2"
	"google.golang.org/api/option"

	"github.com/bqbackfill/bqbackfill/shared/iamcheck"
)

// Permissions. With EnforceIAM on, every call is authorised as BigQuery
// does: the caller is the principal whose email is the request's bearer
// token (ClientOptionsAs); its roles come from the project's grants
// (GrantProject), the dataset's access entries and the table's IAM policy
// (a table inherits its dataset's, a dataset its project's); a role's
// permissions come from iamcheck.Roles, the one table of predefined roles
// (READER, WRITER and OWNER in access lists standing for dataViewer,
// dataEditor and dataOwner), or from DefineRole. A call without
// the permission answers 403 accessDenied with BigQuery's wording, naming
// the permission; a job that reads or writes a table it may not fails with
// an accessDenied job error. Groups are not resolved (no principal is a
// member of a group), nor are basic roles or specialGroup entries other
// than allAuthenticatedUsers.

// ClientOptionsAs point a BigQuery client at the fake as the principal
// email (a service account or user): the email is sent as the bearer
// token.
func (s *Server) ClientOptionsAs(email string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(s.Endpoint()),
		option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: email, TokenType: "Bearer"})),
	}
}

// EnforceIAM turns permission checks on or off (off by default).
func (s *Server) EnforceIAM(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enforce = on
}

// GrantProject grants role to member ("serviceAccount:x@...", "user:...")
// on a project, as a project IAM binding does.
func (s *Server) GrantProject(project, role, member string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.projectGrants == nil {
		s.projectGrants = map[string][][2]string{}
	}
	s.projectGrants[project] = append(s.projectGrants[project], [2]string{role, member})
}

// DefineRole defines a custom role ("projects/p/roles/x") by its
// permissions.
func (s *Server) DefineRole(name string, permissions []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.customRoles == nil {
		s.customRoles = map[string][]string{}
	}
	s.customRoles[name] = append([]string(nil), permissions...)
}

// principalOf is the email in a request's bearer token ("" without one).
func principalOf(req *http.Request) string {
	h := req.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

// accessIs says whether a dataset access entry names the principal.
func accessIs(a *bq.DatasetAccess, email string) bool {
	switch {
	case a.UserByEmail != "":
		return email != "" && strings.EqualFold(a.UserByEmail, email)
	case a.IamMember != "":
		return iamcheck.MemberIs(a.IamMember, email)
	case a.SpecialGroup == "allAuthenticatedUsers":
		return email != ""
	}
	return false
}

// can says whether email holds perm on the project, dataset ("" = the
// project) or table ("" = the dataset). Callers hold s.mu.
func (s *Server) can(email, perm, project, ds, table string) bool {
	if !s.enforce {
		return true
	}
	for _, g := range s.projectGrants[project] {
		if iamcheck.MemberIs(g[1], email) && iamcheck.RoleHas(g[0], perm, s.customRoles) {
			return true
		}
	}
	if ds == "" {
		return false
	}
	d := s.dataset(project, ds)
	if d == nil {
		return false
	}
	for _, a := range d.meta.Access {
		if accessIs(a, email) && iamcheck.RoleHas(a.Role, perm, s.customRoles) {
			return true
		}
	}
	if table == "" {
		return false
	}
	base, _ := splitDecorator(table)
	t := s.table(project, ds, base)
	if t == nil || t.policy == nil {
		return false
	}
	for _, b := range t.policy.Bindings {
		if b.Condition != nil {
			continue // conditions are not evaluated: never granted
		}
		for _, m := range b.Members {
			if iamcheck.MemberIs(m, email) && iamcheck.RoleHas(b.Role, perm, s.customRoles) {
				return true
			}
		}
	}
	return false
}

// denied is BigQuery's 403 for a missing permission on a resource.
func denied(perm, project, ds, table string) *httpError {
	switch {
	case table != "":
		base, _ := splitDecorator(table)
		name := project + ":" + ds + "." + base
		return &httpError{http.StatusForbidden, "accessDenied", fmt.Sprintf("Access Denied: Table %s: Permission %s denied on table %s (or it may not exist).", name, perm, name)}
	case ds != "":
		name := project + ":" + ds
		return &httpError{http.StatusForbidden, "accessDenied", fmt.Sprintf("Access Denied: Dataset %s: Permission %s denied on dataset %s (or it may not exist).", name, perm, name)}
	}
	return &httpError{http.StatusForbidden, "accessDenied", fmt.Sprintf("Access Denied: Project %s: User does not have %s permission in project %s.", project, perm, project)}
}

// require is can, answering denied. Callers hold s.mu.
func (s *Server) require(email, perm, project, ds, table string) *httpError {
	if s.can(email, perm, project, ds, table) {
		return nil
	}
	return denied(perm, project, ds, table)
}

// jobDenied turns a denial into a job error.
func jobDenied(h *httpError) *bq.ErrorProto {
	return &bq.ErrorProto{Reason: h.reason, Message: h.message}
}

// authorizeCall checks the permission a metadata call needs. Jobs are
// checked where they run (jobs.go). Callers hold s.mu.
func (s *Server) authorizeCall(rt route) *httpError {
	if !s.enforce {
		return nil
	}
	base, _ := splitDecorator(rt.table)
	switch rt.op {
	case "datasets.get":
		return s.require(rt.principal, "bigquery.datasets.get", rt.project, rt.dataset, "")
	case "datasets.insert":
		return s.require(rt.principal, "bigquery.datasets.create", rt.project, "", "")
	case "datasets.patch", "datasets.update":
		return s.require(rt.principal, "bigquery.datasets.update", rt.project, rt.dataset, "")
	case "datasets.delete":
		return s.require(rt.principal, "bigquery.datasets.delete", rt.project, rt.dataset, "")
	case "tables.get":
		return s.require(rt.principal, "bigquery.tables.get", rt.project, rt.dataset, base)
	case "tables.insert":
		return s.require(rt.principal, "bigquery.tables.create", rt.project, rt.dataset, "")
	case "tables.patch", "tables.update":
		return s.require(rt.principal, "bigquery.tables.update", rt.project, rt.dataset, base)
	case "tables.delete":
		return s.require(rt.principal, "bigquery.tables.delete", rt.project, rt.dataset, base)
	case "tables.getIamPolicy":
		return s.require(rt.principal, "bigquery.tables.getIamPolicy", rt.project, rt.dataset, base)
	case "tables.setIamPolicy":
		return s.require(rt.principal, "bigquery.tables.setIamPolicy", rt.project, rt.dataset, base)
	case "jobs.insert", "jobs.query":
		return s.require(rt.principal, "bigquery.jobs.create", rt.project, "", "")
	}
	return nil
}

// tableRefRE finds fully qualified table names in SQL (backticks removed).
var tableRefRE = regexp.MustCompile(`\b([a-z][a-z0-9-]*[a-z0-9])\.([A-Za-z0-9_]+)\.([A-Za-z0-9_$*]+)\b`)

// authorizeReads checks bigquery.tables.getData on every existing table a
// query names with a fully qualified name (unqualified names resolved
// through the default dataset are not checked), and bigquery.tables.list
// on a dataset whose INFORMATION_SCHEMA it reads. Callers hold s.mu.
func (s *Server) authorizeReads(email, sql string) *bq.ErrorProto {
	if !s.enforce {
		return nil
	}
	ms := tableRefRE.FindAllStringSubmatch(strings.ReplaceAll(sql, "`", ""), -1)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i][0] < ms[j][0] })
	for _, m := range ms {
		project, ds, table := m[1], m[2], m[3]
		if strings.EqualFold(table, "INFORMATION_SCHEMA") {
			if !s.can(email, "bigquery.tables.list", project, ds, "") {
				return jobDenied(denied("bigquery.tables.list", project, ds, ""))
			}
			continue
		}
		if s.table(project, ds, table) == nil {
			continue
		}
		if !s.can(email, "bigquery.tables.getData", project, ds, table) {
			name := project + ":" + ds + "." + table
			return &bq.ErrorProto{Reason: "accessDenied", Message: fmt.Sprintf("Access Denied: Table %s: User does not have bigquery.tables.getData permission for table %s.", name, name)}
		}
	}
	return nil
}

// authorizeWrite checks that email may write a job's destination: create
// it in its dataset when it does not exist, update its data otherwise.
// Callers hold s.mu.
func (s *Server) authorizeWrite(email string, dest *bq.TableReference) *bq.ErrorProto {
	if !s.enforce || dest == nil {
		return nil
	}
	base, _ := splitDecorator(dest.TableId)
	if s.table(dest.ProjectId, dest.DatasetId, base) == nil {
		if h := s.require(email, "bigquery.tables.create", dest.ProjectId, dest.DatasetId, ""); h != nil {
			return jobDenied(h)
		}
		return nil
	}
	if h := s.require(email, "bigquery.tables.updateData", dest.ProjectId, dest.DatasetId, base); h != nil {
		return jobDenied(h)
	}
	return nil
}

// authorizeCopySource checks that email may read a copy's source.
// Callers hold s.mu.
func (s *Server) authorizeCopySource(email string, src *bq.TableReference) *bq.ErrorProto {
	if !s.enforce || src == nil {
		return nil
	}
	base, _ := splitDecorator(src.TableId)
	for _, perm := range []string{"bigquery.tables.get", "bigquery.tables.getData"} {
		if h := s.require(email, perm, src.ProjectId, src.DatasetId, base); h != nil {
			return jobDenied(h)
		}
	}
	return nil
}
