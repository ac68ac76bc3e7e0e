package clerk

import (
	"strings"
	"time"
)

// TokenType is the kind of token a request carries, spelled as
// @clerk/backend's TokenType (tokens/tokenTypes.ts).
type TokenType string

// The token types.
const (
	TokenTypeSession TokenType = "session_token"
	TokenTypeAPIKey  TokenType = "api_key"
	TokenTypeM2M     TokenType = "m2m_token"
	TokenTypeOAuth   TokenType = "oauth_token" //nolint:gosec // a type name, not a credential
)

// Machine token prefixes and the M2M subject prefix (@clerk/backend
// tokens/machine.ts).
const (
	prefixM2MToken   = "mt_"
	prefixOAuthToken = "oat_"
	prefixAPIKey     = "ak_"
	prefixMachineID  = "mch_"
)

// MachineTokenType is the SDK's isMachineToken followed by
// getMachineTokenType: an "mt_" token or an M2M JWT (payload sub "mch_…")
// is an M2M token; then an "oat_" token or an OAuth JWT (header typ
// "at+jwt" or "application/at+jwt") an OAuth token; then an "ak_" token an
// API key. Anything else is not a machine token (false).
//
// It runs on every Bearer token, so it costs nothing for a token that is
// neither prefixed nor JWT-shaped, and one DecodeJWT otherwise. A caller
// that decodes the token anyway should ask JWT.MachineTokenType instead.
// Unlike the SDK's decoder, DecodeJWT refuses a claim of the wrong JSON
// type and a token over 16 KiB: such a token is not a machine token here,
// and fails as a session token (token-invalid).
func MachineTokenType(token string) (TokenType, bool) {
	var decoded *JWT
	if !strings.HasPrefix(token, prefixM2MToken) && isJWTFormat(token) {
		if t, err := DecodeJWT(token); err == nil {
			decoded = t
		}
	}
	return MachineTokenTypeOf(token, decoded)
}

// MachineTokenTypeOf is MachineTokenType for a caller that has decoded the
// token already: decoded is token's JWT, or nil when it did not decode or
// is a session token verified before (never a machine token).
func MachineTokenTypeOf(token string, decoded *JWT) (TokenType, bool) {
	if strings.HasPrefix(token, prefixM2MToken) {
		return TokenTypeM2M, true
	}
	var jwtType TokenType
	if decoded != nil && isJWTFormat(token) {
		jwtType, _ = decoded.MachineTokenType()
	}
	switch {
	case jwtType == TokenTypeM2M:
		return TokenTypeM2M, true
	case strings.HasPrefix(token, prefixOAuthToken) || jwtType == TokenTypeOAuth:
		return TokenTypeOAuth, true
	case strings.HasPrefix(token, prefixAPIKey):
		return TokenTypeAPIKey, true
	}
	return "", false
}

// MachineTokenType classifies a decoded JWT as the SDK's isM2MJwt and
// isOAuthJwt do, M2M first: TokenTypeM2M for a sub starting "mch_",
// TokenTypeOAuth for typ "at+jwt" or "application/at+jwt", else false.
func (t *JWT) MachineTokenType() (TokenType, bool) {
	switch {
	case strings.HasPrefix(t.Claims.Subject, prefixMachineID):
		return TokenTypeM2M, true
	case t.isOAuthType():
		return TokenTypeOAuth, true
	}
	return "", false
}

func (t *JWT) isOAuthType() bool {
	return t.Header.Typ != nil && (*t.Header.Typ == "at+jwt" || *t.Header.Typ == "application/at+jwt")
}

// isJWTFormat is the SDK's /^[a-zA-Z0-9\-_]+\.[a-zA-Z0-9\-_]+\.[a-zA-Z0-9\-_]+$/:
// three non-empty base64url parts (no padding) separated by dots.
func isJWTFormat(token string) bool {
	parts, run := 0, 0
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case c == '.':
			if run == 0 || parts == 2 {
				return false
			}
			parts, run = parts+1, 0
		case base64URLValue(c) >= 0:
			run++
		default:
			return false
		}
	}
	return parts == 2 && run > 0
}

// Machine is what a verified machine token says about its bearer: the
// narrow, immutable value an authorization decision needs. It never holds
// the token or secret itself.
type Machine struct {
	Type TokenType
	// ID is the API key's or token's id (ak_…, mt_…, oat_… ids, or a
	// JWT's jti), never its secret.
	ID string
	// Subject is the owner: user_…, org_… (API keys) or mch_… (API keys,
	// M2M tokens); for OAuth tokens the user.
	Subject string
	Scopes  []string
	// ClientID is the OAuth application's client id (OAuth tokens only).
	ClientID string
	// Name is the API key's name (API keys only).
	Name string
	// Expiration is when the token expires; zero when it does not.
	Expiration time.Time
}

// UserID is the user the token acts for, as the SDK's machine auth object
// has it: an OAuth token's subject, or an API key's subject when it is a
// user.
func (m *Machine) UserID() string {
	if m.Type == TokenTypeOAuth || strings.HasPrefix(m.Subject, "user_") {
		return m.Subject
	}
	return ""
}

// OrgID is the organization owning an API key, "" for any other owner.
func (m *Machine) OrgID() string {
	if m.Type != TokenTypeOAuth && strings.HasPrefix(m.Subject, "org_") {
		return m.Subject
	}
	return ""
}

// MachineID is the machine owning an M2M token or API key, "" for any
// other owner.
func (m *Machine) MachineID() string {
	if m.Type != TokenTypeOAuth && strings.HasPrefix(m.Subject, prefixMachineID) {
		return m.Subject
	}
	return ""
}
