package authz

import (
	"errors"
	"testing"
)

func TestNormalizePathDecodesUnambiguousPaths(t *testing.T) {
	tests := map[string]string{
		"/":                  "/",
		"/admin":             "/admin",
		"/admin/":            "/admin/",
		"/a/b/c.json":        "/a/b/c.json",
		"/%61dmin":           "/admin", // an encoded letter decodes to the same path upstream
		"/caf%C3%A9":         "/café",
		"/100%25":            "/100%", // a literal percent sign
		"/files/a%20b":       "/files/a b",
		"/.well-known/x":     "/.well-known/x",
		"/a..b/c.":           "/a..b/c.",
		"/Admin":             "/Admin", // case is kept: paths are case-sensitive
		"/api/v1/users/user": "/api/v1/users/user",
	}
	for in, want := range tests {
		got, err := NormalizePath(in)
		if err != nil || got != want {
			t.Errorf("NormalizePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestNormalizePathRefusesAmbiguousSpellings(t *testing.T) {
	tests := []struct{ name, path string }{
		{"encoded slash", "/admin%2Fusers"},
		{"encoded slash, lower case", "/public%2f..%2fadmin"},
		{"encoded dot dot", "/public/%2e%2e/admin"},
		{"encoded dot dot, mixed case", "/public/%2E%2e/admin"},
		{"one encoded dot", "/public/.%2e/admin"},
		{"dot dot segment", "/public/../admin"},
		{"dot segment", "/./admin"},
		{"trailing dot dot", "/public/.."},
		{"double slash", "//admin"},
		{"double slash inside", "/public//admin"},
		{"backslash", "/public\\..\\admin"},
		{"encoded backslash", "/public%5C..%5Cadmin"},
		{"path parameter", "/admin;jsessionid=1"},
		{"encoded path parameter", "/admin%3Bx"},
		{"encoded question mark", "/public%3F/admin"},
		{"encoded hash", "/public%23/../admin"},
		{"double encoding", "/public/%252e%252e/admin"},
		{"double-encoded slash", "/admin%252Fx"},
		{"bad escape", "/admin%zz"},
		{"truncated escape", "/admin%2"},
		{"encoded NUL", "/admin%00.html"},
		{"encoded tab", "/%09/evil"},
		{"encoded newline", "/admin%0a"},
		{"invalid UTF-8", "/%ff%fe"},
		{"relative", "admin"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizePath(tt.path)
			if !errors.Is(err, ErrAmbiguousPath) {
				t.Fatalf("NormalizePath(%q) = %q, %v; want ErrAmbiguousPath", tt.path, got, err)
			}
		})
	}
}

func FuzzNormalizePathOutputIsCanonical(f *testing.F) {
	for _, s := range []string{"/", "/a%2Fb", "/%2e%2e/", "/a//b", "/caf%C3%A9", "/100%25"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := NormalizePath(raw)
		if err != nil {
			return
		}
		// What we accept has one reading: no dot or empty segments,
		// no backslash or ";" after decoding.
		if err := checkDecodedPath(p); err != nil {
			t.Fatalf("NormalizePath(%q) = %q, which is ambiguous: %v", raw, p, err)
		}
	})
}
