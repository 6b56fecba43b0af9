package warehouse

import (
	"fmt"
	"sort"
	"strings"
)

// Legacy dataset roles and the table IAM roles that stand for them when
// permissions are mirrored onto a table (reference §5.4).
var legacyRoles = map[string]string{
	"READER": "roles/bigquery.dataViewer",
	"WRITER": "roles/bigquery.dataEditor",
	"OWNER":  "roles/bigquery.dataOwner",
}

// AccessBinding turns one dataset access entry into the table IAM role and
// member that grant the same access, as bqetl's --copy-table-permissions
// does (reference §5.4):
//
//   - role: READER, WRITER and OWNER become roles/bigquery.dataViewer,
//     dataEditor and dataOwner; any other role (an IAM role) is kept;
//   - member: userByEmail becomes "user:<email>", or "serviceAccount:<email>"
//     when the email ends in gserviceaccount.com; groupByEmail becomes
//     "group:"; domain becomes "domain:"; iamMember is kept as written
//     (for example "workgroup:def/data-viewers").
//
// ok is false for entries that are not mirrored: specialGroup (granted at
// the project level already), view, routine and dataset (authorised
// resources, not principals), unknown entity types, and entries with an
// empty role or entity.
func AccessBinding(e AccessEntry) (role, member string, ok bool) {
	entity := strings.TrimSpace(e.Entity)
	role = strings.TrimSpace(e.Role)
	if entity == "" || role == "" {
		return "", "", false
	}
	if r, legacy := legacyRoles[strings.ToUpper(role)]; legacy {
		role = r
	}
	switch e.EntityType {
	case "userByEmail":
		if strings.HasSuffix(strings.ToLower(entity), "gserviceaccount.com") {
			return role, "serviceAccount:" + entity, true
		}
		return role, "user:" + entity, true
	case "groupByEmail":
		return role, "group:" + entity, true
	case "domain":
		return role, "domain:" + entity, true
	case "iamMember":
		return role, entity, true
	}
	return "", "", false
}

// MirrorBindings computes the IAM policy that gives a destination table
// (staging or backup) the access its source has: the bindings of the
// source table's policy plus the source dataset's access entries turned
// into bindings (AccessBinding), grouped by role (reference §5.4).
//
// Unlike bqetl, which replaces the destination's bindings with that union
// (reference §10.2 item 12), the result is MERGED with existing, the
// destination's current policy: nothing the destination already grants is
// dropped. merged carries existing.ETag so that writing it back is a
// compare-and-swap. added lists, per role, the members merged grants that
// existing did not; it is empty when there is nothing to write.
//
// Members of the source table's policy prefixed "deleted:" (principals
// that no longer exist) are not copied; the destination's own members are
// kept as they are. Duplicate members are dropped; user, group,
// serviceAccount and domain members compare case-insensitively. The output
// is deterministic: bindings sorted by role, members sorted within a role.
// The function is pure: its inputs are not modified.
func MirrorBindings(table Policy, datasetAccess []AccessEntry, existing Policy) (merged Policy, added []Binding) {
	m := MirrorPolicy(table, datasetAccess, existing)
	return m.Merged, m.Added
}

// Mirror is the outcome of MirrorPolicy.
type Mirror struct {
	Merged  Policy    // the policy to write (carries existing's etag)
	Added   []Binding // per role, the members Merged grants that existing did not
	Skipped []Skipped // grants of the source that cannot be given to a table
}

// Skipped is a grant that is not mirrored, and why.
type Skipped struct {
	Role, Member, Reason string
}

// tableRoles are the predefined roles BigQuery lets you grant on a table
// or view ("Lowest-level resources where you can grant this role: Table",
// https://cloud.google.com/iam/docs/roles-permissions/bigquery). Dataset-
// and project-level roles such as roles/bigquery.user or jobUser are
// refused by tables.setIamPolicy. Custom roles (projects/*/roles/*,
// organizations/*/roles/*) are passed on: whether their permissions apply
// to a table is for BigQuery to say.
var tableRoles = map[string]bool{
	"roles/bigquery.admin":          true,
	"roles/bigquery.dataOwner":      true,
	"roles/bigquery.dataEditor":     true,
	"roles/bigquery.dataViewer":     true,
	"roles/bigquery.metadataViewer": true,
}

// principalPrefixes are the member forms IAM accepts in a table policy.
var principalPrefixes = []string{"user:", "group:", "serviceAccount:", "domain:", "principal:", "principalSet:"}

// TableGrantable says whether a binding of role to member can be written
// into a table's IAM policy, and if not, why.
func TableGrantable(role, member string) (bool, string) {
	switch {
	case strings.Contains(role, "_withcond_"):
		return false, "a conditional binding read as policy version 1; conditions are not mirrored"
	case strings.HasPrefix(role, "projects/") || strings.HasPrefix(role, "organizations/"):
	case !tableRoles[role]:
		return false, "the role cannot be granted on a table (only on a dataset or project)"
	}
	if member == "allUsers" || member == "allAuthenticatedUsers" {
		return true, ""
	}
	for _, p := range principalPrefixes {
		if strings.HasPrefix(member, p) {
			return true, ""
		}
	}
	return false, "not a principal IAM accepts in a table policy"
}

// MirrorPolicy is MirrorBindings that also reports what it leaves out:
// conditional bindings of the source table (their conditions are not
// copied, and granting them without would widen access), roles that cannot
// be granted on a table, and members IAM does not accept there. Left out,
// they cannot fail the whole write; the caller says so. The destination's
// own conditional bindings are kept as they are.
func MirrorPolicy(table Policy, datasetAccess []AccessEntry, existing Policy) Mirror {
	var out Mirror
	have := newRoleSet()
	var keepConditional []Binding
	for _, b := range existing.Bindings {
		if b.Condition != nil {
			keepConditional = append(keepConditional, b)
			continue
		}
		for _, m := range b.Members {
			have.add(b.Role, m)
		}
	}
	want := newRoleSet()
	consider := func(role, member, conditional string) {
		if conditional != "" {
			out.Skipped = append(out.Skipped, Skipped{Role: role, Member: member, Reason: conditional})
			return
		}
		if ok, why := TableGrantable(role, member); !ok {
			out.Skipped = append(out.Skipped, Skipped{Role: role, Member: member, Reason: why})
			return
		}
		want.add(role, member)
	}
	for _, b := range table.Bindings {
		cond := ""
		if b.Condition != nil {
			cond = fmt.Sprintf("a conditional binding (%q); conditions are not mirrored", b.Condition.Title)
		}
		for _, m := range b.Members {
			if strings.HasPrefix(m, "deleted:") {
				continue
			}
			consider(b.Role, m, cond)
		}
	}
	for _, e := range datasetAccess {
		if role, member, ok := AccessBinding(e); ok {
			consider(role, member, "")
		}
	}

	all := newRoleSet()
	for _, b := range have.bindings() {
		for _, m := range b.Members {
			all.add(b.Role, m)
		}
	}
	fresh := newRoleSet()
	for _, b := range want.bindings() {
		for _, m := range b.Members {
			if !have.has(b.Role, m) {
				fresh.add(b.Role, m)
				all.add(b.Role, m)
			}
		}
	}
	out.Merged = Policy{Bindings: append(all.bindings(), keepConditional...), ETag: existing.ETag}
	out.Added = fresh.bindings()
	return out
}

// roleSet is a set of members per role that remembers the first spelling of
// each member.
type roleSet struct {
	members map[string]map[string]string // role -> member key -> member
}

func newRoleSet() *roleSet { return &roleSet{members: map[string]map[string]string{}} }

func (s *roleSet) add(role, member string) {
	role, member = strings.TrimSpace(role), strings.TrimSpace(member)
	if role == "" || member == "" {
		return
	}
	ms := s.members[role]
	if ms == nil {
		ms = map[string]string{}
		s.members[role] = ms
	}
	k := memberKey(member)
	if _, ok := ms[k]; !ok {
		ms[k] = member
	}
}

func (s *roleSet) has(role, member string) bool {
	_, ok := s.members[strings.TrimSpace(role)][memberKey(strings.TrimSpace(member))]
	return ok
}

// bindings returns the set as bindings sorted by role, members sorted.
func (s *roleSet) bindings() []Binding {
	var out []Binding
	for role, ms := range s.members {
		if len(ms) == 0 {
			continue
		}
		b := Binding{Role: role}
		for _, m := range ms {
			b.Members = append(b.Members, m)
		}
		sort.Strings(b.Members)
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Role < out[j].Role })
	return out
}

// memberKey is the identity of an IAM member: email-like principals compare
// case-insensitively, everything else exactly.
func memberKey(m string) string {
	kind, id, ok := strings.Cut(m, ":")
	if !ok {
		return m
	}
	switch kind {
	case "user", "group", "serviceAccount", "domain":
		return kind + ":" + strings.ToLower(id)
	}
	return m
}
