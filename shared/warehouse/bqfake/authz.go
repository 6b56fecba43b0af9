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
)

// Permissions. With EnforceIAM on, every call is authorised as BigQuery
// does: the caller is the principal whose email is the request's bearer
// token (ClientOptionsAs); its roles come from the project's grants
// (GrantProject), the dataset's access entries and the table's IAM policy
// (a table inherits its dataset's, a dataset its project's); a role's
// permissions come from rolePermissions (or DefineRole). A call without
// the permission answers 403 accessDenied with BigQuery's wording, naming
// the permission; a job that reads or writes a table it may not fails with
// an accessDenied job error. Groups are not resolved (no principal is a
// member of a group), nor are basic roles or specialGroup entries other
// than allAuthenticatedUsers.

// rolePermissions are the BigQuery permissions of the predefined roles the
// deployment uses, as far as the fake checks them. Source: Google Cloud,
// "BigQuery roles and permissions",
// https://cloud.google.com/iam/docs/roles-permissions/bigquery (the roles'
// permission lists; routines, models, connections, reservations and the
// like left out). READER, WRITER and OWNER are the legacy dataset roles
// BigQuery stores in access lists for dataViewer, dataEditor and
// dataOwner (https://cloud.google.com/bigquery/docs/access-control-basic-roles).
var rolePermissions = map[string][]string{
	"roles/bigquery.dataViewer": {
		"bigquery.datasets.get", "bigquery.datasets.getIamPolicy",
		"bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.getIamPolicy", "bigquery.tables.list",
		"bigquery.tables.createSnapshot", "bigquery.tables.export",
	},
	"roles/bigquery.dataEditor": {
		"bigquery.datasets.create", "bigquery.datasets.get", "bigquery.datasets.getIamPolicy",
		"bigquery.tables.create", "bigquery.tables.createSnapshot", "bigquery.tables.delete", "bigquery.tables.export",
		"bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.getIamPolicy", "bigquery.tables.list",
		"bigquery.tables.restoreSnapshot", "bigquery.tables.update", "bigquery.tables.updateData", "bigquery.tables.updateTag",
	},
	"roles/bigquery.dataOwner": {
		"bigquery.datasets.create", "bigquery.datasets.delete", "bigquery.datasets.get", "bigquery.datasets.getIamPolicy",
		"bigquery.datasets.setIamPolicy", "bigquery.datasets.update", "bigquery.datasets.updateTag",
		"bigquery.tables.create", "bigquery.tables.createSnapshot", "bigquery.tables.delete", "bigquery.tables.deleteSnapshot",
		"bigquery.tables.export", "bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.getIamPolicy",
		"bigquery.tables.list", "bigquery.tables.restoreSnapshot", "bigquery.tables.setCategory", "bigquery.tables.setIamPolicy",
		"bigquery.tables.update", "bigquery.tables.updateData", "bigquery.tables.updateTag",
	},
	"roles/bigquery.metadataViewer": {
		"bigquery.datasets.get", "bigquery.datasets.getIamPolicy", "bigquery.tables.get", "bigquery.tables.getIamPolicy", "bigquery.tables.list",
	},
	"roles/bigquery.user": {
		"bigquery.datasets.create", "bigquery.datasets.get", "bigquery.datasets.getIamPolicy",
		"bigquery.jobs.create", "bigquery.jobs.list", "bigquery.readsessions.create", "bigquery.tables.list",
	},
	"roles/bigquery.jobUser": {"bigquery.jobs.create"},
	// roles/bigquery.admin holds every bigquery.* permission (see has).
	"roles/bigquery.admin": {"bigquery.*"},
}

func init() {
	rolePermissions["READER"] = rolePermissions["roles/bigquery.dataViewer"]
	rolePermissions["WRITER"] = rolePermissions["roles/bigquery.dataEditor"]
	rolePermissions["OWNER"] = rolePermissions["roles/bigquery.dataOwner"]
}

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

// permsOf returns the permissions of a role. Callers hold s.mu.
func (s *Server) permsOf(role string) []string {
	if p, ok := rolePermissions[role]; ok {
		return p
	}
	return s.customRoles[role]
}

func (s *Server) roleHas(role, perm string) bool {
	for _, p := range s.permsOf(role) {
		if p == perm || (strings.HasSuffix(p, ".*") && strings.HasPrefix(perm, strings.TrimSuffix(p, "*"))) {
			return true
		}
	}
	return false
}

// memberIs says whether an IAM member names the principal email.
func memberIs(member, email string) bool {
	if member == "allUsers" || (member == "allAuthenticatedUsers" && email != "") {
		return true
	}
	_, id, ok := strings.Cut(member, ":")
	return ok && email != "" && strings.EqualFold(id, email) && !strings.HasPrefix(member, "group:") && !strings.HasPrefix(member, "domain:")
}

// accessIs says whether a dataset access entry names the principal.
func accessIs(a *bq.DatasetAccess, email string) bool {
	switch {
	case a.UserByEmail != "":
		return email != "" && strings.EqualFold(a.UserByEmail, email)
	case a.IamMember != "":
		return memberIs(a.IamMember, email)
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
		if memberIs(g[1], email) && s.roleHas(g[0], perm) {
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
		if accessIs(a, email) && s.roleHas(a.Role, perm) {
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
			if memberIs(m, email) && s.roleHas(b.Role, perm) {
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
