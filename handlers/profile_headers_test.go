package handlers

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
)

// TestProfileHeadersOnlyWhenTheEngineHasThemOn: X-Auth-User-Email/-Name are
// absent unless USER_PROFILE_HEADERS is on; then every allow sets both,
// empty when unknown (and Envoy is told to drop a client's empty copy).
func TestProfileHeadersOnlyWhenTheEngineHasThemOn(t *testing.T) {
	tests := []struct {
		name             string
		id               authz.Identity
		envoy            bool
		email, userName  string
		present, removed bool
	}{
		{"off", authz.Identity{UserID: "user_1", Email: "ignored@example.com"}, false, "", "", false, false},
		{"on", authz.Identity{UserID: "user_1", ProfileHeaders: true, Email: "ada@example.com", Name: "Ada Lovelace"}, false, "ada@example.com", "Ada Lovelace", true, false},
		{"on, anonymous", authz.Identity{ProfileHeaders: true}, false, "", "", true, false},
		{"on, anonymous, Envoy", authz.Identity{ProfileHeaders: true}, true, "", "", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			render(w, authz.Decision{Outcome: authz.Allow, Identity: tt.id}, dialect{redirects: true, envoy: tt.envoy})
			h := w.Header()
			_, hasEmail := h[HeaderUserEmail]
			_, hasName := h[HeaderUserName]
			if hasEmail != tt.present || hasName != tt.present || h.Get(HeaderUserEmail) != tt.email || h.Get(HeaderUserName) != tt.userName {
				t.Fatalf("headers %v", h)
			}
			removeList := h.Get("X-Envoy-Auth-Headers-To-Remove")
			if got := removeListHas(removeList, "x-auth-user-email") && removeListHas(removeList, "x-auth-user-name"); got != tt.removed {
				t.Fatalf("x-envoy-auth-headers-to-remove %q", removeList)
			}
		})
	}
}

// removeListHas reports item in a comma-separated header list.
func removeListHas(list, item string) bool {
	for _, v := range strings.Split(list, ",") {
		if strings.TrimSpace(v) == item {
			return true
		}
	}
	return false
}
