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
	method, err := originalMethod(header(r.Header, headerForwardedMethod))
	if err != nil {
		return nil, err
	}
	scheme, err := originalScheme(header(r.Header, headerForwardedProto))
	if err != nil {
		return nil, err
	}
	host, err := originalHost(firstValue(header(r.Header, headerForwardedHost)))
	if err != nil {
		return nil, err
	}
	o := new(originalRequest)
	if err := buildURLInto(&o.url, scheme, host, header(r.Header, headerForwardedURI)); err != nil {
		return nil, err
	}
	o.req = authz.Request{Method: method, URL: &o.url, Header: r.Header, ClientIP: clientIP(r.Header, remoteHost(r.RemoteAddr))}
	return &o.req, nil
}
