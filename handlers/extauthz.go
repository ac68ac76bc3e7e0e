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
	scheme, err := originalScheme(firstValue(r.Header.Get("X-Forwarded-Proto")))
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
	u, err := buildURL(scheme, host, uri)
	if err != nil {
		return nil, err
	}
	return &authz.Request{Endpoint: "ext-authz", Method: method, URL: u, Header: r.Header, ClientIP: clientIP(r)}, nil
}
