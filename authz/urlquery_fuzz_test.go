package authz

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzQueryPairsRoundTrip: whatever query comes in, its pairs are valid
// UTF-8, what queryPairs writes reads back as the same pairs, and it holds
// only bytes a URL query may carry unescaped (no space, '#', '&' inside a
// pair, control byte or non-ASCII).
func FuzzQueryPairsRoundTrip(f *testing.F) {
	for _, s := range []string{"", "a=1&b=2", "x=a+b~*", "k=%zz&=v&&q", "redirect_url=https%3A%2F%2Fa.test%2F%3Fx%3D1", "é=ü", "a=%C3", "a=%E2%82%E2%82", "%ED%A0%80=\xF4\x90", "a=\xE2%82%AC"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q := parseQueryLikeJS(raw)
		for _, p := range q {
			if !utf8.ValidString(p[0]) || !utf8.ValidString(p[1]) {
				t.Fatalf("%q read as %q", raw, p)
			}
		}
		enc := q.encode()
		for i := 0; i < len(enc); i++ {
			if c := enc[i]; c <= ' ' || c >= 0x7f || c == '#' {
				t.Fatalf("encoded %q holds byte %q", enc, c)
			}
		}
		back := parseQueryLikeJS(enc)
		if !slices.Equal(back, q) && !(len(back) == 0 && len(q) == 0) {
			t.Fatalf("%q → %q → %q", raw, enc, back.encode())
		}
		if n := strings.Count(enc, "&") + 1; enc != "" && n != len(q) {
			t.Fatalf("%d pairs written as %d", len(q), n)
		}
	})
}
