package clerk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Query parameters a handshake return may carry (@clerk/backend
// constants.ts QueryParameters); they are removed from the URL the browser
// is sent back to.
const (
	QueryHandshakeHelp = "__clerk_help"
)

// Multi-domain query parameters: a satellite's sync state, and the
// satellite URL a development primary is asked to send the browser back
// to.
const (
	QueryClerkSynced      = "__clerk_synced"
	QueryClerkRedirectURL = "__clerk_redirect_url"
	// SyncNeeded asks a satellite to hand-shake (the return URL of a
	// sign-in redirect); SyncCompleted says it just did.
	SyncNeeded    = "false"
	SyncCompleted = "true"
)

// VerifyHandshake checks a __clerk_handshake token the way @clerk/backend
// verifyHandshakeToken does and returns its Set-Cookie directives: the key
// comes from the same source as for session tokens; then typ (JWT if
// present), alg, the header category (absent, session or ignore only, so a
// JWT template signed by the instance cannot inject cookies), and the
// signature. There is deliberately no exp, iat or azp check: Clerk's handshake
// tokens carry none.
//
// A payload whose "handshake" is not an array yields no directives and no
// error (the SDK then reports session-token-missing); an array holding
// anything but strings is an error that is not a *TokenError, as the SDK
// fails on it outside token verification.
func (v *Verifier) VerifyHandshake(ctx context.Context, token string) ([]string, error) {
	t, payload, err := decodeHandshakeJWT(token)
	if err != nil {
		return nil, err
	}
	key, err := v.keys.Key(ctx, t.Header.Kid)
	if err != nil {
		return nil, err
	}
	if t.Header.Typ != nil && *t.Header.Typ != "JWT" {
		return nil, errTokenType
	}
	switch t.Header.Alg {
	case "RS256", "RS384", "RS512":
	default:
		return nil, errAlgorithm
	}
	if t.HasNonSessionCategory() {
		return nil, tokenError(ReasonTokenInvalid, "Invalid handshake token category.")
	}
	if err := v.VerifySignature(t, key); err != nil {
		if ReasonOf(err) == ReasonTokenInvalidSignature {
			return nil, tokenError(ReasonTokenInvalidSignature, "Handshake signature is invalid.")
		}
		return nil, err
	}
	var body struct {
		Handshake json.RawMessage `json:"handshake"`
	}
	if err := json.Unmarshal(payload, &body); err != nil {
		return nil, nil // valid JSON but not an object (null, an array…): no cookies
	}
	raw := strings.TrimSpace(string(body.Handshake))
	if !strings.HasPrefix(raw, "[") {
		return nil, nil // absent, null, a string, an object…: no cookies
	}
	var items []json.RawMessage
	if err := json.Unmarshal(body.Handshake, &items); err != nil {
		return nil, errors.New("handshake claim does not decode")
	}
	directives := make([]string, 0, len(items))
	for i, it := range items {
		var s string
		if err := json.Unmarshal(it, &s); err != nil {
			return nil, fmt.Errorf("handshake claim element %d is not a string", i)
		}
		directives = append(directives, s)
	}
	return directives, nil
}

// decodeHandshakeJWT splits a compact JWT like DecodeJWT but keeps the
// payload raw: a handshake payload is not a session's claims, and a claim of
// an unexpected type there must not make it undecodable.
func decodeHandshakeJWT(token string) (*JWT, []byte, error) {
	if len(token) > maxTokenLength {
		return nil, nil, errTokenTooLong
	}
	h, rest, ok1 := strings.Cut(token, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return nil, nil, errTokenParts
	}
	headerJSON, err1 := decodeSegment(h)
	payloadJSON, err2 := decodeSegment(p)
	sig, err3 := decodeSegment(s)
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, nil, errTokenEncoding
	}
	t := &JWT{Signature: sig, signingInput: token[:len(h)+1+len(p)]}
	// The session tokens' header decoder, for JSON.parse's rules (keys
	// case-sensitive, null typ or cat not absent), which encoding/json
	// does not follow.
	if err := t.Header.decode(string(headerJSON), new(tokenStore)); err != nil {
		return nil, nil, errTokenHeader
	}
	if !json.Valid(payloadJSON) {
		return nil, nil, tokenError(ReasonTokenInvalid, "Invalid JWT form. The payload could not be decoded.")
	}
	return t, payloadJSON, nil
}

// WithClockSkew returns a verifier sharing this one's keys and options but
// with another leeway. Development instances retry a handshake's session
// token with a day of skew when the local clock is off, as the SDK does.
func (v *Verifier) WithClockSkew(d time.Duration) *Verifier {
	opts := v.opts
	opts.ClockSkew = d
	return &Verifier{keys: v.keys, opts: opts}
}

// HandshakePayload redeems a handshake nonce: GET
// /v1/clients/handshake_payload?nonce=… with the secret key answers
// {"directives":[Set-Cookie…]} (@clerk/backend ClientApi.getHandshakePayload).
func (a *API) HandshakePayload(ctx context.Context, nonce string) ([]string, error) {
	var out struct {
		Directives []string `json:"directives"`
	}
	if err := a.Get(ctx, "/clients/handshake_payload", url.Values{"nonce": {nonce}}, &out); err != nil {
		return nil, fmt.Errorf("redeem handshake nonce: %w", err)
	}
	return out.Directives, nil
}

// DirectiveName is a Set-Cookie directive's cookie name, read as the SDK's
// getCookieName does: the text before the first "=" of the first ";" part.
func DirectiveName(directive string) string {
	pair, _, _ := strings.Cut(directive, ";")
	name, _, _ := strings.Cut(pair, "=")
	return name
}

// DirectiveValue is a directive's value as the SDK's getCookieValue reads
// it: the first ";" part split on "=", second field (so a value holding "="
// is cut there, exactly like the SDK).
func DirectiveValue(directive string) string {
	pair, _, _ := strings.Cut(directive, ";")
	fields := strings.Split(pair, "=")
	if len(fields) < 2 {
		return ""
	}
	return fields[1]
}
