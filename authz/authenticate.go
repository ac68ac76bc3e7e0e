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
	session *clerk.Session // signedIn with a session token
	machine *clerk.Machine // signedIn with a machine credential
	// handshake: the redirect and its cookies; also the cookies a completed
	// handshake sets (with status signedIn or signedOut).
	location   string
	setCookies []string
}

func out(reason clerk.Reason, msg string) authState {
	return authState{status: signedOut, reason: reason, message: msg}
}

// authenticate is @clerk/backend authenticateRequest, for the request's
// site (site.go). On a route for session tokens
// only, a header token takes the header path and ignores cookies;
// otherwise the cookie path. Other routes start in machine.go.
func (e *Engine) authenticate(ctx context.Context, c *authContext, accepts *Accepts) authState {
	if t, ok := accepts.single(); !ok || t != clerk.TokenTypeSession {
		return e.authenticateAccepting(ctx, c, accepts)
	}
	if c.tokenInHeader != "" {
		return e.authenticateHeader(ctx, c)
	}
	return e.authenticateCookie(ctx, c)
}

func (e *Engine) authenticateHeader(ctx context.Context, c *authContext) authState {
	s, err := e.verifySession(ctx, c.inspect(e.verifier, c.tokenInHeader))
	if err != nil {
		return e.tokenError(ctx, c, err)
	}
	return authState{status: signedIn, session: s}
}

// verifySession finishes what inspect began: a token verified before
// (the token cache) has had its times checked; any other is refused if it
// is not a session token, then verified.
func (e *Engine) verifySession(ctx context.Context, t *seenToken) (*clerk.Session, error) {
	if t.session != nil || t.err != nil {
		return t.session, t.err
	}
	if err := t.jwt.CheckSessionType(); err != nil {
		return nil, err
	}
	return e.verifier.Verify(ctx, t.jwt)
}

func (e *Engine) authenticateCookie(ctx context.Context, c *authContext) authState {
	if c.handshakeNonce != "" || c.handshakeToken != "" {
		st, done := e.resolveHandshake(ctx, c)
		if done {
			return st
		}
		// Unresolved: the cookie flow decides, and the handshake cookies
		// are deleted along the way.
		next := e.cookieFlow(ctx, c)
		next.setCookies = append(st.setCookies, next.setCookies...)
		return next
	}
	return e.cookieFlow(ctx, c)
}

// cookieFlow is the SDK's cookie flow (authenticateRequestWithTokenInCookie,
// tokens/request.ts) from row 2 on; the rows are numbered in
// docs/clerk-protocol.md, "Cookie flow"; row 15 is organization sync
// (orgsync.go).
func (e *Engine) cookieFlow(ctx context.Context, c *authContext) authState {
	dev := !e.cfg.PublishableKey.Production
	if st, done := e.satelliteSync(c); done { // rows 2 and 3
		return st
	}
	if st, done := e.primaryRespondsToSyncing(c); done { // row 4
		return st
	}
	if dev && mayNameClerkParams(c.req.URL.RawQuery) && parseQueryLikeJS(c.req.URL.RawQuery).has(clerk.CookieDevBrowser) {
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
	t := c.inspect(e.verifier, c.sessionCookie)
	if t.decodeFailed() {
		return e.tokenError(ctx, c, t.err)
	}
	if t.jwt != nil {
		if err := t.jwt.CheckSessionType(); err != nil {
			return e.tokenError(ctx, c, err)
		}
	}
	// Row 12: the SDK compares iat with __client_uat on the token before
	// verifying it (tokens/request.ts; docs/clerk-protocol.md erratum 9),
	// so a tampered or expired token with an old iat still hand-shakes.
	if iat, ok := t.issuedAt(); ok && iat < float64(c.clientUAT) {
		return e.maybeHandshake(c, clerk.ReasonSessionTokenIATBeforeClientUAT, "")
	}
	s, err := e.verifySession(ctx, t)
	if err != nil {
		return e.tokenError(ctx, c, err)
	}
	if e.needsCrossOriginSync(c) {
		return e.maybeHandshake(c, clerk.ReasonPrimaryDomainCrossOriginSync, "Cross-origin request from satellite domain requires handshake")
	}
	if s.OrgError != nil {
		// The SDK builds the auth object inside the same try: a "fea" entry
		// without a colon throws (@clerk/shared authorization.ts
		// splitByScope), and the cookie flow reports that as signed out.
		return out(clerk.ReasonUnexpectedError, s.OrgError.Error())
	}
	// Row 15: the SDK syncs only an auth object with a user, which a
	// pending session's (signed out) has not.
	if !s.Pending() {
		if st, done := e.organizationSync(c, s); done {
			return st
		}
	}
	return authState{status: signedIn, session: s}
}

// tokenError is handleSessionTokenError: an expired token may be refreshed
// (refresh.go); expired, not-yet-valid and future-iat tokens may
// hand-shake; every other reason is signed out. Key outages fail closed
// instead of reading as "signed out".
func (e *Engine) tokenError(ctx context.Context, c *authContext, err error) authState {
	if clerk.IsKeyUnavailable(err) {
		return authState{status: keysUnavailable, reason: clerk.ReasonOf(err), message: err.Error()}
	}
	reason := clerk.ReasonOf(err)
	switch reason {
	case clerk.ReasonTokenExpired:
		return e.expiredToken(ctx, c, err)
	case clerk.ReasonTokenNotActiveYet:
		return e.maybeHandshake(c, clerk.ReasonSessionTokenNBF, err.Error())
	case clerk.ReasonTokenIatInTheFuture:
		return e.maybeHandshake(c, clerk.ReasonSessionTokenIatInTheFuture, err.Error())
	}
	return out(reason, err.Error())
}

// needsCrossOriginSync is cookie-flow row 14 (docs/clerk-protocol.md,
// "Cookie flow"; erratum 14): a document navigation to the primary
// domain from another origin that is not Clerk's own may carry stale
// cookies, so it hand-shakes once (counter 0 only). It mirrors the SDK's
// isCrossOriginReferrer and isKnownClerkReferrer.
func (e *Engine) needsCrossOriginSync(c *authContext) bool {
	r := c.req
	if c.site.satellite || r.Method != "GET" || r.Header.Get("Sec-Fetch-Dest") != "document" || c.redirectCount() != 0 {
		return false
	}
	referer := r.Header.Get("Referer")
	if referer == "" {
		return false
	}
	ref, err := url.Parse(referer)
	if err != nil || ref.Scheme == "" {
		return false // new URL() throws: not cross-origin
	}
	if webOrigin(ref) == webOrigin(r.URL) {
		return false
	}
	return !e.isKnownClerkReferrer(c, ref)
}

// isKnownClerkReferrer: the Frontend API host (CLERK_PROXY_URL's host when
// set, as the SDK's frontendApi is then the proxy), on development
// instances the dev Account Portal hosts, and the instance's Account Portal
// origin (which the SDK cannot derive from a proxy URL: then none).
func (e *Engine) isKnownClerkReferrer(c *authContext, ref *url.URL) bool {
	host := strings.ToLower(ref.Hostname())
	fapiHost := c.site.fapiHost
	if e.cfg.ProxyURL != "" {
		if p, err := url.Parse(e.frontendAPI(c)); err == nil {
			fapiHost = strings.ToLower(p.Hostname())
		}
	}
	if host == fapiHost {
		return true
	}
	if !e.cfg.PublishableKey.Production && isDevAccountPortalHost(host) {
		return true
	}
	if e.cfg.ProxyURL == "" {
		if accounts, err := url.Parse(clerk.AccountsBaseURL(e.cfg.PublishableKey.FAPIHost)); err == nil && webOrigin(ref) == webOrigin(accounts) {
			return true
		}
	}
	return false
}

// isDevAccountPortalHost is @clerk/shared isLegacyDevAccountPortalOrigin ||
// isCurrentDevAccountPortalOrigin: another instance's FAPI
// (*.clerk.accounts.dev) is not a portal.
func isDevAccountPortalHost(host string) bool {
	for _, sfx := range []string{".lcl.dev", ".lclstage.dev", ".lclclerk.com"} {
		if strings.HasPrefix(host, "accounts.") && strings.HasSuffix(host, sfx) {
			return true
		}
	}
	for _, sfx := range []string{".accounts.dev", ".accountsstage.dev", ".accounts.lclclerk.com"} {
		if strings.HasSuffix(host, sfx) && !strings.HasSuffix(host, ".clerk"+sfx) {
			return true
		}
	}
	return false
}

// webOrigin is the WHATWG URL origin: scheme://host[:port] with the default
// port dropped and the host lower-cased; URLs of other schemes have the
// opaque origin "null".
func webOrigin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Host == "" {
		return "null"
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" || (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		return scheme + "://" + host
	}
	return scheme + "://" + host + ":" + port
}
