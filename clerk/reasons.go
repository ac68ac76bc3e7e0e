package clerk

import "errors"

// Reason is one of the reason strings @clerk/backend reports in
// x-clerk-auth-reason. Operators search Clerk's docs for them, so we use the
// very same spelling in logs, metrics and 401 bodies.
type Reason string

// Token verification reasons (@clerk/backend src/errors.ts).
const (
	ReasonTokenExpired                  Reason = "token-expired"
	ReasonTokenInvalid                  Reason = "token-invalid"
	ReasonTokenInvalidAlgorithm         Reason = "token-invalid-algorithm"
	ReasonTokenInvalidAuthorizedParties Reason = "token-invalid-authorized-parties"
	ReasonTokenInvalidSignature         Reason = "token-invalid-signature"
	ReasonTokenNotActiveYet             Reason = "token-not-active-yet"
	ReasonTokenIatInTheFuture           Reason = "token-iat-in-the-future"
	ReasonTokenVerificationFailed       Reason = "token-verification-failed"
	ReasonSecretKeyInvalid              Reason = "secret-key-invalid"
	ReasonJWKRemoteFailedToLoad         Reason = "jwk-remote-failed-to-load"
	ReasonJWKRemoteInvalid              Reason = "jwk-remote-invalid"
	ReasonJWKFailedToResolve            Reason = "jwk-failed-to-resolve"
	ReasonJWKKidMismatch                Reason = "jwk-kid-mismatch"
)

// Request-level reasons (@clerk/backend src/tokens/authStatus.ts).
const (
	ReasonSessionTokenAndUATMissing      Reason = "session-token-and-uat-missing"
	ReasonSessionTokenMissing            Reason = "session-token-missing"
	ReasonSessionTokenWithoutClientUAT   Reason = "session-token-but-no-client-uat"
	ReasonClientUATWithoutSessionToken   Reason = "client-uat-but-no-session-token" //nolint:gosec // a reason name, not a credential
	ReasonSessionTokenIATBeforeClientUAT Reason = "session-token-iat-before-client-uat"
	ReasonSessionTokenExpired            Reason = "session-token-expired"
	ReasonSessionTokenNBF                Reason = "session-token-nbf"
	ReasonSessionTokenIatInTheFuture     Reason = "session-token-iat-in-the-future"
	ReasonDevBrowserMissing              Reason = "dev-browser-missing"
	ReasonDevBrowserSync                 Reason = "dev-browser-sync"
	ReasonPrimaryDomainCrossOriginSync   Reason = "primary-domain-cross-origin-sync"
	ReasonTokenTypeMismatch              Reason = "token-type-mismatch" //nolint:gosec // a reason name, not a credential
	ReasonUnexpectedError                Reason = "unexpected-error"
	ReasonSessionPending                 Reason = "session-pending"
	RefreshNonEligibleNoRefreshCookie    Reason = "non-eligible-no-refresh-cookie"
	RefreshNonEligibleNonGet             Reason = "non-eligible-non-get"
)

// Refresh sub-reasons (@clerk/backend RefreshTokenErrorReason), reported as
// "session-token-expired-refresh-<sub>"; a Backend API error code may take
// their place (refresh.go).
const (
	RefreshInvalidSessionToken         Reason = "invalid-session-token"
	RefreshMissingAPIClient            Reason = "missing-api-client"
	RefreshMissingSessionToken         Reason = "missing-session-token"
	RefreshMissingRefreshToken         Reason = "missing-refresh-token"
	RefreshExpiredTokenDecodeFailed    Reason = "expired-session-token-decode-failed"
	RefreshExpiredTokenMissingSidClaim Reason = "expired-session-token-missing-sid-claim"
	RefreshFetchError                  Reason = "fetch-error"
	RefreshUnexpectedSDKError          Reason = "unexpected-sdk-error"
	RefreshUnexpectedBAPIError         Reason = "unexpected-bapi-error"
)

// TokenError is a verification failure with Clerk's reason and a message for
// logs. The message never contains the token. The errors this package
// returns may be shared values (fixedTokenError): do not modify them.
type TokenError struct {
	Reason  Reason
	Message string

	// text is Error's result, when made in advance (fixedTokenError).
	text string
}

func (e *TokenError) Error() string {
	if e.text != "" {
		return e.text
	}
	if e.Message == "" {
		return string(e.Reason)
	}
	return string(e.Reason) + ": " + e.Message
}

func tokenError(r Reason, msg string) error { return &TokenError{Reason: r, Message: msg} }

// fixedTokenError makes an error to be returned as is every time, its text
// included: refusing a token then allocates nothing, not even when the
// caller logs err.Error(). Callers must not modify such an error; none of
// this package's callers do.
func fixedTokenError(r Reason, msg string) *TokenError {
	e := &TokenError{Reason: r, Message: msg}
	e.text = e.Error()
	return e
}

// ReasonOf returns the Clerk reason carried by err, or "unexpected-error".
func ReasonOf(err error) Reason {
	if te, ok := err.(*TokenError); ok { // the usual case, without errors.As's reflection
		return te.Reason
	}
	var te *TokenError
	if errors.As(err, &te) {
		return te.Reason
	}
	return ReasonUnexpectedError
}

// IsKeyUnavailable reports whether err means the keys could not be had at
// all (Clerk unreachable, bad secret key): the caller must fail closed with
// 503 rather than treat the request as signed out.
func IsKeyUnavailable(err error) bool {
	switch ReasonOf(err) {
	case ReasonJWKRemoteFailedToLoad, ReasonJWKRemoteInvalid, ReasonJWKFailedToResolve, ReasonSecretKeyInvalid:
		return true
	}
	return false
}
