package clerk

import (
	"encoding/base64"
	"errors"
	"strings"
	"unsafe"
)

// JWT categories carried in the header "cat" (@clerk/backend jwtCategories.ts).
const (
	CategorySession = "cl_B7d4PD111AAA"
	CategoryM2M     = "cl_B7d4PD333AAA"
	CategoryIgnore  = "cl_I7d4PD111III"
)

// JWTHeader holds the header parameters the verifier reads. Any others
// (jwk, jku, x5u, x5c…) are ignored on purpose: keys only ever come from our
// own configuration, never from the token. Decoded by hand (jsondecode.go);
// the json tags document the names. Typ and Cat are nil when absent; a
// JSON null reads as "" (headerStringValue).
type JWTHeader struct {
	Alg string  `json:"alg"`
	Kid string  `json:"kid"`
	Typ *string `json:"typ"`
	Cat *string `json:"cat"`
}

// JWT is a decoded but not yet verified compact JWS. DecodeJWT returns a
// new one on every call; Verifier.Verify turns it into a Session.
type JWT struct {
	Header       JWTHeader
	Claims       Claims
	Signature    []byte
	signingInput string // header.payload, as signed
	raw          string // the token as presented: the token cache's key
}

// maxTokenLength bounds the work an attacker can make us do; Clerk session
// tokens are a few hundred bytes, well under any browser cookie limit.
const maxTokenLength = 16 << 10

// The errors of DecodeJWT. They are shared values, so that refusing garbage
// allocates nothing; the payload's JSON errors other than these carry
// detail and are built each time (payloadError).
var (
	errTokenTooLong  = fixedTokenError(ReasonTokenInvalid, "token is too long")
	errTokenParts    = fixedTokenError(ReasonTokenInvalid, "Invalid JWT form. A JWT consists of three parts separated by dots.")
	errTokenEncoding = fixedTokenError(ReasonTokenInvalid, "Invalid JWT form. The header, payload, or signature could not be decoded.")
	errTokenHeader   = fixedTokenError(ReasonTokenInvalid, "Invalid JWT form. The header could not be decoded.")
	errPayloadSyntax = fixedTokenError(ReasonTokenInvalid, payloadErrorPrefix+errJSONSyntax.Error())
	errPayloadDepth  = fixedTokenError(ReasonTokenInvalid, payloadErrorPrefix+errJSONDepth.Error())
	errPayloadObject = fixedTokenError(ReasonTokenInvalid, payloadErrorPrefix+errJSONNoObject.Error())
)

const payloadErrorPrefix = "Invalid JWT form. The payload could not be decoded: "

// payloadError is the error for a payload whose JSON failed with err.
func payloadError(err error) error {
	switch err {
	case errJSONSyntax:
		return errPayloadSyntax
	case errJSONDepth:
		return errPayloadDepth
	case errJSONNoObject:
		return errPayloadObject
	}
	// A claim of the wrong type: rare, and its message names the claim.
	return tokenError(ReasonTokenInvalid, payloadErrorPrefix+err.Error())
}

// base64URL decodes a token's parts as the SDK's base64url.parse does
// with loose set (once a caller has dropped trailing "=" and refused CR and
// LF, hasLineBreak): Strict, because the SDK refuses a last character
// whose unused low bits are not zero, where the default decoder ignores
// them. Otherwise a valid token with its last character altered so would
// still verify here, and one with a line break in its signature too.
var base64URL = base64.RawURLEncoding.Strict()

// hasLineBreak reports CR or LF, which Go's base64 decoders skip even
// when Strict and the SDK's decoder refuses like any character outside
// the alphabet. (A cookie can carry them percent-encoded.)
func hasLineBreak(s string) bool {
	return strings.IndexByte(s, '\n') >= 0 || strings.IndexByte(s, '\r') >= 0
}

// badBase64URLLength reports a text that base64URL cannot decode because
// of its length: one character left over in its last group of four.
func badBase64URLLength(s string) bool {
	return len(s)%4 == 1
}

// decodedJWT is one allocation for what DecodeJWT returns besides the
// decoded JSON: the JWT, the values behind its pointer fields, and the
// signature of the usual 2048-bit RSA key.
type decodedJWT struct {
	JWT
	store tokenStore
	sig   [256]byte
}

// DecodeJWT splits and decodes a compact JWT without verifying it, the way
// @clerk/backend decodeJwt does: three dot-separated base64url parts, header
// and payload JSON. Any failure is token-invalid.
//
// A session token costs two allocations: one buffer holding the decoded
// header and payload JSON (whose strings the decoded fields share) and one
// for the rest (decodedJWT). Refusing a token costs at most as much, and
// nothing when its form is wrong: the checks that need no decoding come
// first, and the errors are shared values.
func DecodeJWT(token string) (*JWT, error) {
	if len(token) > maxTokenLength {
		return nil, errTokenTooLong
	}
	h, rest, ok1 := strings.Cut(token, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return nil, errTokenParts
	}
	signingInput := token[:len(h)+1+len(p)]
	// base64url is decoded loosely, as the SDK does: trailing "=" dropped.
	h, p, s = strings.TrimRight(h, "="), strings.TrimRight(p, "="), strings.TrimRight(s, "=")
	if badBase64URLLength(h) || badBase64URLLength(p) || badBase64URLLength(s) || hasLineBreak(token) {
		return nil, errTokenEncoding
	}
	enc := base64URL
	buf := make([]byte, enc.DecodedLen(len(h))+enc.DecodedLen(len(p)))
	nh, err := enc.Decode(buf, readOnlyBytes(h))
	if err != nil {
		return nil, errTokenEncoding
	}
	np, err := enc.Decode(buf[nh:], readOnlyBytes(p))
	if err != nil {
		return nil, errTokenEncoding
	}
	d := new(decodedJWT)
	sig := d.sig[:]
	if n := enc.DecodedLen(len(s)); n > len(sig) {
		sig = make([]byte, n)
	}
	ns, err := enc.Decode(sig, readOnlyBytes(s))
	if err != nil {
		return nil, errTokenEncoding
	}
	// buf is never written again: the decoded strings may share it.
	decoded := unsafe.String(unsafe.SliceData(buf), nh+np) //nolint:gosec // buf is ours and never written again
	t := &d.JWT
	t.Signature, t.signingInput, t.raw = sig[:ns:ns], signingInput, token
	if err := t.Header.decode(decoded[:nh], &d.store); err != nil {
		return nil, errTokenHeader
	}
	if err := t.Claims.decode(decoded[nh:], &d.store); err != nil {
		return nil, payloadError(err)
	}
	return t, nil
}

// readOnlyBytes views s as bytes without copying it, for functions that
// only read their input (base64 decoding): copying a ~1 KB token would
// allocate on every request.
func readOnlyBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s)) //nolint:gosec // callers only read it
}

// errLineBreak is decodeSegment's refusal of CR and LF.
var errLineBreak = errors.New("line break in base64url")

// decodeSegment decodes one base64url part loosely (trailing "=" dropped),
// as DecodeJWT does.
func decodeSegment(s string) ([]byte, error) {
	if hasLineBreak(s) {
		return nil, errLineBreak
	}
	return base64URL.DecodeString(strings.TrimRight(s, "="))
}

func (h *JWTHeader) decode(header string, st *tokenStore) error {
	*h = JWTHeader{}
	r := jsonReader{s: header}
	m, err := r.members(1)
	for err == nil && r.member(&m, &err) {
		switch m.key {
		case "alg":
			h.Alg, err = r.stringValue(m.key)
		case "kid":
			h.Kid, err = r.stringValue(m.key)
		case "typ":
			h.Typ, err = r.headerStringValue(m.key, &st.typ)
		case "cat":
			h.Cat, err = r.headerStringValue(m.key, &st.cat)
		default:
			err = r.skip(m.depth)
		}
		err = r.settle(&m, err)
	}
	return err
}

// errTypeMismatch is CheckSessionType's error, a shared value.
var errTypeMismatch = fixedTokenError(ReasonTokenTypeMismatch, "machine or non-session token presented as a session")

// CheckSessionType refuses, with token-type-mismatch, a token that is not
// a session token by shape (IsMachineJWT, HasNonSessionCategory), as the
// SDK does before verifying a session token.
func (t *JWT) CheckSessionType() error {
	if t.IsMachineJWT() || t.HasNonSessionCategory() {
		return errTypeMismatch
	}
	return nil
}

// IsMachineJWT reports the machine tokens @clerk/backend recognises by shape:
// OAuth access tokens (typ at+jwt) and M2M tokens (sub mch_…).
func (t *JWT) IsMachineJWT() bool {
	_, ok := t.MachineTokenType()
	return ok
}

// HasNonSessionCategory reports a header "cat" other than session or ignore:
// JWT templates and M2M tokens, which carry no session and outlive revocation.
func (t *JWT) HasNonSessionCategory() bool {
	return t.Header.Cat != nil && *t.Header.Cat != CategorySession && *t.Header.Cat != CategoryIgnore
}
