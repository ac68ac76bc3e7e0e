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
	// Tokens are the credential types the route accepts, Clerk's
	// acceptsToken: nil is session tokens only (the SDK's default).
	Tokens Accepts
	// Scopes must all be among a machine token's scopes.
	Scopes []string
	// Features and Plans must all hold as Clerk's has({feature}) and
	// has({plan}) decide them, from the session token's fea and pla
	// claims ("export", "o:sso", "u:premium"; "org:", "user:" and
	// "organization:" are the SDK's other spellings).
	Features []string
	Plans    []string
	// Reverification, when set, must hold as has({ reverification })
	// decides it from the token's fva claim; else 403 with Clerk's
	// reverification error body.
	Reverification *clerk.Reverification
}

// RequiresOrganization reports whether the rule needs any organization data.
func (r *Rule) RequiresOrganization() bool {
	return len(r.Orgs) > 0 || len(r.Roles) > 0 || len(r.Permissions) > 0
}

// restricts reports whether the rule asks for more than a signed-in
// caller of an accepted type: what public=true cannot be combined with.
func (r *Rule) restricts() bool {
	return r.RequiresOrganization() || len(r.Scopes) > 0 || len(r.Features) > 0 || len(r.Plans) > 0 || r.Reverification != nil
}

// isScope reports whether s can be a Clerk scope in a rule: 1 to 256
// visible ASCII characters other than a comma, which separates the
// values of X-Auth-Scopes.
func isScope(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' || s[i] == ',' {
			return false
		}
	}
	return true
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
// operator writes in the proxy's configuration: org, role, permission,
// feature, plan, scope (each repeatable), token, reverification and
// public (README.md, "Per-route rules"). Unknown parameters and malformed values
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
	if r.Public && r.restricts() {
		return nil, fmt.Errorf("public=true cannot be combined with org, role, permission, feature, plan, reverification or scope")
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}

// check refuses combinations no request could satisfy.
func (r *Rule) check() error {
	if len(r.Scopes) > 0 && !r.Tokens.acceptsMachines() {
		return fmt.Errorf("scope applies to machine tokens, and this rule accepts only session tokens (add token=api_key, oauth_token, m2m_token or any)")
	}
	return nil
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
	case "token":
		for _, v := range strings.Split(value, ",") {
			if err := r.Tokens.add(strings.TrimSpace(v)); err != nil {
				return err
			}
		}
	case "feature", "plan":
		if !clerk.IsEntitlementName(value) {
			return fmt.Errorf("%s %q is not a Clerk %s name (export, o:sso, u:premium)", key, value, key)
		}
		if key == "feature" {
			r.Features = append(r.Features, value)
		} else {
			r.Plans = append(r.Plans, value)
		}
	case "reverification":
		rv, ok := clerk.ParseReverification(value)
		if !ok {
			return fmt.Errorf("reverification %q is not strict_mfa, strict, moderate, lax or <first_factor|second_factor|multi_factor>:<minutes>", value)
		}
		if r.Reverification != nil {
			return fmt.Errorf("reverification is given twice")
		}
		r.Reverification = &rv
	case "scope":
		if !isScope(value) {
			return fmt.Errorf("scope %q is not a scope (visible characters, no comma)", value)
		}
		r.Scopes = append(r.Scopes, value)
	case "public":
		switch value {
		case "true":
			r.Public = true
		case "false":
		default:
			return fmt.Errorf("public must be true or false, not %q", value)
		}
	default:
		return fmt.Errorf("unknown policy parameter %q (known: org, role, permission, feature, plan, reverification, scope, token, public)", key)
	}
	return nil
}
