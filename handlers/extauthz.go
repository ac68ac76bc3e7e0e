package handlers

import (
	"net/http"
	"strings"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
)

// extAuthzPrefix is Envoy's path_prefix: Envoy sends the original method,
// Host and path appended to it.
const extAuthzPrefix = "/ext-authz"

// readExtAuthz reads Envoy ext_authz in HTTP mode: the original method is
// the request's own, the original path and query follow the prefix, the
// host is Host (:authority), the scheme is X-Forwarded-Proto (set with
// headers_to_add: %REQ(:SCHEME)%).
func readExtAuthz(r *http.Request) (*authz.Request, error) {
	method, err := originalMethod(r.Method)
	if err != nil {
		return nil, err
	}
	scheme, err := originalScheme(firstValue(header(r.Header, headerForwardedProto)))
	if err != nil {
		return nil, err
	}
	host, err := originalHost(r.Host)
	if err != nil {
		return nil, err
	}
	uri := strings.TrimPrefix(r.RequestURI, extAuthzPrefix)
	if uri == "" || uri[0] == '?' {
		uri = "/" + uri
	}
	o := new(originalRequest)
	if err := buildURLInto(&o.url, scheme, host, uri); err != nil {
		return nil, err
	}
	o.req = authz.Request{Method: method, URL: &o.url, Header: r.Header, ClientIP: clientIP(r.Header, remoteHost(r.RemoteAddr))}
	return &o.req, nil
}
