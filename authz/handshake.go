package authz

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// maxRedirectCount is the SDK's loop guard: after three handshakes within
// the counter cookie's two-second life, the request is signed out.
const maxRedirectCount = 3

// maybeHandshake is handleMaybeHandshakeStatus: only browser navigations
// hand-shake; everything else is signed out with the same reason.
func (e *Engine) maybeHandshake(c *authContext, reason clerk.Reason, msg string) authState {
	return e.maybeRedirect(c, reason, msg, "")
}

// maybeRedirect is maybeHandshake with the redirect the SDK passes in
// place of the handshake's (a development satellite's trip to the
// primary's sign-in page); location "" means the handshake.
func (e *Engine) maybeRedirect(c *authContext, reason clerk.Reason, msg, location string) authState {
	if !c.req.IsBrowserNavigation() {
		return out(reason, msg)
	}
	count := c.redirectCount()
	if count == maxRedirectCount {
		return out(reason, redirectLoopMessage(reason))
	}
	if location == "" {
		location = e.handshakeURL(c, reason)
	}
	return authState{
		status:     handshake,
		reason:     reason,
		message:    msg,
		location:   location,
		setCookies: []string{redirectCountCookie(count + 1)},
	}
}

// redirectLoopMessage is what the SDK logs when the loop guard trips.
func redirectLoopMessage(reason clerk.Reason) string {
	if reason == clerk.ReasonSatelliteNeedsSyncing {
		return "Clerk: Satellite-domain authentication resulted in an infinite redirect loop. Check that this request is using a configured primary or satellite domain for the production instance. For preview deployments, use a development/staging Clerk instance or a supported configured preview-domain setup."
	}
	return "Clerk: Refreshing the session token resulted in an infinite redirect loop. This usually means that your Clerk instance keys do not match - make sure to copy the correct publishable and secret keys from the Clerk dashboard."
}

// handshakeURL is buildRedirectToHandshake: the request's Frontend API
// (frontendAPI) /v1/client/handshake with, in the SDK's order,
// redirect_url, __clerk_api_version, suffixed_cookies, __clerk_hs_reason,
// format=nonce, the current session token, (dev) the dev-browser token and,
// when the URL matches an organization sync pattern (orgsync.go), the
// organization to activate, whatever the reason.
func (e *Engine) handshakeURL(c *authContext, reason clerk.Reason) string {
	q := make(queryPairs, 0, 8)
	q = q.add("redirect_url", e.handshakeReturnURL(c.req))
	q = q.add("__clerk_api_version", clerk.APIVersion)
	q = q.add("suffixed_cookies", strconv.FormatBool(c.suffixed))
	q = q.add("__clerk_hs_reason", string(reason))
	q = q.add("format", "nonce")
	if tok := c.sessionToken(); tok != "" {
		q = q.add("__session", tok)
	}
	if !e.cfg.PublishableKey.Production && c.devBrowser != "" {
		q = q.add(clerk.CookieDevBrowser, c.devBrowser)
	}
	if t, ok := e.cfg.OrganizationSync.targetOf(c.req); ok {
		q = q.add("organization_id", t.queryValue())
	}
	return e.frontendAPI(c) + "/v1/client/handshake?" + q.encode()
}

// handshakeReturnURL is where Clerk sends the browser back: the original
// URL without dev-browser parameters, or, for proxies that cannot set
// several cookies from an auth subrequest, the callback route on the same
// host carrying that URL.
func (e *Engine) handshakeReturnURL(r *Request) string {
	back := *r.URL
	// The SDK deletes them through URLSearchParams, which writes the
	// whole query back in form encoding ("~" becomes "%7E").
	if back.RawQuery != "" {
		back.RawQuery = parseQueryLikeJS(back.RawQuery).without(clerk.CookieDevBrowser, "__dev_session").encode()
	}
	back.Fragment = ""
	if !r.ReturnViaCallback {
		return webHref(&back)
	}
	cb := url.URL{Scheme: r.URL.Scheme, Host: r.URL.Host, Path: e.cfg.CallbackPath}
	cb.RawQuery = "redirect_url=" + url.QueryEscape(webHref(&back))
	return cb.String()
}

// removeQueryParams drops the named parameters from a raw query and keeps
// the rest byte for byte, in order.
func removeQueryParams(raw string, names ...string) string {
	if raw == "" {
		return raw
	}
	parts := strings.Split(raw, "&")
	kept := parts[:0]
	for _, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		drop := false
		for _, n := range names {
			if k == n {
				drop = true
				break
			}
		}
		if !drop {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, "&")
}
