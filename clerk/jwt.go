package clerk

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// JWT categories carried in the header "cat" (@clerk/backend jwtCategories.ts).
const (
	CategorySession = "cl_B7d4PD111AAA"
	CategoryM2M     = "cl_B7d4PD333AAA"
	CategoryIgnore  = "cl_I7d4PD111III"
)

// JWTHeader holds the header parameters the verifier reads. Any others
// (jwk, jku, x5u, x5c…) are ignored on purpose: keys only ever come from our
// own configuration, never from the token.
type JWTHeader struct {
	Alg string  `json:"alg"`
	Kid string  `json:"kid"`
	Typ *string `json:"typ"`
	Cat *string `json:"cat"`
}

// JWT is a decoded but not yet verified compact JWS.
type JWT struct {
	Header       JWTHeader
	Claims       Claims
	Signature    []byte
	signingInput string

	// For the token cache (tokencache.go): the token as presented, its
	// SHA-256 once computed, and the verifier that verified and cached this
	// decoded copy (nil for a freshly decoded token).
	raw      string
	key      tokenKey
	hashed   bool
	cachedBy *Verifier
}

// maxTokenLength bounds the work an attacker can make us do; Clerk session
// tokens are a few hundred bytes, well under any browser cookie limit.
const maxTokenLength = 16 << 10

// DecodeJWT splits and decodes a compact JWT without verifying it, the way
// @clerk/backend decodeJwt does: three dot-separated base64url parts, header
// and payload JSON. Any failure is token-invalid.
func DecodeJWT(token string) (*JWT, error) {
	if len(token) > maxTokenLength {
		return nil, tokenError(ReasonTokenInvalid, "token is too long")
	}
	h, rest, ok1 := strings.Cut(token, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return nil, tokenError(ReasonTokenInvalid, "Invalid JWT form. A JWT consists of three parts separated by dots.")
	}
	headerJSON, err1 := decodeSegment(h)
	payloadJSON, err2 := decodeSegment(p)
	sig, err3 := decodeSegment(s)
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, tokenError(ReasonTokenInvalid, "Invalid JWT form. The header, payload, or signature could not be decoded.")
	}
	t := &JWT{Signature: sig, signingInput: token[:len(h)+1+len(p)], raw: token}
	if err := json.Unmarshal(headerJSON, &t.Header); err != nil {
		return nil, tokenError(ReasonTokenInvalid, "Invalid JWT form. The header could not be decoded.")
	}
	if err := t.Claims.unmarshal(payloadJSON); err != nil {
		return nil, tokenError(ReasonTokenInvalid, "Invalid JWT form. The payload could not be decoded: "+err.Error())
	}
	return t, nil
}

func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// IsMachineJWT reports the machine tokens @clerk/backend recognises by shape:
// OAuth access tokens (typ at+jwt) and M2M tokens (sub mch_…).
func (t *JWT) IsMachineJWT() bool {
	if t.Header.Typ != nil && (*t.Header.Typ == "at+jwt" || *t.Header.Typ == "application/at+jwt") {
		return true
	}
	return strings.HasPrefix(t.Claims.Subject, "mch_")
}

// HasNonSessionCategory reports a header "cat" other than session or ignore:
// JWT templates and M2M tokens, which carry no session and outlive revocation.
func (t *JWT) HasNonSessionCategory() bool {
	return t.Header.Cat != nil && *t.Header.Cat != CategorySession && *t.Header.Cat != CategoryIgnore
}
