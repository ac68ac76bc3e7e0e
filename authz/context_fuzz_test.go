package authz

import (
	"strings"
	"testing"
)

// refParseAuthorization is @clerk/backend parseAuthorizationHeader as its
// JavaScript reads: const [scheme, token] = h.split(" ", 2).
func refParseAuthorization(h string) string {
	if h == "" {
		return ""
	}
	parts := strings.Split(h, " ")
	scheme, token := parts[0], ""
	if len(parts) > 1 {
		token = parts[1]
	}
	if token == "" {
		return scheme
	}
	if scheme == "Bearer" {
		return token
	}
	return ""
}

// FuzzParseAuthorization: never panics, agrees with the SDK's reading, and
// what it returns is a space-free piece of the header.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"", "Bearer a.b.c", "bearer a.b.c", "Bearer  a.b.c", "Bearer a.b.c extra", "a.b.c", "Basic dXNlcjpwYXNz",
		"Bearer", "Bearer ", " Bearer a", "Bearer\ta.b.c", "Token mt_123", "Bearer oat_x", "Bearer ak_x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got := parseAuthorization(h)
		if want := refParseAuthorization(h); got != want {
			t.Fatalf("parseAuthorization(%q) = %q, SDK reads %q", h, got, want)
		}
		if strings.Contains(got, " ") || !strings.Contains(h, got) {
			t.Fatalf("token %q is not a space-free part of %q", got, h)
		}
	})
}
