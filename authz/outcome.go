package authz

import "github.com/clerk-forward-auth/clerk-forward-auth/clerk"

// Outcome is what the proxy should do with the original request.
type Outcome int

// The outcomes, a closed set; every adapter renders each one.
const (
	// Allow: 200 with the identity headers.
	Allow Outcome = iota
	// Unauthenticated: no valid session and not a browser navigation: 401.
	Unauthenticated
	// SignIn: no valid session, browser navigation: redirect to sign-in.
	SignIn
	// Handshake: redirect through Clerk's Frontend API to refresh the
	// session cookies (or complete such a redirect with Set-Cookie).
	Handshake
	// Forbidden: signed in, but the route's rule does not hold: 403.
	Forbidden
	// Unavailable: Clerk's keys or memberships cannot be had: 503, never 200.
	Unavailable
	// Misconfigured: the operator's rule is invalid: 500, never 200.
	Misconfigured
)

var outcomeNames = [...]string{"allow", "unauthenticated", "redirect", "handshake", "forbidden", "unavailable", "misconfigured"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Identity is who the request is from, rendered as the X-Auth-* headers.
type Identity struct {
	UserID         string
	SessionID      string
	OrgID          string
	OrgSlug        string
	OrgRole        string
	OrgPermissions []string
	ActorID        string
	// TokenType is the credential's Clerk type (session_token for a
	// session); empty for an anonymous public request.
	TokenType clerk.TokenType
	// The machine credential's parts (empty for sessions): MachineID is an
	// mch_ subject, TokenID the key's or token's id (never its secret),
	// ClientID an OAuth token's client.
	MachineID string
	TokenID   string
	Scopes    []string
	ClientID  string
	// ProfileHeaders: X-Auth-User-Email and X-Auth-User-Name are part of
	// the reply (USER_PROFILE_HEADERS=true); Email and Name fill them.
	ProfileHeaders bool
	Email          string
	Name           string
}

// Decision is the engine's answer.
type Decision struct {
	Outcome Outcome
	// Reason is Clerk's reason string (or ours, for policy outcomes).
	Reason clerk.Reason
	// Message is a detail for logs; never contains a token.
	Message string
	// Identity is set on Allow (empty for an anonymous public route), and
	// carries the user on Forbidden for logs.
	Identity Identity
	// Location is the redirect target for SignIn and Handshake.
	Location string
	// SetCookies are Set-Cookie values, in order.
	SetCookies []string
	// Reverification is the requirement a Forbidden for
	// reverification-required did not meet: the reply carries Clerk's
	// reverification error so the frontend prompts the user.
	Reverification *clerk.Reverification
}

// ReverificationBody is the 403 body of a reverification-required
// Forbidden: Clerk's reverification error, which its frontend
// (useReverification) recognises, prompts the user with and retries
// after. "" for any other decision.
func (d *Decision) ReverificationBody() string {
	if d.Reverification == nil {
		return ""
	}
	return clerk.ReverificationErrorBody(*d.Reverification)
}

// ReverificationMetadata is the requirement as JSON (a preset's name, or
// {"level","afterMinutes"}), for a proxy that rebuilds the body from a
// header (NGINX); "" for any other decision.
func (d *Decision) ReverificationMetadata() string {
	if d.Reverification == nil {
		return ""
	}
	return d.Reverification.Metadata()
}
