package handlers

import (
	"net/http"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
)

// readForwardAuth reads Traefik's forwardAuth and Caddy's forward_auth:
// the original request is X-Forwarded-Method, -Proto, -Host and -Uri (both
// proxies overwrite these). Nothing falls back to the subrequest's own
// line or to another header family.
func readForwardAuth(r *http.Request) (*authz.Request, error) {
	method, err := originalMethod(r.Header.Get("X-Forwarded-Method"))
	if err != nil {
		return nil, err
	}
	scheme, err := originalScheme(r.Header.Get("X-Forwarded-Proto"))
	if err != nil {
		return nil, err
	}
	host, err := originalHost(firstValue(r.Header.Get("X-Forwarded-Host")))
	if err != nil {
		return nil, err
	}
	u, err := buildURL(scheme, host, r.Header.Get("X-Forwarded-Uri"))
	if err != nil {
		return nil, err
	}
	return &authz.Request{Endpoint: "forward-auth", Method: method, URL: u, Header: r.Header, ClientIP: clientIP(r)}, nil
}
