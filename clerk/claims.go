package clerk

import (
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
)

// Claims are the session-token claims the service reads. Unknown claims are
// ignored. A claim of the wrong JSON type makes the token token-invalid: we
// fail closed rather than guess.
type Claims struct {
	Issuer          string   `json:"iss"`
	Subject         string   `json:"sub"`
	SessionID       string   `json:"sid"`
	AuthorizedParty string   `json:"azp"`
	Expiry          *float64 `json:"exp"`
	NotBefore       *float64 `json:"nbf"`
	IssuedAt        *float64 `json:"iat"`
	Status          string   `json:"sts"`
	Actor           *Actor   `json:"act"`

	// Version is 2 for v2 tokens. A string "2" is not 2 (errata 18).
	Version json.RawMessage `json:"v"`

	// v1 organization claims (ignored in v2 tokens).
	OrgID          string   `json:"org_id"`
	OrgSlug        string   `json:"org_slug"`
	OrgRole        string   `json:"org_role"`
	OrgPermissions []string `json:"org_permissions"`

	// v2 organization and feature claims.
	Org      *OrgClaim `json:"o"`
	Features string    `json:"fea"`

	// activeOrg is ActiveOrganization computed once, for tokens in the
	// token cache (set before they are shared, never changed after).
	activeOrg *activeOrgResult
}

type activeOrgResult struct {
	org *ActiveOrganization
	err error
}

// Actor is the impersonator of an impersonated session.
type Actor struct {
	Subject   string `json:"sub"`
	Issuer    string `json:"iss"`
	SessionID string `json:"sid"`
	Type      string `json:"type"`
}

// OrgClaim is the v2 "o" claim: the active organization.
type OrgClaim struct {
	ID                   string `json:"id"`
	Slug                 string `json:"slg"`
	Role                 string `json:"rol"`
	Permissions          string `json:"per"`
	FeaturePermissionMap string `json:"fpm"`
}

// ActiveOrganization is the organization a session has selected, the same
// for v1 and v2 tokens.
type ActiveOrganization struct {
	ID          string
	Slug        string
	Role        string   // always "org:"-prefixed, "" when the token has none
	Permissions []string // "org:<feature>:<permission>"
}

func (c *Claims) unmarshal(payload []byte) error {
	*c = Claims{}
	return json.Unmarshal(payload, c)
}

// IsV2 reports a v2 session token ("v": 2, a JSON number).
func (c *Claims) IsV2() bool {
	return string(c.Version) == "2"
}

// Pending reports a session with unfinished tasks (sts: pending). Clerk's
// SDK treats it as signed out for authorization.
func (c *Claims) Pending() bool { return c.Status == "pending" }

// ActiveOrganization maps v1 or v2 organization claims the way
// @clerk/shared jwtPayloadParser does. It returns nil without an active
// organization and an error for a malformed "fea" claim (fail closed, as the
// SDK throws there).
func (c *Claims) ActiveOrganization() (*ActiveOrganization, error) {
	if m := c.activeOrg; m != nil {
		if m.org == nil {
			return nil, m.err
		}
		org := *m.org // callers get their own copy
		return &org, nil
	}
	return c.activeOrganization()
}

// memoizeActiveOrganization computes ActiveOrganization once. The
// permissions slice is clipped so that a caller's append copies it rather
// than writing into the shared array.
func (c *Claims) memoizeActiveOrganization() {
	org, err := c.activeOrganization()
	if org != nil {
		org.Permissions = slices.Clip(org.Permissions)
	}
	c.activeOrg = &activeOrgResult{org: org, err: err}
}

func (c *Claims) activeOrganization() (*ActiveOrganization, error) {
	if !c.IsV2() {
		if c.OrgID == "" {
			return nil, nil
		}
		return &ActiveOrganization{ID: c.OrgID, Slug: c.OrgSlug, Role: c.OrgRole, Permissions: c.OrgPermissions}, nil
	}
	if c.Org == nil {
		return nil, nil
	}
	org := &ActiveOrganization{ID: c.Org.ID, Slug: c.Org.Slug}
	if c.Org.Role != "" {
		org.Role = "org:" + c.Org.Role
	}
	features, err := orgScopedFeatures(c.Features)
	if err != nil {
		return nil, err
	}
	org.Permissions = decodePermissions(features, c.Org.Permissions, c.Org.FeaturePermissionMap)
	return org, nil
}

// orgScopedFeatures returns the names of the "fea" entries scoped to the
// organization (o, ou, uo), in order. An entry without a colon is an error.
func orgScopedFeatures(fea string) ([]string, error) {
	if fea == "" {
		return nil, nil
	}
	var org []string
	for _, part := range strings.Split(fea, ",") {
		part = strings.TrimSpace(part)
		scope, name, ok := strings.Cut(part, ":")
		if !ok {
			return nil, errors.New("invalid fea claim element (missing colon)")
		}
		switch scope {
		case "o", "ou", "uo":
			org = append(org, name)
		}
	}
	return org, nil
}

// decodePermissions applies the SDK's permission-bit algorithm: mask i (a
// decimal of any size) belongs to the i-th org-scoped feature; bit j set
// (least significant first) grants the j-th permission name.
func decodePermissions(features []string, per, fpm string) []string {
	if per == "" || fpm == "" || len(features) == 0 {
		return nil
	}
	perms := strings.Split(per, ",")
	for i := range perms {
		perms[i] = strings.TrimSpace(perms[i])
	}
	masks := strings.Split(fpm, ",")
	var out []string
	for i, feature := range features {
		if i >= len(masks) {
			break
		}
		mask, ok := parseMask(strings.TrimSpace(masks[i]))
		if !ok {
			continue // a malformed mask grants nothing
		}
		for j, perm := range perms {
			if mask.Bit(j) == 1 {
				out = append(out, "org:"+feature+":"+perm)
			}
		}
	}
	return out
}

func parseMask(s string) (*big.Int, bool) {
	if s == "" {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return nil, false
		}
	}
	return new(big.Int).SetString(s, 10)
}
