package authz

import (
	"net/url"
	"strings"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// A Clerk instance can serve several domains: one primary, where users
// sign in, and satellites, which share the primary's sessions. A satellite
// has its own Frontend API (clerk.<domain> in production) and syncs its
// cookies from the primary through a handshake. The SDK takes the domain
// as options (isSatellite, domain); this service reads it per request
// from the request's host, so that one deployment can serve the primary
// and its satellites.

// site is the Clerk domain a request belongs to.
type site struct {
	satellite bool
	// domain is the satellite's Clerk domain; "" on the primary.
	domain string
	// fapiHost is the Frontend API of the domain without CLERK_PROXY_URL
	// (the SDK's originalFrontendApi): the publishable key's, or
	// clerk.<domain> for a production satellite. A session cookie whose
	// iss names another host belongs to another instance.
	fapiHost string
}

// newSites builds the primary site and one site per satellite domain,
// longest domain first so that the most specific one matches. With
// IsSatellite every request is for Config.Domain.
func newSites(cfg *Config) (primary site, satellites []site) {
	pk := cfg.PublishableKey
	primary = site{fapiHost: pk.FAPIHost}
	domains := cfg.SatelliteDomains
	if cfg.IsSatellite {
		domains = []string{cfg.Domain}
	}
	for _, d := range domains {
		d = canonicalHostName(d)
		s := site{satellite: true, domain: d, fapiHost: pk.FAPIHost}
		// parsePublishableKey: only production satellites move their
		// Frontend API to their own domain.
		if pk.Production && d != "" {
			s.fapiHost = "clerk." + d
		}
		satellites = append(satellites, s)
	}
	// Longest first: a.b.example.com before b.example.com.
	for i := 1; i < len(satellites); i++ {
		for j := i; j > 0 && len(satellites[j].domain) > len(satellites[j-1].domain); j-- {
			satellites[j], satellites[j-1] = satellites[j-1], satellites[j]
		}
	}
	return primary, satellites
}

// siteOf is the site of a request: with CLERK_IS_SATELLITE the one
// satellite; with CLERK_SATELLITE_DOMAINS the satellite whose domain is the
// request's host or a parent of it; else the primary.
func (e *Engine) siteOf(r *Request) *site {
	if len(e.satellites) == 0 {
		return &e.primary
	}
	if e.cfg.IsSatellite {
		return &e.satellites[0]
	}
	host := canonicalHostName(r.URL.Hostname())
	for i := range e.satellites {
		d := e.satellites[i].domain
		if host == d || (len(host) > len(d) && host[len(host)-len(d)-1] == '.' && host[len(host)-len(d):] == d) {
			return &e.satellites[i]
		}
	}
	return &e.primary
}

// frontendAPI is where a request's handshakes go (the SDK's frontendApi):
// CLERK_PROXY_URL, a path such as /__clerk resolved against the request's
// public origin; else the site's Frontend API.
func (e *Engine) frontendAPI(c *authContext) string {
	proxy := e.cfg.ProxyURL
	switch {
	case proxy == "":
		return "https://" + c.site.fapiHost
	case strings.HasPrefix(proxy, "/"):
		return webOrigin(c.req.URL) + strings.TrimRight(proxy, "/")
	}
	return strings.TrimRight(proxy, "/")
}

// satelliteSync is cookie-flow rows 2 and 3 (authenticateRequestWithTokenInCookie):
// a document navigation to a satellite that has not just synced. Without
// Clerk cookies it is signed out, unless the URL asks for a sync
// (__clerk_synced=false, which our sign-in redirect puts on the return URL)
// or CLERK_SATELLITE_AUTO_SYNC is on; then production hand-shakes with the
// satellite's Frontend API, which reads the session from the primary, and
// development sends the browser to the primary's sign-in page with
// __clerk_redirect_url. done is false when the flow continues.
func (e *Engine) satelliteSync(c *authContext) (st authState, done bool) {
	r := c.req
	if !c.site.satellite || r.Method != "GET" || r.Header.Get("Sec-Fetch-Dest") != "document" {
		return authState{}, false
	}
	synced := clerkQueryParam(r, clerk.QueryClerkSynced)
	if synced == clerk.SyncCompleted {
		return authState{}, false
	}
	hasCookies := c.sessionCookie != "" || c.clientUAT != 0
	needsSync := synced == clerk.SyncNeeded
	switch {
	case !e.cfg.SatelliteAutoSync && !hasCookies && !needsSync:
		return out(clerk.ReasonSessionTokenAndUATMissing, ""), true
	case hasCookies && !needsSync:
		return authState{}, false
	case e.cfg.PublishableKey.Production:
		return e.maybeHandshake(c, clerk.ReasonSatelliteNeedsSyncing, ""), true
	}
	to := appendQueryParam(e.cfg.SignInURL, clerk.QueryClerkRedirectURL, webHref(r.URL))
	return e.maybeRedirect(c, clerk.ReasonSatelliteNeedsSyncing, "", to), true
}

// primaryRespondsToSyncing is cookie-flow row 4: a development primary
// asked by a satellite (__clerk_redirect_url) sends the browser back to it
// with the dev-browser token and __clerk_synced=true. The SDK follows any
// URL there, which makes it an open redirect; here the target must pass
// the same check as every other redirect (its host in
// ALLOWED_REDIRECT_HOSTS), else the parameter is ignored.
func (e *Engine) primaryRespondsToSyncing(c *authContext) (authState, bool) {
	r := c.req
	if c.site.satellite || e.cfg.PublishableKey.Production {
		return authState{}, false
	}
	target := clerkQueryParam(r, clerk.QueryClerkRedirectURL)
	if target == "" {
		return authState{}, false
	}
	// A satellite sends its absolute URL (the SDK's new URL() would throw
	// on a path).
	back, err := e.ValidateRedirect(target, r.URL)
	if err == nil && strings.HasPrefix(target, "/") {
		err = refuse("not an absolute URL")
	}
	if err != nil {
		e.log.Warn("ignoring __clerk_redirect_url", "error", err.Error())
		return authState{}, false
	}
	q := parseQueryLikeJS(back.RawQuery)
	if c.devBrowser != "" {
		q = q.add(clerk.CookieDevBrowser, c.devBrowser)
	}
	back.RawQuery = q.set(clerk.QueryClerkSynced, clerk.SyncCompleted).encode()
	return e.maybeRedirect(c, clerk.ReasonPrimaryRespondsToSyncing, "", webHref(back)), true
}

// syncedReturn marks the URL a satellite's completed handshake sends the
// browser back to: __clerk_synced=false there would start another sync on
// arrival, where the SDK, which answers that same request, is done.
func (e *Engine) syncedReturn(c *authContext, back *url.URL) {
	if !c.site.satellite || !mayNameClerkParams(back.RawQuery) {
		return
	}
	if parseQueryLikeJS(back.RawQuery).get(clerk.QueryClerkSynced) != clerk.SyncNeeded {
		return
	}
	// The rest of the app's query stays byte for byte.
	back.RawQuery = removeQueryParams(back.RawQuery, clerk.QueryClerkSynced)
	if back.RawQuery != "" {
		back.RawQuery += "&"
	}
	back.RawQuery += clerk.QueryClerkSynced + "=" + clerk.SyncCompleted
}

// clerkQueryParam reads one of Clerk's query parameters as URLSearchParams
// does (a bad escape or a ';' does not hide it), without parsing queries
// that cannot hold one.
func clerkQueryParam(r *Request, name string) string {
	if !mayNameClerkParams(r.URL.RawQuery) {
		return ""
	}
	return parseQueryLikeJS(r.URL.RawQuery).get(name)
}
