package handlers

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
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
)

// IdentityHeaders lists the identity headers in a stable order.
var IdentityHeaders = []string{HeaderUserID, HeaderSessionID, HeaderOrgID, HeaderOrgSlug, HeaderOrgRole, HeaderOrgPermissions, HeaderActorID}

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

// profileHeaders are the profile headers an allow carries: none unless the
// engine has profiles on, then both, empty when unknown.
func profileHeaders(id authz.Identity) [][2]string {
	if !id.ProfileHeaders {
		return nil
	}
	return [][2]string{{HeaderUserEmail, id.Email}, {HeaderUserName, id.Name}}
}

func identityValues(id authz.Identity) [7]string {
	return [7]string{id.UserID, id.SessionID, id.OrgID, id.OrgSlug, id.OrgRole, strings.Join(id.OrgPermissions, ","), id.ActorID}
}

// render writes a decision for a proxy dialect.
func render(w http.ResponseWriter, d authz.Decision, dl dialect) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	for _, c := range d.SetCookies {
		h.Add("Set-Cookie", c)
	}
	switch d.Outcome {
	case authz.Allow:
		var remove []string
		for i, v := range identityValues(d.Identity) {
			h.Set(IdentityHeaders[i], v)
			if v == "" {
				remove = append(remove, strings.ToLower(IdentityHeaders[i]))
			}
		}
		for _, kv := range profileHeaders(d.Identity) {
			h.Set(kv[0], kv[1])
			if kv[1] == "" {
				remove = append(remove, strings.ToLower(kv[0]))
			}
		}
		if dl.envoy && len(remove) > 0 {
			h.Set("X-Envoy-Auth-Headers-To-Remove", strings.Join(remove, ", "))
		}
		w.WriteHeader(http.StatusOK)
	case authz.SignIn, authz.Handshake:
		h.Set("Location", d.Location)
		h.Set("X-Clerk-Auth-Reason", string(d.Reason))
		if dl.redirects {
			h.Set("X-Clerk-Auth-Status", statusWord(d.Outcome))
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
		h.Set("WWW-Authenticate", "Bearer")
		writeJSON(w, http.StatusUnauthorized, "unauthenticated", string(d.Reason))
	case authz.Unauthenticated:
		h.Set("WWW-Authenticate", "Bearer")
		h.Set("X-Clerk-Auth-Status", "signed-out")
		h.Set("X-Clerk-Auth-Reason", string(d.Reason))
		writeJSON(w, http.StatusUnauthorized, "unauthenticated", string(d.Reason))
	case authz.Forbidden:
		writeJSON(w, http.StatusForbidden, "forbidden", string(d.Reason))
	case authz.Unavailable:
		h.Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, "unavailable", string(d.Reason))
	default:
		writeJSON(w, http.StatusInternalServerError, "misconfigured", string(d.Reason))
	}
}

func statusWord(o authz.Outcome) string {
	if o == authz.Handshake {
		return "handshake"
	}
	return "signed-out"
}

// writeJSON writes {"error":…, "reason":…}.
func writeJSON(w http.ResponseWriter, status int, errWord, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error  string `json:"error"`
		Reason string `json:"reason"`
	}{errWord, reason})
}

// firstValue is the first comma-separated value of a header.
func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}
