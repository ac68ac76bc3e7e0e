package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
)

// callback serves CALLBACK_PATH (default /_auth/callback), the route the
// browser itself reaches when a handshake started by /auth-request comes
// back: NGINX carries only one Set-Cookie from an auth subrequest, so the
// handshake's redirect_url points here and this reply sets every cookie.
//
// The proxy sends this path straight to the service (NGINX: a `location
// /_auth/` without auth_request) and must set:
//
//	X-Forwarded-Proto  the scheme the browser used ($scheme); required
//	Host               the app's host as the browser sent it ($host)
//	X-Forwarded-Host   optional; when present its first value wins over Host
//
// The callback's own URL is then <proto>://<host><request URI>. Its
// redirect_url (absent: "/") must be on that origin or on
// ALLOWED_REDIRECT_HOSTS; anything else is 400, never followed. With
// handshake parameters (__clerk_handshake or __clerk_handshake_nonce, in the
// query or as cookies) the reply is a 307 to redirect_url with the
// handshake's cookies; without, a plain 307 to redirect_url.
func (s *server) callback(ctx context.Context, w http.ResponseWriter, r *http.Request, hs *headerSetter) outcome {
	u, err := readCallbackURL(r)
	if err != nil {
		return outcome{bad: err, status: hs.writeJSON(w, http.StatusBadRequest, "bad_request", err.Error())}
	}
	raw := u.Query().Get("redirect_url")
	if raw == "" {
		raw = "/"
	}
	target, err := s.engine.ValidateRedirect(raw, u)
	if err == nil && strings.EqualFold(target.Host, u.Host) && target.Path == s.engine.CallbackPath() {
		err = errBad("redirect_url points back at the callback route")
	}
	if err != nil {
		return outcome{
			bad:    errBad("callback redirect_url refused: " + err.Error()),
			status: hs.writeJSON(w, http.StatusBadRequest, "bad_request", "invalid redirect_url"),
		}
	}
	req := &authz.Request{Method: http.MethodGet, URL: u, Header: r.Header, ClientIP: clientIP(r.Header, remoteHost(r.RemoteAddr))}
	d := s.engine.CompleteHandshake(ctx, req, target)
	return outcome{req: req, d: d, status: hs.render(w, d, dialect{redirects: true})}
}

// readCallbackURL is the browser's URL of the callback request.
func readCallbackURL(r *http.Request) (*url.URL, error) {
	scheme, host, err := browserOrigin(r)
	if err != nil {
		return nil, err
	}
	return buildURL(scheme, host, r.RequestURI)
}
