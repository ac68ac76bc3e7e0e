package handlers

import (
	"net/http"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
)

// readAuthRequest reads NGINX auth_request and ingress-nginx: the original
// URL is X-Original-URL, or X-Original-URI with X-Forwarded-Proto and
// X-Forwarded-Host (else Host, which the snippet sets to $host); the method
// is X-Original-Method. NGINX sends none of these by itself, so a missing
// one is a configuration error: 400, which NGINX turns into 500.
func readAuthRequest(r *http.Request) (*authz.Request, error) {
	method, err := originalMethod(header(r.Header, headerOriginalMethod))
	if err != nil {
		return nil, err
	}
	var req = &authz.Request{Method: method, Header: r.Header, ClientIP: clientIP(r.Header, remoteHost(r.RemoteAddr)), ReturnViaCallback: true}
	if full := header(r.Header, headerOriginalURL); full != "" {
		req.URL, err = parseAbsoluteURL(full)
		return req, err
	}
	scheme, host, err := browserOrigin(r)
	if err != nil {
		return nil, err
	}
	req.URL, err = buildURL(scheme, host, header(r.Header, headerOriginalURI))
	return req, err
}

// browserOrigin is the scheme and host the browser used, as NGINX passes
// them to /auth-request and the callback: X-Forwarded-Proto (its first
// value; required) and X-Forwarded-Host's first value, else Host (which
// the snippets set to $host).
func browserOrigin(r *http.Request) (scheme, host string, err error) {
	scheme, err = originalScheme(firstValue(header(r.Header, headerForwardedProto)))
	if err != nil {
		return "", "", err
	}
	hostHeader := firstValue(header(r.Header, headerForwardedHost))
	if hostHeader == "" {
		hostHeader = r.Host
	}
	host, err = originalHost(hostHeader)
	return scheme, host, err
}
