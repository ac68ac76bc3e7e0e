package authz

import (
	"strings"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
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

// splitNParseAuthorization is parseAuthorization as it was written with
// strings.SplitN, kept as the reference for the Cut version.
func splitNParseAuthorization(h string) string {
	if h == "" {
		return ""
	}
	fields := strings.SplitN(h, " ", 3)
	if len(fields) < 2 || fields[1] == "" {
		return fields[0]
	}
	if fields[0] == "Bearer" {
		return fields[1]
	}
	return ""
}

// TestParseAuthorizationMatchesSplitN compares the Cut version with the
// SplitN one and the SDK's reading over every header of up to five pieces.
func TestParseAuthorizationMatchesSplitN(t *testing.T) {
	pieces := []string{"", " ", "  ", "\t", "Bearer", "bearer", "BEARER", "Basic", "a.b.c", "x"}
	var gen func(h string, depth int)
	n := 0
	gen = func(h string, depth int) {
		n++
		got, old, sdk := parseAuthorization(h), splitNParseAuthorization(h), refParseAuthorization(h)
		if got != old || got != sdk {
			t.Fatalf("parseAuthorization(%q) = %q; SplitN version %q, SDK %q", h, got, old, sdk)
		}
		if depth == 5 {
			return
		}
		for _, p := range pieces[1:] {
			gen(h+p, depth+1)
		}
	}
	gen("", 0)
	if n < 50000 {
		t.Fatalf("only %d headers generated", n)
	}
}

func TestParseAuthorizationDoesNotAllocate(t *testing.T) {
	h := "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"
	if n := testing.AllocsPerRun(100, func() { _ = parseAuthorization(h) }); n != 0 {
		t.Fatalf("%v allocations per call", n)
	}
}

// FuzzMayNameClerkParams: whenever a query decodes to one of the
// parameters the decision reads, the cheap test says it may, so skipping
// the parse never hides one.
func FuzzMayNameClerkParams(f *testing.F) {
	for _, s := range []string{"", "tab=1", "__clerk_handshake=x", "%5F%5Fclerk_db_jwt=1", "a=1&__clerk_handshake_nonce=n", "%5f_clerk_handshake=1", "_%5Fclerk=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q := parseQueryLikeJS(raw)
		for _, k := range []string{clerk.CookieDevBrowser, clerk.CookieHandshake, clerk.CookieHandshakeNonce, clerk.QueryClerkSynced, clerk.QueryClerkRedirectURL} {
			if q.has(k) && !mayNameClerkParams(raw) {
				t.Fatalf("%q holds %s, but mayNameClerkParams says no", raw, k)
			}
		}
	})
}
