package clerk

import (
	"encoding/json"
	"strconv"
	"strings"
)

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

// FactorAge is the "fva" claim: minutes since the session's user last
// verified a first factor and a second factor, -1 for never. Valid is
// false for anything but an array of two such numbers, which the SDK's
// has({ reverification }) refuses (checkReverificationAuthorization).
type FactorAge struct {
	First, Second float64
	Valid         bool
}

// validFactorAge is the SDK's isValidFactorAge.
func validFactorAge(f float64) bool { return isFinite(f) && (f == -1 || f >= 0) }

// UnmarshalJSON reads fva as the claims decoder does (for encoding/json
// users of Claims, and the decoder's differential test): never an error.
func (a *FactorAge) UnmarshalJSON(b []byte) error {
	*a = FactorAge{}
	var raw []json.RawMessage
	if json.Unmarshal(b, &raw) != nil || len(raw) != 2 {
		return nil
	}
	var ages [2]float64
	for i, e := range raw {
		if len(e) == 0 || (e[0] != '-' && (e[0] < '0' || e[0] > '9')) || json.Unmarshal(e, &ages[i]) != nil || !validFactorAge(ages[i]) {
			return nil
		}
	}
	*a = FactorAge{First: ages[0], Second: ages[1], Valid: true}
	return nil
}

// factorAgeValue reads "fva" at the cursor, inside an object at depth.
func (r *jsonReader) factorAgeValue(depth int) (FactorAge, error) {
	if r.peek() != '[' {
		return FactorAge{}, r.skip(depth)
	}
	r.i++
	var ages [2]float64
	n, ok := 0, true
	for first := true; ; first = false {
		more, err := r.nextElem(first)
		if err != nil {
			return FactorAge{}, err
		}
		if !more {
			break
		}
		if c := r.peek(); c != '-' && (c < '0' || c > '9') {
			ok = false
			if err := r.skip(depth + 1); err != nil {
				return FactorAge{}, err
			}
			continue
		}
		text, err := r.number()
		if err != nil {
			return FactorAge{}, err
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil || !validFactorAge(f) || n == len(ages) {
			ok = false
			continue
		}
		ages[n] = f
		n++
	}
	if !ok || n != len(ages) {
		return FactorAge{}, nil
	}
	return FactorAge{First: ages[0], Second: ages[1], Valid: true}, nil
}
