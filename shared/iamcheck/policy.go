package iamcheck

import (
	"strings"
	"sync"
)

// Resource names follow IAM's full resource names, without the service
// host: projects/P, projects/_/buckets/B, projects/P/topics/T,
// projects/P/subscriptions/S, projects/P/locations/L/jobs/J.

// Project is a project's resource name.
func Project(id string) string { return "projects/" + id }

// Bucket is a bucket's resource name.
func Bucket(name string) string { return "projects/_/buckets/" + name }

// Policy is who holds which role on which resource. A grant on a project
// holds on every resource in it: a bucket's project is set by SetParent
// (bucket names are global); other names start with their project. The
// zero value is empty; a Policy is safe for concurrent use.
type Policy struct {
	mu      sync.RWMutex
	grants  map[string][][2]string // resource -> (role, member)
	custom  map[string][]string
	parents map[string]string
}

// Grant gives member ("serviceAccount:x@...", "user:...", "allUsers")
// role on resource.
func (p *Policy) Grant(resource, role, member string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.grants == nil {
		p.grants = map[string][][2]string{}
	}
	p.grants[resource] = append(p.grants[resource], [2]string{role, member})
}

// DefineRole defines a custom role by its permissions.
func (p *Policy) DefineRole(name string, permissions []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.custom == nil {
		p.custom = map[string][]string{}
	}
	p.custom[name] = append([]string(nil), permissions...)
}

// SetParent records the project a bucket belongs to.
func (p *Policy) SetParent(resource, project string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.parents == nil {
		p.parents = map[string]string{}
	}
	p.parents[resource] = project
}

// Allowed says whether principal (an email) holds perm on resource,
// through a grant on it or on its project.
func (p *Policy) Allowed(principal, perm, resource string) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, r := range []string{resource, p.parentOf(resource)} {
		for _, g := range p.grants[r] {
			if MemberIs(g[1], principal) && RoleHas(g[0], perm, p.custom) {
				return true
			}
		}
	}
	return false
}

func (p *Policy) parentOf(resource string) string {
	if parent, ok := p.parents[resource]; ok {
		return parent
	}
	if rest, ok := strings.CutPrefix(resource, "projects/"); ok {
		if id, _, nested := strings.Cut(rest, "/"); nested && id != "_" {
			return Project(id)
		}
	}
	return ""
}

// MemberIs says whether an IAM member ("user:x", "serviceAccount:x",
// "allUsers", ...) names principal, an email. Groups and domains are not
// resolved: no principal here belongs to one.
func MemberIs(member, principal string) bool {
	switch member {
	case "allUsers":
		return true
	case "allAuthenticatedUsers":
		return principal != ""
	}
	kind, id, ok := strings.Cut(member, ":")
	return ok && principal != "" && kind != "group" && kind != "domain" && strings.EqualFold(id, principal)
}
