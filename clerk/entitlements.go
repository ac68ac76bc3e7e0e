package clerk

import "strings"

// The scopes a feature or plan rule may name, as @clerk/shared
// authorization.ts (checkForFeatureOrPlan) accepts them.
var (
	orgScopes  = []string{"o", "org", "organization"}
	userScopes = []string{"u", "user"}
)

// IsEntitlementName reports whether want can be asked of has({feature})
// or has({plan}): an identifier, optionally after one scope the SDK knows
// (o, org, organization, u, user) and a colon. Anything else makes the
// SDK's check throw, so it is a configuration error here.
func IsEntitlementName(want string) bool {
	scope, id, explicit := strings.Cut(want, ":")
	if !explicit {
		return IsIdentifier(want)
	}
	return (inList(orgScopes, scope) || inList(userScopes, scope)) && IsIdentifier(id)
}

// HasEntitlement is has({feature}) or has({plan}) on the token's "fea" or
// "pla" claim (claim), for a name IsEntitlementName accepts: the claim's
// entries are "scope:name", scope "o" (the active organization's), "u"
// (the user's) or "ou"/"uo" (both); a name with an organization scope
// must be among the organization's, with a user scope among the user's,
// without a scope among either. An empty claim, or one with an entry
// without a colon (the SDK throws on it and has() is false), holds
// nothing.
func HasEntitlement(claim, want string) bool {
	if claim == "" {
		return false
	}
	scope, id, explicit := strings.Cut(want, ":")
	if !explicit {
		id = want
	}
	wantOrg := !explicit || inList(orgScopes, scope)
	wantUser := !explicit || inList(userScopes, scope)
	found := false
	for part := range strings.SplitSeq(claim, ",") {
		part = strings.TrimSpace(part)
		s, value, ok := strings.Cut(part, ":")
		if !ok {
			return false // splitByScope throws: has() fails
		}
		if value != id {
			continue
		}
		switch s {
		case "o":
			found = found || wantOrg
		case "u":
			found = found || wantUser
		case "ou", "uo":
			found = found || wantOrg || wantUser
		}
	}
	return found
}

func inList(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
