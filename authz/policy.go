package authz

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"unicode"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// Rule is what a route requires. The zero Rule means "signed in".
type Rule struct {
	// Public makes a session optional: 200 either way, identity headers
	// when a valid session is present.
	Public bool
	// Orgs must each be satisfied: the user is a member of the
	// organization (id "org_…" or slug) and holds every Role and
	// Permission in it. Without Orgs, Roles and Permissions apply to the
	// session's active organization. Everything listed must hold.
	Orgs        []string
	Roles       []string // "org:"-prefixed; all must hold
	Permissions []string // "org:<feature>:<permission>"; all must hold
}

// RequiresOrganization reports whether the rule needs any organization data.
func (r *Rule) RequiresOrganization() bool {
	return len(r.Orgs) > 0 || len(r.Roles) > 0 || len(r.Permissions) > 0
}

// isRoleKey reports whether s is a Clerk role key, with or without its
// "org:" prefix: [a-z0-9_-]{1,64}.
func isRoleKey(s string) bool {
	return isKeyPart(strings.TrimPrefix(s, "org:"))
}

// isPermissionKey reports whether s is org:<feature>:<permission>, each
// part [a-z0-9_-]{1,64}.
func isPermissionKey(s string) bool {
	rest, ok := strings.CutPrefix(s, "org:")
	if !ok {
		return false
	}
	feature, permission, ok := strings.Cut(rest, ":")
	return ok && isKeyPart(feature) && isKeyPart(permission)
}

// isKeyPart reports whether s is 1 to 64 of a-z, 0-9, '_' and '-': a
// lower-case Clerk identifier of at most 64 bytes.
func isKeyPart(s string) bool {
	return len(s) <= 64 && clerk.IsIdentifier(s) && !strings.ContainsFunc(s, unicode.IsUpper)
}

// NormalizeRole adds the single "org:" prefix Clerk's has() compares with.
func NormalizeRole(role string) string {
	if strings.HasPrefix(role, "org:") {
		return role
	}
	return "org:" + role
}

// ParseRuleQuery reads a rule from the auth URL's query string, which the
// operator writes in the proxy's configuration: org, role, permission
// (each repeatable) and public. Unknown parameters and malformed values
// are configuration errors, never a silent allow. An empty query yields
// nil (use the policy file).
func ParseRuleQuery(q url.Values) (*Rule, error) {
	if len(q) == 0 {
		return nil, nil
	}
	r := &Rule{}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range q[k] {
			if err := r.add(k, v); err != nil {
				return nil, err
			}
		}
	}
	if r.Public && r.RequiresOrganization() {
		return nil, fmt.Errorf("public=true cannot be combined with org, role or permission")
	}
	return r, nil
}

// add sets one key of the rule; the policy file shares it.
func (r *Rule) add(key, value string) error {
	switch key {
	case "org":
		if !clerk.IsIdentifier(value) {
			return fmt.Errorf("org %q is not an organization id or slug", value)
		}
		r.Orgs = append(r.Orgs, value)
	case "role":
		if !isRoleKey(value) {
			return fmt.Errorf("role %q is not a Clerk role key (e.g. org:admin)", value)
		}
		r.Roles = append(r.Roles, NormalizeRole(value))
	case "permission":
		if !isPermissionKey(value) {
			return fmt.Errorf("permission %q is not org:<feature>:<permission>", value)
		}
		r.Permissions = append(r.Permissions, value)
	case "public":
		switch value {
		case "true":
			r.Public = true
		case "false":
		default:
			return fmt.Errorf("public must be true or false, not %q", value)
		}
	default:
		return fmt.Errorf("unknown policy parameter %q (known: org, role, permission, public)", key)
	}
	return nil
}
