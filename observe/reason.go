package observe

import "strings"

// knownReasons are the reason strings the service reports: @clerk/backend's
// (TokenVerificationErrorReason, AuthErrorReason) and ours (authz). A
// metric label must come from a closed set, so ReasonLabel maps anything
// else to "other".
// It is built once and only read.
var knownReasons = buildKnownReasons()

func buildKnownReasons() map[string]bool {
	known := map[string]bool{}
	for _, r := range []string{
		// @clerk/backend TokenVerificationErrorReason.
		"token-expired", "token-invalid", "token-invalid-algorithm", "token-invalid-authorized-parties",
		"token-invalid-issuer", "token-invalid-signature", "token-not-active-yet", "token-iat-in-the-future",
		"token-verification-failed", "secret-key-invalid", "jwk-local-missing", "jwk-remote-failed-to-load",
		"jwk-remote-invalid", "jwk-remote-missing", "jwk-failed-to-resolve", "jwk-kid-mismatch",
		// @clerk/backend AuthErrorReason.
		"client-uat-but-no-session-token", "dev-browser-missing", "dev-browser-sync",
		"primary-responds-to-syncing", "primary-domain-cross-origin-sync", "satellite-needs-syncing",
		"session-token-and-uat-missing", "session-token-missing", "session-token-expired",
		"session-token-iat-before-client-uat", "session-token-nbf", "session-token-iat-in-the-future",
		"session-token-but-no-client-uat", "active-organization-mismatch", "token-type-mismatch",
		"unexpected-error", "session-pending",
		// authz's own.
		"cors-preflight", "not-organization-member", "role-missing", "permission-missing",
		"no-active-organization", "membership-lookup-failed", "invalid-policy", "user-lookup-failed",
		// handlers' own.
		"bad-proxy-request",
	} {
		known[r] = true
	}
	// "session-token-expired-refresh-<x>": x is @clerk/backend's
	// RefreshTokenErrorReason (or "null" when no refresh was attempted).
	for _, x := range []string{
		"null", "non-eligible-no-refresh-cookie", "non-eligible-non-get", "invalid-session-token",
		"missing-api-client", "missing-session-token", "missing-refresh-token",
		"expired-session-token-decode-failed", "expired-session-token-missing-sid-claim",
		"fetch-error", "unexpected-sdk-error", "unexpected-bapi-error",
	} {
		known[refreshPrefix+x] = true
	}
	return known
}

const refreshPrefix = "session-token-expired-refresh-"

// ReasonLabel is reason as a metric label: itself when it is one of the
// known reasons, "none" when empty, "session-token-expired-refresh-other"
// for an unknown refresh variant, else "other" (e.g. a Backend API error
// code, or a reason added without updating this list).
func ReasonLabel(reason string) string {
	switch {
	case reason == "":
		return "none"
	case knownReasons[reason]:
		return reason
	case strings.HasPrefix(reason, refreshPrefix):
		return refreshPrefix + "other"
	}
	return "other"
}
