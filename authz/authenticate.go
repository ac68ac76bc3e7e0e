package authz

import (
	"context"
	"net/url"
	"strings"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

type authStatus int

const (
	signedOut authStatus = iota
	signedIn
	handshake
	keysUnavailable
)

// authState is the result of authenticateRequest.
type authState struct {
	status  authStatus
	reason  clerk.Reason
	message string
	token   *clerk.JWT // signedIn
	// handshake: the redirect and its cookies; also the cookies a completed
	// handshake sets (with status signedIn or signedOut).
	location   string
	setCookies []string
	noStore    bool
}

func out(reason clerk.Reason, msg string) authState {
	return authState{status: signedOut, reason: reason, message: msg}
}

// authenticate is @clerk/backend authenticateRequest for a primary domain
// (satellite domains are not supported): a header token takes the header
// path and ignores cookies; otherwise the cookie path.
func (e *Engine) authenticate(ctx context.Context, c *authContext) authState {
	if c.tokenInHeader != "" {
		return e.authenticateHeader(ctx, c)
	}
	return e.authenticateCookie(ctx, c)
}

func (e *Engine) authenticateHeader(ctx context.Context, c *authContext) authState {
	t, err := clerk.DecodeJWT(c.tokenInHeader)
	if err == nil && (t.IsMachineJWT() || t.HasNonSessionCategory()) {
		return out(clerk.ReasonTokenTypeMismatch, "machine or non-session token presented as a session")
	}
	if err == nil {
		err = e.verifier.VerifyDecoded(ctx, t)
	}
	if err != nil {
		return e.tokenError(c, err)
	}
	return authState{status: signedIn, token: t}
}

func (e *Engine) authenticateCookie(ctx context.Context, c *authContext) authState {
	if c.handshakeNonce != "" || c.handshakeToken != "" {
		if st, done := e.resolveHandshake(ctx, c); done {
			return st
		}
	}
	dev := !e.cfg.PublishableKey.Production
	// Rows 4 (dev primary answering a satellite's __clerk_redirect_url) is
	// an open redirect in the SDK (errata 19) and satellites are not
	// supported: not replicated.
	if dev && c.req.URL.Query().Has(clerk.CookieDevBrowser) {
		return e.maybeHandshake(c, clerk.ReasonDevBrowserSync, "")
	}
	if dev && c.devBrowser == "" {
		return e.maybeHandshake(c, clerk.ReasonDevBrowserMissing, "")
	}
	hasActiveClient := c.clientUAT != 0
	hasSession := c.sessionCookie != ""
	switch {
	case !hasActiveClient && !hasSession:
		return out(clerk.ReasonSessionTokenAndUATMissing, "")
	case !hasActiveClient && hasSession:
		return e.maybeHandshake(c, clerk.ReasonSessionTokenWithoutClientUAT, "")
	case hasActiveClient && !hasSession:
		return e.maybeHandshake(c, clerk.ReasonClientUATWithoutSessionToken, "")
	}
	t, err := clerk.DecodeJWT(c.sessionCookie)
	if err != nil {
		return e.tokenError(c, err)
	}
	if t.IsMachineJWT() || t.HasNonSessionCategory() {
		return out(clerk.ReasonTokenTypeMismatch, "machine or non-session token presented as a session")
	}
	// Checked on the unverified token, as the SDK does (errata 9).
	if t.Claims.IssuedAt != nil && *t.Claims.IssuedAt < float64(c.clientUAT) {
		return e.maybeHandshake(c, clerk.ReasonSessionTokenIATBeforeClientUAT, "")
	}
	if err := e.verifier.VerifyDecoded(ctx, t); err != nil {
		return e.tokenError(c, err)
	}
	if e.needsCrossOriginSync(c) {
		return e.maybeHandshake(c, clerk.ReasonPrimaryDomainCrossOriginSync, "Cross-origin request from satellite domain requires handshake")
	}
	return authState{status: signedIn, token: t}
}

// tokenError is handleSessionTokenError: expired, not-yet-valid and
// future-iat tokens may hand-shake; every other reason is signed out. Key
// outages fail closed instead of reading as "signed out".
func (e *Engine) tokenError(c *authContext, err error) authState {
	if clerk.IsKeyUnavailable(err) {
		return authState{status: keysUnavailable, reason: clerk.ReasonOf(err), message: err.Error()}
	}
	reason := clerk.ReasonOf(err)
	switch reason {
	case clerk.ReasonTokenExpired:
		// Server-side refresh (__refresh_<suffix>) is not implemented: the
		// handshake refreshes the session instead, so the sub-reason says
		// why no refresh was attempted, as the SDK words it.
		sub := "null"
		switch {
		case c.req.Method != "GET":
			sub = string(clerk.RefreshNonEligibleNonGet)
		case c.refreshCookie == "":
			sub = string(clerk.RefreshNonEligibleNoRefreshCookie)
		default:
			sub = "missing-api-client"
		}
		return e.maybeHandshake(c, clerk.Reason(string(clerk.ReasonSessionTokenExpired)+"-refresh-"+sub), err.Error())
	case clerk.ReasonTokenNotActiveYet:
		return e.maybeHandshake(c, clerk.ReasonSessionTokenNBF, err.Error())
	case clerk.ReasonTokenIatInTheFuture:
		return e.maybeHandshake(c, clerk.ReasonSessionTokenIatInTheFuture, err.Error())
	}
	return out(reason, err.Error())
}

// needsCrossOriginSync is row 14: a document navigation to the primary
// domain from another origin that is not Clerk's own may carry stale
// cookies, so it hand-shakes once (counter 0 only).
func (e *Engine) needsCrossOriginSync(c *authContext) bool {
	r := c.req
	if r.Method != "GET" || r.Header.Get("Sec-Fetch-Dest") != "document" || c.redirectCount != 0 {
		return false
	}
	ref, err := url.Parse(r.Header.Get("Referer"))
	if err != nil || ref.Scheme == "" || ref.Host == "" {
		return false
	}
	if strings.EqualFold(ref.Scheme, r.URL.Scheme) && strings.EqualFold(ref.Host, r.URL.Host) {
		return false // same origin
	}
	host := strings.ToLower(ref.Hostname())
	if host == e.cfg.PublishableKey.FAPIHost {
		return false
	}
	if accounts, err := url.Parse(clerk.AccountsBaseURL(e.cfg.PublishableKey.FAPIHost)); err == nil && ref.Scheme == "https" && strings.EqualFold(ref.Host, accounts.Host) {
		return false
	}
	if !e.cfg.PublishableKey.Production && strings.HasSuffix(host, ".accounts.dev") {
		return false
	}
	return true
}
