package authz

import (
	"errors"
	"strings"
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

// splitCheckDecodedPath is checkDecodedPath's segment check as it was
// written with strings.Split, kept as the reference for the Cut version.
func splitCheckDecodedPath(p string) error {
	if err := checkPathCharacters(p); err != nil {
		return err
	}
	segs := strings.Split(p[1:], "/")
	for i, seg := range segs {
		switch seg {
		case ".", "..":
			return ambiguous("has a dot segment")
		case "":
			if i != len(segs)-1 {
				return ambiguous("has an empty segment (//)")
			}
		}
	}
	return nil
}

// TestCheckDecodedPathMatchesSplit compares the two over every path of up
// to five pieces, and NormalizePath on the same paths with the reference.
func TestCheckDecodedPathMatchesSplit(t *testing.T) {
	pieces := []string{"/", ".", "..", "a", "bc", "...", ";", "\\", "\x00", "é", "\xff", "%", "?"}
	errText := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	n := 0
	var gen func(p string, depth int)
	gen = func(p string, depth int) {
		n++
		got, want := errText(checkDecodedPath(p)), errText(splitCheckDecodedPath(p))
		if got != want {
			t.Fatalf("checkDecodedPath(%q) = %q; Split version %q", p, got, want)
		}
		if !strings.Contains(p, "%") {
			// Nothing to decode: NormalizePath is the check itself.
			np, err := NormalizePath(p)
			if errText(err) != want || (err == nil && np != p) {
				t.Fatalf("NormalizePath(%q) = %q, %v; Split version %q", p, np, err, want)
			}
		}
		if depth == 5 {
			return
		}
		for _, s := range pieces {
			gen(p+s, depth+1)
		}
	}
	gen("/", 0)
	if n < 100000 {
		t.Fatalf("only %d paths generated", n)
	}
}

func TestNormalizePathCleanPathsDoNotAllocate(t *testing.T) {
	for _, p := range []string{"/", "/dashboard", "/api/v1/items", "/api/v1/items/", "/a..b/c."} {
		if n := testing.AllocsPerRun(100, func() { _, _ = NormalizePath(p) }); n != 0 {
			t.Errorf("NormalizePath(%q): %v allocations per call", p, n)
		}
	}
}
