package handlers

import (
	"net/http"
	"strings"
	"sync"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/observe"
)

// The identity headers. Every allow sets all of them, empty when they do
// not apply, so a proxy that copies them always overwrites a client's copy.
const (
	HeaderUserID         = "X-Auth-User-Id"
	HeaderSessionID      = "X-Auth-Session-Id"
	HeaderOrgID          = "X-Auth-Org-Id"
	HeaderOrgSlug        = "X-Auth-Org-Slug"
	HeaderOrgRole        = "X-Auth-Org-Role"
	HeaderOrgPermissions = "X-Auth-Org-Permissions"
	HeaderActorID        = "X-Auth-Actor-Id"
	HeaderTokenType      = "X-Auth-Token-Type" //nolint:gosec // a header name, not a credential
	HeaderMachineID      = "X-Auth-Machine-Id"
	HeaderTokenID        = "X-Auth-Token-Id" //nolint:gosec // a header name, not a credential
	HeaderScopes         = "X-Auth-Scopes"
	HeaderClientID       = "X-Auth-Client-Id"
)

// IdentityHeaders lists the identity headers in a stable order.
var IdentityHeaders = []string{
	HeaderUserID, HeaderSessionID, HeaderOrgID, HeaderOrgSlug, HeaderOrgRole, HeaderOrgPermissions, HeaderActorID,
	HeaderTokenType, HeaderMachineID, HeaderTokenID, HeaderScopes, HeaderClientID,
}

// dialect is how one proxy family wants decisions rendered.
type dialect struct {
	// redirects: the proxy passes a 3xx with its headers to the browser.
	// NGINX auth_request turns any 3xx into 500, so it gets 401 + Location.
	redirects bool
	// envoy: list unset identity headers in x-envoy-auth-headers-to-remove,
	// since Envoy keeps a client's copy of a header we do not send.
	envoy bool
}

// The optional profile headers (USER_PROFILE_HEADERS=true).
const (
	HeaderUserEmail = "X-Auth-User-Email"
	HeaderUserName  = "X-Auth-User-Name"
)

// identityHeaderCount is len(IdentityHeaders), as a constant for arrays.
const identityHeaderCount = 12

func identityValues(id authz.Identity) [identityHeaderCount]string {
	return [identityHeaderCount]string{
		id.UserID, id.SessionID, id.OrgID, id.OrgSlug, id.OrgRole, strings.Join(id.OrgPermissions, ","), id.ActorID,
		string(id.TokenType), id.MachineID, id.TokenID, strings.Join(id.Scopes, ","), id.ClientID,
	}
}

// Header names as render writes them. Each is its own canonical form
// (http.CanonicalHeaderKey), so values are assigned to the header map
// directly instead of through Set, which canonicalises the key every time.
const (
	headerCacheControl        = "Cache-Control"
	headerSetCookie           = "Set-Cookie"
	headerLocation            = "Location"
	headerClerkAuthReason     = "X-Clerk-Auth-Reason"
	headerClerkAuthStatus     = "X-Clerk-Auth-Status"
	headerClerkReverification = "X-Clerk-Reverification"
	headerWWWAuthenticate     = "Www-Authenticate" // canonical form of WWW-Authenticate
	headerRetryAfter          = "Retry-After"
	headerContentType         = "Content-Type"
	headerContentTypeOptions  = "X-Content-Type-Options"
	headerEnvoyRemove         = "X-Envoy-Auth-Headers-To-Remove"
	headerRequestID           = "X-Request-Id"
	lowerHeaderUserEmail      = "x-auth-user-email"
	lowerHeaderUserName       = "x-auth-user-name"
)

const (
	// maxRenderedHeaderValues covers the largest reply, an Envoy allow with
	// profile headers (17 values with the request id), with one to spare.
	maxRenderedHeaderValues = identityHeaderCount + 6
	// Reply bodies are built in pooled buffers; a freak long one is not
	// kept.
	replyBodyPoolInitialBytes = 256
	maxPooledReplyBody        = 4 << 10
)

// identityHeadersLower are IdentityHeaders in lower case, for Envoy's
// x-envoy-auth-headers-to-remove list.
var identityHeadersLower = [identityHeaderCount]string{
	"x-auth-user-id", "x-auth-session-id", "x-auth-org-id", "x-auth-org-slug", "x-auth-org-role", "x-auth-org-permissions", "x-auth-actor-id",
	"x-auth-token-type", "x-auth-machine-id", "x-auth-token-id", "x-auth-scopes", "x-auth-client-id",
}

// headerSetter assigns header values from one backing array, so a reply
// costs one allocation for all its values (and the setter itself) instead
// of one per header. Each value slice is capped at its length: a later Add
// copies instead of writing over the next header's value.
type headerSetter struct {
	h    http.Header
	vals []string
	arr  [maxRenderedHeaderValues]string
}

func newHeaderSetter(h http.Header) *headerSetter {
	hs := &headerSetter{h: h}
	hs.vals = hs.arr[:0]
	return hs
}

// set is h.Set for a canonical key.
func (s *headerSetter) set(key, value string) {
	if len(s.vals) == cap(s.vals) { // more than planned: still correct
		s.h[key] = []string{value}
		return
	}
	i := len(s.vals)
	s.vals = append(s.vals, value)
	s.h[key] = s.vals[i : i+1 : i+1]
}

// render writes a decision for a proxy dialect and returns the status.
func render(w http.ResponseWriter, d authz.Decision, dl dialect) int {
	return newHeaderSetter(w.Header()).render(w, d, dl)
}

// render is render with the header values' backing array shared with
// what the caller set before (the request id).
func (hs *headerSetter) render(w http.ResponseWriter, d authz.Decision, dl dialect) int {
	h := hs.h
	hs.set(headerCacheControl, "no-store")
	if len(d.SetCookies) > 0 {
		h[headerSetCookie] = append(h[headerSetCookie], d.SetCookies...)
	}
	switch d.Outcome {
	case authz.Allow:
		var removeBuf [len(identityHeadersLower) + 2]string
		remove := removeBuf[:0]
		for i, v := range identityValues(d.Identity) {
			hs.set(IdentityHeaders[i], v)
			if v == "" {
				remove = append(remove, identityHeadersLower[i])
			}
		}
		if d.Identity.ProfileHeaders {
			hs.set(HeaderUserEmail, d.Identity.Email)
			hs.set(HeaderUserName, d.Identity.Name)
			if d.Identity.Email == "" {
				remove = append(remove, lowerHeaderUserEmail)
			}
			if d.Identity.Name == "" {
				remove = append(remove, lowerHeaderUserName)
			}
		}
		if dl.envoy && len(remove) > 0 {
			hs.set(headerEnvoyRemove, strings.Join(remove, ", "))
		}
		w.WriteHeader(http.StatusOK)
		return http.StatusOK
	case authz.SignIn, authz.Handshake:
		hs.set(headerLocation, d.Location)
		hs.set(headerClerkAuthReason, string(d.Reason))
		if dl.redirects {
			hs.set(headerClerkAuthStatus, statusWord(d.Outcome))
			w.WriteHeader(http.StatusTemporaryRedirect)
			return http.StatusTemporaryRedirect
		}
		hs.set(headerWWWAuthenticate, "Bearer")
		return hs.writeJSON(w, http.StatusUnauthorized, "unauthenticated", string(d.Reason))
	case authz.Unauthenticated:
		hs.set(headerWWWAuthenticate, "Bearer")
		hs.set(headerClerkAuthStatus, "signed-out")
		hs.set(headerClerkAuthReason, string(d.Reason))
		return hs.writeJSON(w, http.StatusUnauthorized, "unauthenticated", string(d.Reason))
	case authz.Forbidden:
		// The reason also as a header: NGINX cannot pass a subrequest's
		// body on, only headers it reads into variables.
		hs.set(headerClerkAuthReason, string(d.Reason))
		if body := d.ReverificationBody(); body != "" {
			// Clerk's reverification error, which its frontend
			// (useReverification) recognises; the requirement also as a
			// header, from which NGINX's 403 page rebuilds the body.
			hs.set(headerClerkReverification, d.ReverificationMetadata())
			hs.set(headerContentType, "application/json")
			hs.set(headerContentTypeOptions, "nosniff")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(body + "\n")) //nolint:gosec // JSON we build, served as application/json with nosniff
			return http.StatusForbidden
		}
		return hs.writeJSON(w, http.StatusForbidden, "forbidden", string(d.Reason))
	case authz.Unavailable:
		hs.set(headerRetryAfter, "5")
		return hs.writeJSON(w, http.StatusServiceUnavailable, "unavailable", string(d.Reason))
	case authz.Misconfigured:
		return hs.writeJSON(w, http.StatusInternalServerError, "misconfigured", string(d.Reason))
	}
	// An outcome this switch does not name: fail closed.
	return hs.writeJSON(w, http.StatusInternalServerError, "misconfigured", string(d.Reason))
}

func statusWord(o authz.Outcome) string {
	if o == authz.Handshake {
		return "handshake"
	}
	return "signed-out"
}

// writeJSON writes {"error":…, "reason":…} and returns status. The bytes
// are those of the json.Encoder the replies used to be written with.
func writeJSON(w http.ResponseWriter, status int, errWord, reason string) int {
	return newHeaderSetter(w.Header()).writeJSON(w, status, errWord, reason)
}

func (hs *headerSetter) writeJSON(w http.ResponseWriter, status int, errWord, reason string) int {
	hs.set(headerContentType, "application/json")
	hs.set(headerContentTypeOptions, "nosniff")
	w.WriteHeader(status)
	bp := replyBodies.Get().(*[]byte)
	b := append((*bp)[:0], `{"error":`...)
	b = observe.AppendEncoderJSONString(b, errWord)
	b = append(b, `,"reason":`...)
	b = observe.AppendEncoderJSONString(b, reason)
	b = append(b, "}\n"...)
	_, _ = w.Write(b) //nolint:gosec // JSON-encoded, served as application/json with nosniff
	if cap(b) <= maxPooledReplyBody {
		*bp = b
		replyBodies.Put(bp)
	}
	return status
}

// replyBodies hold JSON reply bodies being built.
var replyBodies = sync.Pool{New: func() any { b := make([]byte, 0, replyBodyPoolInitialBytes); return &b }}

// firstValue is the first comma-separated value of a header.
func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}
