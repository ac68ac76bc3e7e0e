package authz

import (
	"net/http"
	"net/url"
)

// Request is the original request as the proxy described it.
type Request struct {
	// Method is the original request's method (from the proxy's header,
	// never from the subrequest line unless the proxy forwards it as is).
	Method string
	// URL is the original absolute URL: scheme, host, path, raw query.
	URL *url.URL
	// Header holds the client's headers as the proxy forwarded them.
	Header http.Header
	// Rule is the per-route rule from the auth URL; nil means the policy
	// file (or the default rule: signed in).
	Rule *Rule
	// ReturnViaCallback makes handshake redirects come back through the
	// service's callback path on the original host: NGINX can carry only
	// one Set-Cookie from an auth subrequest, so the callback route, which
	// the proxy sends straight to the service, sets the cookies.
	ReturnViaCallback bool
	// ClientIP is the client address as the proxy reported it (logs).
	ClientIP string
}

// IsBrowserNavigation is Clerk's own test for a request that may be
// redirected (isRequestEligibleForHandshake): a GET whose Sec-Fetch-Dest is
// exactly "document" or "iframe", or, without Sec-Fetch-Dest, whose Accept
// starts with "text/html". HEAD and POST never qualify.
func (r *Request) IsBrowserNavigation() bool {
	if r.Method != http.MethodGet {
		return false
	}
	dest := r.Header.Get("Sec-Fetch-Dest")
	if dest == "document" || dest == "iframe" {
		return true
	}
	if dest == "" && len(r.Header.Get("Accept")) >= 9 && r.Header.Get("Accept")[:9] == "text/html" {
		return true
	}
	return false
}

// IsCORSPreflight reports an OPTIONS request with Origin and
// Access-Control-Request-Method; browsers send those without credentials.
func (r *Request) IsCORSPreflight() bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}
