package clerk

import (
	"errors"
	"slices"
)

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
	ReasonTokenInvalidIssuer            Reason = "token-invalid-issuer"
	ReasonTokenInvalidSignature         Reason = "token-invalid-signature"
	ReasonTokenNotActiveYet             Reason = "token-not-active-yet"
	ReasonTokenIatInTheFuture           Reason = "token-iat-in-the-future"
	ReasonTokenVerificationFailed       Reason = "token-verification-failed"
	ReasonSecretKeyInvalid              Reason = "secret-key-invalid"
	ReasonJWKLocalMissing               Reason = "jwk-local-missing"
	ReasonJWKRemoteFailedToLoad         Reason = "jwk-remote-failed-to-load"
	ReasonJWKRemoteInvalid              Reason = "jwk-remote-invalid"
	ReasonJWKRemoteMissing              Reason = "jwk-remote-missing"
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
	ReasonPrimaryRespondsToSyncing       Reason = "primary-responds-to-syncing"
	ReasonSatelliteNeedsSyncing          Reason = "satellite-needs-syncing"
	ReasonActiveOrganizationMismatch     Reason = "active-organization-mismatch"
	ReasonTokenTypeMismatch              Reason = "token-type-mismatch" //nolint:gosec // a reason name, not a credential
	ReasonUnexpectedError                Reason = "unexpected-error"
	ReasonSessionPending                 Reason = "session-pending"
)

// Refresh sub-reasons (@clerk/backend RefreshTokenErrorReason), reported as
// RefreshPrefix + sub; a Backend API error code may take their place
// (authz/refresh.go).
const (
	RefreshNonEligibleNoRefreshCookie  Reason = "non-eligible-no-refresh-cookie"
	RefreshNonEligibleNonGet           Reason = "non-eligible-non-get"
	RefreshInvalidSessionToken         Reason = "invalid-session-token"
	RefreshMissingAPIClient            Reason = "missing-api-client"
	RefreshMissingSessionToken         Reason = "missing-session-token"
	RefreshMissingRefreshToken         Reason = "missing-refresh-token"
	RefreshExpiredTokenDecodeFailed    Reason = "expired-session-token-decode-failed"
	RefreshExpiredTokenMissingSidClaim Reason = "expired-session-token-missing-sid-claim"
	RefreshFetchError                  Reason = "fetch-error"
	RefreshUnexpectedSDKError          Reason = "unexpected-sdk-error"
	RefreshUnexpectedBAPIError         Reason = "unexpected-bapi-error"
	// RefreshNotAttempted is the SDK's "null": its handshake reason when
	// it never tried a refresh. We say why instead (non-eligible-…), but
	// the spelling stays a known label for dashboards written against the
	// SDK.
	RefreshNotAttempted Reason = "null"
)

// RefreshPrefix starts every reason that reports a refresh sub-reason.
const RefreshPrefix = ReasonSessionTokenExpired + "-refresh-"

// reasons and refreshReasons list the constants above. They are the metric
// label set (observe.ReasonLabel), which must be closed: a reason declared
// above and not listed here would be counted as "other", and
// observe's TestEveryReasonConstantIsKnown fails until it is listed.
var (
	reasons = []Reason{
		ReasonTokenExpired, ReasonTokenInvalid, ReasonTokenInvalidAlgorithm, ReasonTokenInvalidAuthorizedParties,
		ReasonTokenInvalidIssuer, ReasonTokenInvalidSignature, ReasonTokenNotActiveYet, ReasonTokenIatInTheFuture,
		ReasonTokenVerificationFailed, ReasonSecretKeyInvalid, ReasonJWKLocalMissing, ReasonJWKRemoteFailedToLoad,
		ReasonJWKRemoteInvalid, ReasonJWKRemoteMissing, ReasonJWKFailedToResolve, ReasonJWKKidMismatch,

		ReasonSessionTokenAndUATMissing, ReasonSessionTokenMissing, ReasonSessionTokenWithoutClientUAT,
		ReasonClientUATWithoutSessionToken, ReasonSessionTokenIATBeforeClientUAT, ReasonSessionTokenExpired,
		ReasonSessionTokenNBF, ReasonSessionTokenIatInTheFuture, ReasonDevBrowserMissing, ReasonDevBrowserSync,
		ReasonPrimaryDomainCrossOriginSync, ReasonPrimaryRespondsToSyncing, ReasonSatelliteNeedsSyncing,
		ReasonActiveOrganizationMismatch, ReasonTokenTypeMismatch, ReasonUnexpectedError, ReasonSessionPending,
	}
	refreshReasons = []Reason{
		RefreshNonEligibleNoRefreshCookie, RefreshNonEligibleNonGet, RefreshInvalidSessionToken,
		RefreshMissingAPIClient, RefreshMissingSessionToken, RefreshMissingRefreshToken,
		RefreshExpiredTokenDecodeFailed, RefreshExpiredTokenMissingSidClaim, RefreshFetchError,
		RefreshUnexpectedSDKError, RefreshUnexpectedBAPIError, RefreshNotAttempted,
	}
)

// Reasons returns the reasons declared here, refresh sub-reasons aside.
func Reasons() []Reason { return slices.Clone(reasons) }

// RefreshReasons returns the refresh sub-reasons (each is reported after
// RefreshPrefix).
func RefreshReasons() []Reason { return slices.Clone(refreshReasons) }

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
// A *MachineError's reason comes first: it wraps the *TokenError it was
// made from, whose finer reason the SDK does not report for machine
// tokens.
func ReasonOf(err error) Reason {
	if te, ok := err.(*TokenError); ok { // the usual case, without errors.As's reflection
		return te.Reason
	}
	var me *MachineError
	if errors.As(err, &me) {
		return me.Reason
	}
	var te *TokenError
	if errors.As(err, &te) {
		return te.Reason
	}
	return ReasonUnexpectedError
}

// IsKeyUnavailable reports whether err means the keys could not be had at
// all (Clerk unreachable, bad secret key): the caller must fail closed with
// 503 rather than treat the request as signed out. For a *MachineError it
// asks the error the key source gave, if any (MachineError.Temporary
// covers the Backend API's outages too).
func IsKeyUnavailable(err error) bool {
	var me *MachineError
	if _, ok := err.(*TokenError); !ok && errors.As(err, &me) {
		return me.Err != nil && IsKeyUnavailable(me.Err)
	}
	switch ReasonOf(err) {
	case ReasonJWKRemoteFailedToLoad, ReasonJWKRemoteInvalid, ReasonJWKFailedToResolve, ReasonSecretKeyInvalid:
		return true
	}
	return false
}
