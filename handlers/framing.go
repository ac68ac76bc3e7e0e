package handlers

import (
	"log/slog"
	"net/http"
	"net/netip"
)

// guardAuthEndpoints is what every auth endpoint (and the callback) sits
// behind: the TRUSTED_PROXIES check, then guardFraming.
func guardAuthEndpoints(trusted []netip.Prefix, log *slog.Logger) func(http.Handler) http.Handler {
	gate := requireTrustedProxy(trusted, log)
	return func(next http.Handler) http.Handler { return gate(guardFraming(next)) }
}

// guardFraming keeps request smuggling from desynchronising the proxy's
// connection to us. Auth subrequests carry no body (NGINX, Traefik and
// Caddy send none; Envoy sends none unless with_request_body is set, and
// then with a Content-Length), so a body is a framing the proxy and we may
// read differently:
//
//   - Transfer-Encoding (HTTP/1.1): net/http accepts it together with
//     Content-Length by dropping Content-Length (CL.TE) and would answer
//     whatever follows the chunked body as a request of its own, a 200 the
//     proxy may hand to another client. Refused: 400, connection closed.
//   - any other body, e.g. HTTP/1.0 with Transfer-Encoding (which net/http
//     drops without a trace, framing by Content-Length): the request is
//     answered, body unread, and the connection closed so no byte after it
//     is read as a request (RFC 9112 §6.1).
func guardFraming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close")
			writeJSON(w, http.StatusBadRequest, "bad_request", "Transfer-Encoding on an auth subrequest is refused")
			return
		}
		if r.ContentLength != 0 {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
