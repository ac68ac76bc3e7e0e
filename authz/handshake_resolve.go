package authz

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// HandshakePayloads redeems a handshake nonce for its Set-Cookie directives
// (clerk.API: GET /v1/clients/handshake_payload with the secret key).
type HandshakePayloads interface {
	HandshakePayload(ctx context.Context, nonce string) ([]string, error)
}

// handshakeParams are removed from the URL the browser is sent back to
// after a handshake (@clerk/backend resolveHandshake).
var handshakeParams = []string{clerk.CookieHandshake, clerk.QueryHandshakeHelp, clerk.CookieDevBrowser, clerk.CookieHandshakeNonce}

// devClockSkew is the leeway a development instance retries a handshake's
// session token with when the local clock is off (the SDK's 86 400 000 ms).
const devClockSkew = 24 * time.Hour

type hsKind int

const (
	hsDone        hsKind = iota // cookies resolved; token set when signed in
	hsFailed                    // cookies dropped; the cookie flow continues
	hsFatal                     // development: bad handshake token, signed out
	hsUnavailable               // keys cannot be had: fail closed
)

type hsResult struct {
	kind hsKind
	// unredeemed: the nonce could not be exchanged for cookies.
	unredeemed bool
	cookies    []string
	session    *clerk.Session
	reason     clerk.Reason
	message    string
}

// resolveHandshake completes a handshake whose return carries
// __clerk_handshake or __clerk_handshake_nonce (cookie-flow row 1;
// docs/clerk-protocol.md, "Handshake", "Coming back"). done=false means
// the cookie flow continues, with the returned state's cookies (handshake
// cookie deletions) to add to whatever it decides.
//
// Unlike the SDK in production, a completed handshake always answers with a
// 307 to the URL without the handshake parameters and every directive as its
// own Set-Cookie: proxies drop Set-Cookie on allowed requests, but pass a
// non-2xx reply with its headers to the browser.
func (e *Engine) resolveHandshake(ctx context.Context, c *authContext) (authState, bool) {
	if c.req.ReturnViaCallback {
		// For these proxies the handshake returns to the callback route,
		// which completes it; a handshake value reaching the auth
		// subrequest is stale or forged and is ignored, as the SDK ignores
		// one it cannot resolve in production.
		return authState{}, false
	}
	res := e.handshakeCookies(ctx, c)
	switch res.kind {
	case hsUnavailable:
		return authState{status: keysUnavailable, reason: res.reason, message: res.message}, true
	case hsFatal:
		st := out(res.reason, res.message)
		st.setCookies = e.clearHandshakeCookies(c, nil)
		return st, true
	case hsFailed:
		return authState{setCookies: e.clearHandshakeCookies(c, nil)}, false
	case hsDone:
	}
	if res.unredeemed && e.cfg.PublishableKey.Production {
		// Nothing to set and nowhere to go back to: the SDK answers this
		// request signed out (session-token-missing), so a protected page
		// sends the browser to sign-in rather than round the same URL.
		st := res.state()
		st.setCookies = e.clearHandshakeCookies(c, nil)
		return st, true
	}
	cookies := append(res.cookies, e.clearHandshakeCookies(c, res.cookies)...)
	back := e.afterHandshake(c, *c.req.URL)
	back.Fragment = ""
	if webHref(&back) == webHref(c.req.URL) {
		// The handshake came in a cookie (production): the redirect goes to
		// the same URL. Should the cookie survive (FAPI set it on a parent
		// domain and did not clear it), the loop counter bounds the loop; at
		// the limit the request is answered as the SDK answers it in
		// production, without a redirect.
		count := c.redirectCount()
		if count >= maxRedirectCount {
			st := res.state()
			st.setCookies = cookies
			return st, true
		}
		cookies = append(cookies, redirectCountCookie(count+1))
	}
	msg := "handshake completed: signed in"
	if res.session == nil {
		msg = "handshake completed: signed out"
	}
	return authState{status: handshake, reason: res.reason, message: msg, location: webHref(&back), setCookies: cookies}, true
}

// afterHandshake is where a completed handshake sends the browser: u
// without the handshake's parameters, and on a satellite marked as synced
// (syncedReturn).
func (e *Engine) afterHandshake(c *authContext, u url.URL) url.URL {
	u.RawQuery = removeQueryParams(u.RawQuery, handshakeParams...)
	e.syncedReturn(c, &u)
	return u
}

func (r hsResult) state() authState {
	if r.session != nil {
		return authState{status: signedIn, session: r.session}
	}
	return out(r.reason, r.message)
}

func redirectCountCookie(n float64) string {
	return clerk.CookieRedirectCount + "=" + strconv.FormatFloat(n, 'f', -1, 64) + "; SameSite=Lax; HttpOnly; Max-Age=2"
}

// CompleteHandshake serves the browser-facing callback route (CALLBACK_PATH)
// for proxies that cannot carry several Set-Cookie headers from an auth
// subrequest (NGINX): r is the browser's request to the callback, target the
// validated redirect_url (see ValidateRedirect). The answer is always a 307
// to target without handshake parameters, with the handshake's cookies when
// it resolves and deletions of the handshake cookies in any case; a
// callback without handshake parameters just redirects.
func (e *Engine) CompleteHandshake(ctx context.Context, r *Request, target *url.URL) Decision {
	c := e.newAuthContext(r)
	back := e.afterHandshake(&c, *target)
	d := Decision{Outcome: Handshake, Location: back.String()}
	if c.handshakeNonce == "" && c.handshakeToken == "" {
		d.Message = "callback without handshake parameters"
		return d
	}
	res := e.handshakeCookies(ctx, &c)
	switch res.kind {
	case hsUnavailable:
		return Decision{Outcome: Unavailable, Reason: res.reason, Message: res.message}
	case hsDone:
		d.SetCookies = res.cookies
		d.Reason, d.Message = res.reason, "handshake completed: signed in"
		if res.session == nil {
			d.Message = "handshake completed: signed out"
		}
	case hsFailed, hsFatal:
		d.Reason, d.Message = res.reason, res.message
	}
	d.SetCookies = append(d.SetCookies, e.clearHandshakeCookies(&c, d.SetCookies)...)
	return d
}

// CallbackPath is where the browser-facing callback route is served.
func (e *Engine) CallbackPath() string { return e.cfg.CallbackPath }

// handshakeCookies is HandshakeService.resolveHandshake: the directives from
// the nonce (which wins) or the verified token, then the session token they
// carry, verified.
func (e *Engine) handshakeCookies(ctx context.Context, c *authContext) hsResult {
	dev := !e.cfg.PublishableKey.Production
	var directives []string
	unredeemed := false
	if c.handshakeNonce != "" {
		// Errors are logged and swallowed: no cookies, signed out.
		if e.payloads == nil {
			e.log.Error("Clerk: HandshakeService: error getting handshake payload: no Backend API client (CLERK_SECRET_KEY) to redeem the nonce")
			unredeemed = true
		} else if e.nonceBudget != nil && !e.nonceBudget.take() {
			e.log.Warn("Clerk: HandshakeService: handshake nonce not redeemed: more nonces than HANDSHAKE_NONCE_REDEEM_RATE allows", "reason", string(clerk.ReasonSessionTokenMissing))
			unredeemed = true
		} else if d, err := e.payloads.HandshakePayload(ctx, c.handshakeNonce); err != nil {
			e.log.Error("Clerk: HandshakeService: error getting handshake payload", "error", withoutSecret(err.Error(), c.handshakeNonce))
			unredeemed = true
		} else {
			directives = d
		}
	} else {
		d, err := e.verifier.VerifyHandshake(ctx, c.handshakeToken)
		if err != nil {
			return e.handshakeTokenError(err, dev)
		}
		directives = d
	}
	sessionToken := ""
	for _, d := range directives {
		if strings.HasPrefix(clerk.DirectiveName(d), clerk.CookieSession) {
			sessionToken = clerk.DirectiveValue(d)
		}
	}
	if sessionToken == "" {
		return hsResult{kind: hsDone, unredeemed: unredeemed, cookies: directives, reason: clerk.ReasonSessionTokenMissing}
	}
	s, err := e.verifier.VerifySessionToken(ctx, sessionToken)
	if err != nil && dev && isClockError(err) {
		e.log.Warn("Clerk: Clock skew detected. This usually means that your system clock is inaccurate. Clerk will attempt to account for the clock skew in development.", "reason", string(clerk.ReasonOf(err)))
		s, err = e.verifier.WithClockSkew(devClockSkew).VerifySessionToken(ctx, sessionToken)
	}
	if err != nil {
		if clerk.IsKeyUnavailable(err) {
			return hsResult{kind: hsUnavailable, reason: clerk.ReasonOf(err), message: err.Error()}
		}
		// A bad session inside a valid handshake drops its cookies and the
		// cookie flow continues, as the SDK's resolveHandshake does
		// (tokens/handshake.ts; docs/clerk-protocol.md erratum 5).
		e.log.Warn("Clerk: unable to resolve handshake: the session token it carries does not verify", "reason", string(clerk.ReasonOf(err)), "error", err.Error())
		return hsResult{kind: hsFailed, reason: clerk.ReasonOf(err), message: err.Error()}
	}
	return hsResult{kind: hsDone, cookies: directives, session: s}
}

// withoutSecret is msg with secret, as it is and query-escaped, replaced:
// a Backend API call that gets no answer fails with an error quoting the
// URL it called, and the handshake nonce rides in that URL's query.
func withoutSecret(msg, secret string) string {
	if secret == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, url.QueryEscape(secret), "[redacted]")
	return strings.ReplaceAll(msg, secret, "[redacted]")
}

func isClockError(err error) bool {
	switch clerk.ReasonOf(err) {
	case clerk.ReasonTokenExpired, clerk.ReasonTokenNotActiveYet, clerk.ReasonTokenIatInTheFuture:
		return true
	}
	return false
}

// handshakeTokenError: a development instance treats a bad handshake token
// as a hard error (the SDK throws; we answer signed out and say why in the
// log), production logs it and continues the cookie flow. Keys that cannot
// be had fail closed in both.
func (e *Engine) handshakeTokenError(err error, dev bool) hsResult {
	reason := clerk.ReasonOf(err)
	if clerk.IsKeyUnavailable(err) {
		return hsResult{kind: hsUnavailable, reason: reason, message: err.Error()}
	}
	var te *clerk.TokenError
	if dev && errors.As(err, &te) {
		msg := "Clerk: Handshake token verification failed: " + err.Error() + "."
		if reason == clerk.ReasonTokenInvalidSignature {
			msg = "Clerk: Handshake token verification failed due to an invalid signature. If you have switched Clerk keys locally, clear your cookies and try again."
		}
		e.log.Error(msg, slog.String("reason", string(reason)))
		return hsResult{kind: hsFatal, reason: reason, message: msg}
	}
	e.log.Warn("Clerk: unable to resolve handshake", "reason", string(reason), "error", err.Error())
	return hsResult{kind: hsFailed, reason: reason, message: err.Error()}
}

// clearHandshakeCookies deletes the handshake cookies the request carries,
// unless the directives already name them (Clerk's own deletions carry the
// right Domain; ours are host-only).
func (e *Engine) clearHandshakeCookies(c *authContext, directives []string) []string {
	var del []string
	for _, name := range []string{clerk.CookieHandshake, clerk.CookieHandshakeNonce} {
		if _, ok := c.cookies.Get(name); !ok {
			continue
		}
		named := false
		for _, d := range directives {
			if clerk.DirectiveName(d) == name {
				named = true
				break
			}
		}
		if named {
			continue
		}
		cookie := name + "=; Path=/; Max-Age=0; SameSite=Lax"
		if c.req.URL.Scheme == "https" {
			cookie += "; Secure"
		}
		del = append(del, cookie)
	}
	return del
}

func redirectHostsOrNone(list []string, log interface {
	Error(string, ...any)
}) RedirectHosts {
	rh, err := ParseRedirectHosts(list)
	if err != nil {
		// Start-up validates ALLOWED_REDIRECT_HOSTS; failing closed here
		// means only same-origin targets are accepted.
		log.Error("ALLOWED_REDIRECT_HOSTS ignored", "error", err.Error())
		return RedirectHosts{}
	}
	return rh
}
