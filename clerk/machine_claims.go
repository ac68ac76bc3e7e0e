package clerk

import (
	"strings"
	"time"
)

// machineClaims are the claims of a machine JWT that a session token's
// Claims do not read. They are decoded only once the signature and times
// verified, so the session path pays nothing for them.
type machineClaims struct {
	jti, clientID string
	scopes        *string  // M2M: space-separated
	aud           []string // M2M scopes when scopes is absent
	scp           []string // OAuth
	scope         *string  // OAuth: space-separated, when scp is absent
	store         [2]string
}

// decodeMachineClaims reads the verified token's payload again for the
// machine claims. A claim of the wrong JSON type is token-invalid, as in
// Claims; aud and scp may be one string or an array of strings.
func decodeMachineClaims(t *JWT) (*machineClaims, error) {
	_, payload, _ := strings.Cut(t.signingInput, ".")
	b, err := decodeSegment(payload)
	if err != nil {
		return nil, errTokenEncoding // unreachable: DecodeJWT decoded it
	}
	c := new(machineClaims)
	r := jsonReader{s: string(b)}
	m, err := r.members(1)
	for err == nil && r.member(&m, &err) {
		switch m.key {
		case "jti":
			c.jti, err = r.stringValue(m.key)
		case "client_id":
			c.clientID, err = r.stringValue(m.key)
		case "scopes":
			c.scopes, err = r.optStringValue(m.key, &c.store[0])
		case "scope":
			c.scope, err = r.optStringValue(m.key, &c.store[1])
		case "aud":
			c.aud, err = r.stringListValue(m.key)
		case "scp":
			c.scp, err = r.stringListValue(m.key)
		default:
			err = r.skip(m.depth)
		}
		err = r.settle(&m, err)
	}
	if err != nil {
		return nil, payloadError(err)
	}
	return c, nil
}

// stringListValue reads a string as a one-element list, or an array of
// strings (stringsValue); null is nil.
func (r *jsonReader) stringListValue(key string) ([]string, error) {
	if r.i < len(r.s) && r.s[r.i] == '"' {
		s, err := r.str()
		return []string{s}, err
	}
	return r.stringsValue(key)
}

// machine maps the claims as the SDK's M2MToken.fromJwtPayload and
// IdPOAuthAccessToken.fromJwtPayload do: M2M scopes are "scopes" split on
// spaces, else "aud"; OAuth scopes are "scp", else "scope" split on
// spaces; either may be empty.
func (c *machineClaims) machine(typ TokenType, claims *Claims) *Machine {
	m := &Machine{Type: typ, ID: c.jti, Subject: claims.Subject}
	if claims.Expiry != nil {
		m.Expiration = time.UnixMilli(int64(*claims.Expiry * 1000))
	}
	switch typ {
	case TokenTypeM2M:
		switch {
		case c.scopes != nil:
			m.Scopes = strings.Split(*c.scopes, " ")
		case c.aud != nil:
			m.Scopes = c.aud
		default:
			m.Scopes = []string{}
		}
	case TokenTypeOAuth:
		m.ClientID = c.clientID
		switch {
		case c.scp != nil:
			m.Scopes = c.scp
		case c.scope != nil:
			m.Scopes = strings.Split(*c.scope, " ")
		default:
			m.Scopes = []string{}
		}
	case TokenTypeAPIKey, TokenTypeSession:
	}
	return m
}
