package clerk

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// MachineVerifier verifies machine tokens the way @clerk/backend's
// verifyMachineAuthToken does: JWTs locally, with the session verifier's
// keys and signature code, opaque tokens (mt_, oat_, ak_) with the Backend
// API. Nothing is cached here: machine JWTs never enter the session token
// cache, and opaque answers can be revoked at any time.
type MachineVerifier struct {
	api              *API
	machineSecretKey string
	verifier         *Verifier
}

// NewMachineVerifier builds a verifier. api may be nil when no secret key
// is configured: opaque tokens then fail with secret-key-invalid.
// machineSecretKey, when not "", authorizes M2M token verification in
// place of the instance's secret key, as the SDK's machineSecretKey
// option does. verifier supplies the keys and clock for machine JWTs; nil
// makes them fail as the SDK does without a key.
func NewMachineVerifier(api *API, machineSecretKey string, verifier *Verifier) *MachineVerifier {
	return &MachineVerifier{api: api, machineSecretKey: machineSecretKey, verifier: verifier}
}

// The SDK's accepted OAuth access token types, for its error message.
const oauthTypes = "at+jwt, application/at+jwt"

// Verify verifies token and returns its Machine, or a *MachineError.
// The order is the SDK's: a JWT-shaped token is decoded (failing
// token-invalid) and verified locally as an M2M JWT when its sub starts
// "mch_", as an OAuth JWT when its typ is at+jwt, and refused otherwise;
// any other token is verified by the Backend API by its prefix.
func (mv *MachineVerifier) Verify(ctx context.Context, token string) (*Machine, error) {
	if isJWTFormat(token) {
		return mv.verifyJWT(ctx, token)
	}
	switch {
	case strings.HasPrefix(token, prefixM2MToken):
		return mv.verifyOpaque(ctx, TokenTypeM2M, token)
	case strings.HasPrefix(token, prefixOAuthToken):
		return mv.verifyOpaque(ctx, TokenTypeOAuth, token)
	case strings.HasPrefix(token, prefixAPIKey):
		return mv.verifyOpaque(ctx, TokenTypeAPIKey, token)
	}
	return nil, &MachineError{Reason: ReasonTokenTypeMismatch, Message: "Unknown machine token type"}
}

// VerifiesLocally reports whether Verify settles token without the
// Backend API: a JWT-shaped token is decoded and verified with the
// signing keys, or refused, on the spot. A cache that holds Backend API
// calls back after a rate limit need not hold such a token back.
func VerifiesLocally(token string) bool { return isJWTFormat(token) }

func (mv *MachineVerifier) verifyJWT(ctx context.Context, token string) (*Machine, error) {
	t, err := DecodeJWT(token)
	if err != nil {
		return nil, &MachineError{Type: TokenTypeM2M, Reason: ReasonTokenInvalid, Message: tokenErrorMessage(err), Err: err}
	}
	typ, ok := t.MachineTokenType()
	if !ok {
		got := "missing"
		if t.Header.Typ != nil {
			got = truncate(*t.Header.Typ, 64)
		}
		return nil, &MachineError{Type: TokenTypeOAuth, Reason: ReasonTokenVerificationFailed,
			Message: "Invalid JWT type: " + got + ". Expected one of: " + oauthTypes + " for OAuth, or sub starting with 'mch_' for M2M"}
	}
	if typ == TokenTypeM2M && t.Header.Cat != nil && *t.Header.Cat != CategoryM2M {
		return nil, &MachineError{Type: typ, Reason: ReasonTokenInvalid, Message: "Invalid M2M JWT category."}
	}
	if err := mv.verifyLocally(ctx, t, typ); err != nil {
		return nil, &MachineError{Type: typ, Reason: ReasonTokenVerificationFailed, Message: tokenErrorMessage(err), Err: err}
	}
	if typ == TokenTypeOAuth {
		if err := mv.oauthAudience(t.Claims.Audience); err != nil {
			return nil, err
		}
	}
	mc, err := decodeMachineClaims(t)
	if err != nil {
		return nil, &MachineError{Type: typ, Reason: ReasonTokenInvalid, Message: tokenErrorMessage(err), Err: err}
	}
	return mc.machine(typ, &t.Claims), nil
}

var errNoMachineKey = fixedTokenError(ReasonTokenVerificationFailed, "Failed to resolve JWK during verification.")

// verifyLocally is the SDK's resolveKeyAndVerifyJwt: the key (by kid, or
// CLERK_JWT_KEY), then verifyJwt without authorized parties or issuer:
// typ (absent or "JWT" for M2M, at+jwt for OAuth), alg, signature, sub,
// aud (M2M only), exp, nbf, iat with the verifier's skew. No sid: machine
// tokens have none.
func (mv *MachineVerifier) verifyLocally(ctx context.Context, t *JWT, typ TokenType) error {
	v := mv.verifier
	if v == nil {
		return errNoMachineKey
	}
	key, err := v.keys.Key(ctx, t.Header.Kid)
	if err != nil {
		return err
	}
	if typ == TokenTypeOAuth {
		if !t.isOAuthType() {
			return tokenError(ReasonTokenInvalid, "Invalid JWT type. Expected \""+oauthTypes+"\".")
		}
	} else if t.Header.Typ != nil && *t.Header.Typ != "JWT" {
		return errTokenType
	}
	if err := verifyRS256(t, key); err != nil {
		return err
	}
	c := &t.Claims
	if c.Subject == "" {
		return errSubject
	}
	if typ == TokenTypeM2M {
		// verifyJwt's own audience check, which the SDK leaves out for
		// OAuth JWTs (they get checkOAuthAudience after verification).
		if err := checkAudience(c.Audience, v.opts.Audience); err != nil {
			return err
		}
	}
	return v.checkClaimTimes(c)
}

// oauthAudience is the SDK's assertOAuthAudienceClaim for an OAuth access
// token, JWT or opaque, when an audience is configured.
func (mv *MachineVerifier) oauthAudience(aud Audience) error {
	if mv.verifier == nil {
		return nil
	}
	if err := checkOAuthAudience(aud, mv.verifier.opts.Audience); err != nil {
		return &MachineError{Type: TokenTypeOAuth, Reason: ReasonTokenVerificationFailed, Message: tokenErrorMessage(err), Err: err}
	}
	return nil
}

// now and skew are the verifier's clock, for the opaque tokens' expiry.
func (mv *MachineVerifier) now() (time.Time, time.Duration) {
	if mv.verifier == nil {
		return time.Now(), DefaultClockSkew
	}
	return mv.verifier.opts.Now(), mv.verifier.opts.ClockSkew
}

// machineEndpoint is one Backend API verify route.
type machineEndpoint struct {
	path, field, notFound string
}

var machineEndpoints = map[TokenType]machineEndpoint{
	TokenTypeAPIKey: {"/api_keys/verify", "secret", "API key not found"},
	TokenTypeM2M:    {"/m2m_tokens/verify", "token", "Machine token not found"},
	TokenTypeOAuth:  {"/oauth_applications/access_tokens/verify", "access_token", "OAuth token not found"},
}

// verifyOpaque asks the Backend API, as the SDK's verifyAPIKey,
// verifyM2MToken and verifyOAuthToken do, and maps its errors as its
// handleClerkAPIError: 401 secret-key-invalid, 404 token-invalid, anything
// else (a status, no answer) unexpected-error.
func (mv *MachineVerifier) verifyOpaque(ctx context.Context, typ TokenType, token string) (*Machine, error) {
	if mv.api == nil {
		return nil, &MachineError{Type: typ, Reason: ReasonSecretKeyInvalid,
			Message: "no Clerk secret key is configured: machine tokens cannot be verified"}
	}
	ep := machineEndpoints[typ]
	bearer := ""
	if typ == TokenTypeM2M {
		bearer = mv.machineSecretKey
	}
	var ans machineAnswer
	err := mv.api.PostUnversioned(ctx, ep.path, bearer, map[string]string{ep.field: token}, &ans)
	if err != nil {
		return nil, apiMachineError(typ, err, ep.notFound)
	}
	now, skew := mv.now()
	m, err := ans.machine(typ, now, skew)
	if err == nil && typ == TokenTypeOAuth {
		err = mv.oauthAudience(ans.Aud)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

func apiMachineError(typ TokenType, err error, notFound string) error {
	apiErr, ok := AsAPIError(err)
	if !ok {
		return &MachineError{Type: typ, Reason: ReasonUnexpectedError, Message: "Unexpected error", Err: err}
	}
	e := &MachineError{Type: typ, Status: apiErr.Status, Err: err}
	switch apiErr.Status {
	case 401:
		e.Reason, e.Message = ReasonSecretKeyInvalid, "Invalid secret key"
		if len(apiErr.Errors) > 0 && apiErr.Errors[0].Message != "" {
			e.Message = apiErr.Errors[0].Message
		}
	case 404:
		e.Reason, e.Message = ReasonTokenInvalid, notFound
	default:
		e.Reason, e.Message = ReasonUnexpectedError, "Unexpected error"
	}
	return e
}

// machineAnswer is the part of the Backend API's APIKey, M2MToken and
// IdPOAuthAccessToken resources a Machine needs, plus their state.
type machineAnswer struct {
	ID         string   `json:"id"`
	Subject    string   `json:"subject"`
	Name       string   `json:"name"`
	ClientID   string   `json:"client_id"`
	Scopes     []string `json:"scopes"`
	Revoked    bool     `json:"revoked"`
	Expired    bool     `json:"expired"`
	Expiration *float64 `json:"expiration"` // Unix milliseconds; null: never
	Aud        Audience `json:"aud"`        // OAuth access tokens
}

// machine turns a 200 answer into a Machine. Beyond the SDK, which
// returns whatever the Backend API answered: an answer that says the
// token is revoked or expired, whose expiration has passed (with the
// clock skew), or that lacks an id or subject, is refused as
// token-invalid, so that a stale or inconsistent answer can never sign
// anyone in.
func (a *machineAnswer) machine(typ TokenType, now time.Time, skew time.Duration) (*Machine, error) {
	refuse := func(why string) error {
		return &MachineError{Type: typ, Reason: ReasonTokenInvalid, Message: "Backend API answer refused: " + why, Status: 200}
	}
	var exp time.Time
	if a.Expiration != nil {
		if !isFinite(*a.Expiration) {
			return nil, refuse("expiration is not a number")
		}
		exp = time.UnixMilli(int64(*a.Expiration))
	}
	switch {
	case a.ID == "" || a.Subject == "":
		return nil, refuse("no id or subject")
	case a.Revoked:
		return nil, refuse("token is revoked")
	case a.Expired:
		return nil, refuse("token is expired")
	case !exp.IsZero() && !exp.After(now.Add(-skew)):
		return nil, refuse(fmt.Sprintf("token expired at %s", exp.UTC().Format(time.RFC3339)))
	}
	m := &Machine{Type: typ, ID: a.ID, Subject: a.Subject, Scopes: a.Scopes, Expiration: exp}
	switch typ {
	case TokenTypeAPIKey:
		m.Name = a.Name
	case TokenTypeOAuth:
		m.ClientID = a.ClientID
	case TokenTypeM2M, TokenTypeSession:
	}
	return m, nil
}
