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
	if !c.req.IsBrowserNavigation() {
		return out(reason, msg)
	}
	count := c.redirectCount()
	if count == maxRedirectCount {
		return out(reason, "Clerk: Refreshing the session token resulted in an infinite redirect loop. This usually means that your Clerk instance keys do not match - make sure to copy the correct publishable and secret keys from the Clerk dashboard.")
	}
	return authState{
		status:     handshake,
		reason:     reason,
		message:    msg,
		location:   e.handshakeURL(c, reason),
		setCookies: []string{redirectCountCookie(count + 1)},
	}
}

// handshakeURL is buildRedirectToHandshake: the Frontend API (or
// CLERK_PROXY_URL) /v1/client/handshake with, in the SDK's order,
// redirect_url, __clerk_api_version, suffixed_cookies, __clerk_hs_reason,
// format=nonce, the current session token and (dev) the dev-browser token.
func (e *Engine) handshakeURL(c *authContext, reason clerk.Reason) string {
	q := make([]string, 0, 7)
	add := func(k, v string) { q = append(q, url.QueryEscape(k)+"="+url.QueryEscape(v)) }
	add("redirect_url", e.handshakeReturnURL(c.req))
	add("__clerk_api_version", clerk.APIVersion)
	add("suffixed_cookies", strconv.FormatBool(c.suffixed))
	add("__clerk_hs_reason", string(reason))
	add("format", "nonce")
	if tok := c.sessionToken(); tok != "" {
		add("__session", tok)
	}
	if !e.cfg.PublishableKey.Production && c.devBrowser != "" {
		add(clerk.CookieDevBrowser, c.devBrowser)
	}
	return e.frontendAPI() + "/v1/client/handshake?" + strings.Join(q, "&")
}

// frontendAPI is CLERK_PROXY_URL when set, else https://<FAPI host>.
func (e *Engine) frontendAPI() string {
	if e.cfg.ProxyURL != "" {
		return strings.TrimRight(e.cfg.ProxyURL, "/")
	}
	return "https://" + e.cfg.PublishableKey.FAPIHost
}

// handshakeReturnURL is where Clerk sends the browser back: the original
// URL without dev-browser parameters, or, for proxies that cannot set
// several cookies from an auth subrequest, the callback route on the same
// host carrying that URL.
func (e *Engine) handshakeReturnURL(r *Request) string {
	back := *r.URL
	back.RawQuery = removeQueryParams(back.RawQuery, clerk.CookieDevBrowser, "__dev_session")
	back.Fragment = ""
	if !r.ReturnViaCallback {
		return back.String()
	}
	cb := url.URL{Scheme: r.URL.Scheme, Host: r.URL.Host, Path: e.cfg.CallbackPath}
	cb.RawQuery = "redirect_url=" + url.QueryEscape(back.String())
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
