package clerk

import (
	"errors"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Claims are the session-token claims the service reads. Unknown claims are
// ignored. A claim of the wrong JSON type makes the token token-invalid: we
// fail closed rather than guess. The json tags document the claim names;
// decoding is by hand (jsondecode.go), with case-sensitive keys.
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
	// Audience is "aud", read only to compare with CLERK_JWT_AUDIENCE.
	Audience Audience `json:"aud"`

	// Version is the JSON text of "v", as in the token ("" when absent):
	// IsV2 needs its JSON type, since a string "2" is not 2
	// (@clerk/shared jwtPayloadParser.ts; docs/clerk-protocol.md erratum 18).
	Version string `json:"v"`

	// v1 organization claims (ignored in v2 tokens).
	OrgID          string   `json:"org_id"`
	OrgSlug        string   `json:"org_slug"`
	OrgRole        string   `json:"org_role"`
	OrgPermissions []string `json:"org_permissions"`

	// v2 organization and feature claims.
	Org      *OrgClaim `json:"o"`
	Features string    `json:"fea"`
	// Plans is "pla", the Billing plans ("u:free,o:pro"), read by plan rules.
	Plans string `json:"pla"`
	// FactorAge is "fva", read by reverification rules.
	FactorAge FactorAge `json:"fva"`

	// nullNotBefore and nullIssuedAt report an nbf or iat given as null:
	// NotBefore or IssuedAt is nil as when absent, but the SDK refuses
	// null (typeof null is not "number") where it skips an absent claim.
	nullNotBefore, nullIssuedAt bool
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

// tokenStore holds the values behind the pointer fields of one token's
// header and claims, so that they cost no allocation of their own: it
// lives in the decoded token's allocation (decodedJWT). The rare "act" (impersonation) has its own
// allocation, to keep every other token small.
type tokenStore struct {
	typ, cat      string
	exp, nbf, iat float64
	org           OrgClaim
}

// unmarshal decodes the payload JSON into c (see jsondecode.go).
func (c *Claims) unmarshal(payload string) error {
	return c.decode(payload, new(tokenStore))
}

func (c *Claims) decode(payload string, st *tokenStore) error {
	*c = Claims{}
	r := jsonReader{s: payload}
	m, err := r.members(1)
	for err == nil && r.member(&m, &err) {
		switch m.key {
		case "iss":
			c.Issuer, err = r.stringValue(m.key)
		case "sub":
			c.Subject, err = r.stringValue(m.key)
		case "sid":
			c.SessionID, err = r.stringValue(m.key)
		case "azp":
			c.AuthorizedParty, err = r.stringValue(m.key)
		case "aud":
			c.Audience, err = r.audienceValue(m.depth)
		case "exp":
			c.Expiry, err = r.numberValue(m.key, &st.exp)
		case "nbf":
			c.NotBefore, err = r.numberValue(m.key, &st.nbf)
			c.nullNotBefore = c.NotBefore == nil && err == nil
		case "iat":
			c.IssuedAt, err = r.numberValue(m.key, &st.iat)
			c.nullIssuedAt = c.IssuedAt == nil && err == nil
		case "sts":
			c.Status, err = r.stringValue(m.key)
		case "act":
			c.Actor = nil
			var ok bool
			if ok, err = r.objectValue(m.key); ok {
				c.Actor = new(Actor) // a repeated key replaces, as in JSON.parse
				err = c.Actor.decode(&r)
			}
		case "v":
			c.Version, err = r.raw(1)
		case "org_id":
			c.OrgID, err = r.stringValue(m.key)
		case "org_slug":
			c.OrgSlug, err = r.stringValue(m.key)
		case "org_role":
			c.OrgRole, err = r.stringValue(m.key)
		case "org_permissions":
			c.OrgPermissions, err = r.stringsValue(m.key)
		case "o":
			c.Org = nil
			var ok bool
			if ok, err = r.objectValue(m.key); ok {
				st.org = OrgClaim{} // a repeated key replaces, as in JSON.parse
				c.Org = &st.org
				err = st.org.decode(&r)
			}
		case "fea":
			c.Features, err = r.stringValue(m.key)
		case "pla":
			c.Plans, err = r.stringValue(m.key)
		case "fva":
			c.FactorAge, err = r.factorAgeValue(m.depth)
		default:
			err = r.skip(m.depth)
		}
		err = r.settle(&m, err)
	}
	return err
}

func (a *Actor) decode(r *jsonReader) error {
	m, err := r.members(2)
	for err == nil && r.member(&m, &err) {
		switch m.key {
		case "sub":
			a.Subject, err = r.stringValue(m.key)
		case "iss":
			a.Issuer, err = r.stringValue(m.key)
		case "sid":
			a.SessionID, err = r.stringValue(m.key)
		case "type":
			a.Type, err = r.stringValue(m.key)
		default:
			err = r.skip(m.depth)
		}
		err = r.settle(&m, err)
	}
	return err
}

// decode reads the keys with a switch, not a loop over a table of keys and
// fields: the switch compares short keys as integers, the loop calls
// memequal per candidate, which showed in DecodeJWT's time.
func (o *OrgClaim) decode(r *jsonReader) error {
	m, err := r.members(2)
	for err == nil && r.member(&m, &err) {
		switch m.key {
		case "id":
			o.ID, err = r.stringValue(m.key)
		case "slg":
			o.Slug, err = r.stringValue(m.key)
		case "rol":
			o.Role, err = r.stringValue(m.key)
		case "per":
			o.Permissions, err = r.stringValue(m.key)
		case "fpm":
			o.FeaturePermissionMap, err = r.stringValue(m.key)
		default:
			err = r.skip(m.depth)
		}
		err = r.settle(&m, err)
	}
	return err
}

// IsV2 reports a v2 session token: "v" is a JSON number equal to 2, which
// is what the SDK's switch (claims.v) { case 2: } tests, so 2.0 and 2e0 are
// 2 too; a string "2" is not.
func (c *Claims) IsV2() bool {
	if c.Version == "2" {
		return true
	}
	if c.Version == "" || c.Version[0] < '0' || c.Version[0] > '9' {
		return false // absent, a string, a negative number, or another type
	}
	f, err := strconv.ParseFloat(c.Version, 64)
	return err == nil && f == 2
}

// ActiveOrganization maps v1 or v2 organization claims the way
// @clerk/shared jwtPayloadParser does. It returns nil without an active
// organization and an error for a malformed "fea" claim (fail closed, as the
// SDK throws there). Verifier.Verify computes it once per token, into the
// Session.
func (c *Claims) ActiveOrganization() (*ActiveOrganization, error) {
	org := new(ActiveOrganization)
	if ok, err := c.fillActiveOrganization(org); !ok {
		return nil, err
	}
	return org, nil
}

// fillActiveOrganization sets *org and reports whether there is one.
func (c *Claims) fillActiveOrganization(org *ActiveOrganization) (bool, error) {
	if !c.IsV2() {
		if c.OrgID == "" {
			return false, nil
		}
		*org = ActiveOrganization{ID: c.OrgID, Slug: c.OrgSlug, Role: c.OrgRole, Permissions: c.OrgPermissions}
		return true, nil
	}
	if c.Org == nil {
		return false, nil
	}
	if err := checkFeatures(c.Features); err != nil {
		return false, err
	}
	*org = ActiveOrganization{ID: c.Org.ID, Slug: c.Org.Slug}
	org.Role, org.Permissions = roleAndPermissions(c.Org.Role, c.Features, c.Org.Permissions, c.Org.FeaturePermissionMap)
	return true, nil
}

// checkFeatures refuses a "fea" claim with an entry without a colon, where
// the SDK's splitByScope throws.
func checkFeatures(fea string) error {
	if fea == "" {
		return nil
	}
	for rest, more := fea, true; more; {
		var part string
		part, rest, more = strings.Cut(rest, ",")
		if !strings.Contains(part, ":") {
			return errors.New("invalid fea claim element (missing colon)")
		}
	}
	return nil
}

// roleAndPermissions builds the "org:"-prefixed role and the permission
// names in one buffer: three allocations in all (the buffer, the slice and
// the caller's struct) however many permissions there are.
func roleAndPermissions(rol, fea, per, fpm string) (string, []string) {
	n, size := 0, 0
	if rol != "" {
		size = len("org:") + len(rol)
	}
	forEachPermission(fea, per, fpm, func(feature, perm string) {
		n++
		size += len("org:") + len(feature) + len(":") + len(perm)
	})
	var b strings.Builder
	b.Grow(size)
	var role string
	if rol != "" {
		b.WriteString("org:")
		b.WriteString(rol)
		role = b.String()
	}
	if n == 0 {
		return role, nil
	}
	perms := make([]string, 0, n)
	forEachPermission(fea, per, fpm, func(feature, perm string) {
		// A Builder never rewrites what it has written, so each String()
		// stays valid and the names share one array.
		start := b.Len()
		b.WriteString("org:")
		b.WriteString(feature)
		b.WriteByte(':')
		b.WriteString(perm)
		perms = append(perms, b.String()[start:])
	})
	return role, perms
}

// forEachPermission applies the SDK's permission-bit algorithm
// (@clerk/shared buildOrgPermissions) to a "fea" that passed checkFeatures:
// mask i of fpm (a decimal of any size) belongs to the i-th org-scoped
// feature (o, ou, uo); its bit j set (least significant first) grants the
// j-th name of per. A malformed mask grants nothing.
func forEachPermission(fea, per, fpm string, grant func(feature, perm string)) {
	if fea == "" || per == "" || fpm == "" {
		return
	}
	masks, moreMasks := fpm, true
	for rest, more := fea, true; more && moreMasks; {
		var part string
		part, rest, more = strings.Cut(rest, ",")
		scope, feature, _ := strings.Cut(trimJS(part), ":")
		if scope != "o" && scope != "ou" && scope != "uo" {
			continue
		}
		var m string
		m, masks, moreMasks = strings.Cut(masks, ",")
		mask, ok := parseMask(trimJS(m))
		if !ok {
			continue
		}
		j := 0
		for perms, morePerms := per, true; morePerms; j++ {
			var p string
			p, perms, morePerms = strings.Cut(perms, ",")
			if mask.bit(j) {
				grant(feature, trimJS(p))
			}
		}
	}
}

// trimJS is JavaScript's String.prototype.trim, which the SDK applies to
// each fea, per and fpm element: Unicode White_Space and U+FEFF, but not
// U+0085 (strings.TrimSpace differs on both).
func trimJS(s string) string {
	if s == "" || s[0] > ' ' && s[0] < utf8.RuneSelf && s[len(s)-1] > ' ' && s[len(s)-1] < utf8.RuneSelf {
		return s // the common case: nothing to trim
	}
	return strings.TrimFunc(s, isJSSpace)
}

func isJSSpace(r rune) bool {
	return r == '\uFEFF' || r != '\u0085' && unicode.IsSpace(r)
}

// permissionMask is one "fpm" mask. Masks nearly always fit in 64 bits
// (one bit per permission of a feature); math/big, the SDK's semantics for
// any size, is the fallback for those that do not.
type permissionMask struct {
	small uint64
	big   *big.Int // nil when small holds the mask
}

func (m permissionMask) bit(j int) bool {
	if m.big != nil {
		return m.big.Bit(j) == 1
	}
	return j < 64 && m.small>>j&1 == 1
}

// parseMask reads a mask of ASCII digits only (the SDK's /^\d+$/).
func parseMask(s string) (permissionMask, bool) {
	if s == "" {
		return permissionMask{}, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return permissionMask{}, false
		}
	}
	if v, err := strconv.ParseUint(s, 10, 64); err == nil {
		return permissionMask{small: v}, true
	}
	b, ok := new(big.Int).SetString(s, 10)
	return permissionMask{big: b}, ok
}
