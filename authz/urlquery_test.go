package authz

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// fffd is U+FFFD as URLSearchParams writes it.
const fffd = "%EF%BF%BD"

// invalidUTF8Queries are queries whose bytes, once percent-decoded, are not
// all UTF-8, with what node's new URLSearchParams(q).toString() writes for
// them: each maximal subpart of an ill-formed sequence (a lead byte and the
// continuation bytes that may still follow it) is one U+FFFD. The raw-byte
// queries were given to node with those bytes as %XX escapes, which the
// URL standard's form parser percent-decodes to the same bytes.
var invalidUTF8Queries = []struct{ query, want string }{
	// lone continuation bytes: one each
	{"a=%80", "a=" + fffd},
	{"a=%BF%80", "a=" + fffd + fffd},
	// truncated sequences: one for the lead byte and what followed it
	{"a=%C3", "a=" + fffd},
	{"a=%E2", "a=" + fffd},
	{"a=%E2%82", "a=" + fffd},
	{"a=%F0", "a=" + fffd},
	{"a=%F0%9F", "a=" + fffd},
	{"a=%F0%9F%98", "a=" + fffd},
	{"a=%E2%82%41", "a=" + fffd + "A"},
	{"a=%E2%82%C3%A9", "a=" + fffd + "%C3%A9"},
	{"a=%E2%82%E2%82", "a=" + fffd + fffd},
	{"a=%F0%9F%98%E2%82%AC", "a=" + fffd + "%E2%82%AC"},
	// overlong encodings: the lead byte is refused, then each continuation
	{"a=%C0%AF", "a=" + fffd + fffd},
	{"a=%C1%BF", "a=" + fffd + fffd},
	{"a=%E0%80%80", "a=" + fffd + fffd + fffd},
	{"a=%E0%9F%BF", "a=" + fffd + fffd + fffd},
	{"a=%F0%80%80%80", "a=" + fffd + fffd + fffd + fffd},
	{"a=%F0%8F%BF%BF", "a=" + fffd + fffd + fffd + fffd},
	// surrogates, alone and as a pair
	{"a=%ED%A0%80", "a=" + fffd + fffd + fffd},
	{"a=%ED%BF%BF", "a=" + fffd + fffd + fffd},
	{"a=%ED%A0%80%ED%B0%80", "a=" + fffd + fffd + fffd + fffd + fffd + fffd},
	// beyond U+10FFFF, and bytes that never start a sequence
	{"a=%F4%90%80%80", "a=" + fffd + fffd + fffd + fffd},
	{"a=%F5%80%80%80", "a=" + fffd + fffd + fffd + fffd},
	{"a=%FF", "a=" + fffd},
	{"a=%FE%FF", "a=" + fffd + fffd},
	{"a=%F8%88%80%80%80", "a=" + fffd + fffd + fffd + fffd + fffd},
	// mixed with valid text, in names too, with "+" and a bad escape
	{"%C3=1&b=%C3%A9%C3", fffd + "=1&b=%C3%A9" + fffd},
	{"q=caf%C3%A9%C3&x=%E2%82%AC&y=%E2%82", "q=caf%C3%A9" + fffd + "&x=%E2%82%AC&y=" + fffd},
	{"a=%zz%C3+b", "a=%25zz" + fffd + "+b"},
	{"a=%C3%2B", "a=" + fffd + "%2B"},
	// raw bytes, and raw bytes that complete an escaped sequence
	{"a=\xC3", "a=" + fffd},
	{"a=caf\xC3\xA9\xFF", "a=caf%C3%A9" + fffd},
	{"a=\xE2\x82x", "a=" + fffd + "x"},
	{"a=\xE2%82%AC", "a=%E2%82%AC"},
	{"a=%F0\x9F\x98\x80", "a=%F0%9F%98%80"},
	// valid at the edges: kept (a BOM too)
	{"a=%EF%BF%BD", "a=" + fffd},
	{"a=%EF%BB%BFx", "a=%EF%BB%BFx"},
	{"a=%C2%80", "a=%C2%80"},
	{"a=%ED%9F%BF", "a=%ED%9F%BF"},
	{"a=%EE%80%80", "a=%EE%80%80"},
	{"a=%F0%90%80%80", "a=%F0%90%80%80"},
	{"a=%F4%8F%BF%BF", "a=%F4%8F%BF%BF"},
}

// TestQueryInvalidUTF8BecomesReplacementCharacters: a query that decodes
// to invalid UTF-8 is written back as URLSearchParams writes it, with
// U+FFFD for each maximal subpart of each ill-formed sequence.
func TestQueryInvalidUTF8BecomesReplacementCharacters(t *testing.T) {
	for _, tt := range invalidUTF8Queries {
		if got := parseQueryLikeJS(tt.query).encode(); got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.query, got, tt.want)
		}
	}
}

// TestFormUnescapeAllocatesNothingForPlainText: the common case, a value
// with neither "+" nor "%" that is valid UTF-8, is returned as it is.
func TestFormUnescapeAllocatesNothingForPlainText(t *testing.T) {
	for _, s := range []string{"tab", "dashboard-1_x.y*z~", "café", "€😀"} {
		if n := testing.AllocsPerRun(100, func() { _ = formUnescape(s) }); n != 0 {
			t.Errorf("formUnescape(%q): %v allocations", s, n)
		}
	}
}

// TestQueryPairsMatchClerkSDK is a differential test: the SDK writes its
// redirects' queries with the runtime's URLSearchParams, so node's is run
// on invalidUTF8Queries and a few thousand generated queries heavy in
// escapes and raw bytes of UTF-8 sequences, whole, cut short and
// ill-formed, and what it writes must be what queryPairs writes.
// CLERK_SDK_NODE_PATH as for TestDecisionsMatchClerkSDK.
func TestQueryPairsMatchClerkSDK(t *testing.T) {
	nodePath := clerktest.SDKNodePath(t)
	pieces := []string{
		"a", "b", "=", "&", "+", "%", "%2", "%zz", "%25", "%3D", "%26", "%2B", "%20", "~", "*", " ", "?", "\x00",
		"é", "€", "😀", "%C3%A9", "%E2%82%AC", "%F0%9F%98%80", "%ef%bf%bd", "%EF%BB%BF",
		"%C3", "%c3", "%A9", "%a9", "%E2", "%82", "%AC", "%F0", "%9F", "%98", "%80", "%BF", "%ED", "%A0",
		"%F4", "%90", "%8F", "%C0", "%C1", "%C2", "%AF", "%E0", "%EF", "%F5", "%FE", "%FF",
		"\xC3", "\xA9", "\xE2", "\x82", "\xAC", "\xF0", "\x9F", "\x80", "\xBF", "\xED", "\xA0", "\xF4", "\x90", "\xC0", "\xFF",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var queries []string
	for _, tt := range invalidUTF8Queries {
		queries = append(queries, tt.query)
	}
	for range 4000 {
		var b strings.Builder
		for n := 1 + rng.IntN(12); n > 0; n-- {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		queries = append(queries, b.String())
	}
	// Node gets each query with its non-ASCII bytes as %XX escapes: a JS
	// string cannot hold invalid UTF-8, and the form parser percent-decodes
	// an escape to the very byte it stands for (an escape cannot join a "%"
	// before it, as a non-ASCII byte is no hex digit). A leading "?", which
	// URLSearchParams would drop, goes in after an empty pair.
	escaped := make([]string, len(queries))
	for i, q := range queries {
		escaped[i] = escapeNonASCII(q)
	}
	script := `const qs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(qs.map((q) => new URLSearchParams(q.startsWith('?') ? '&' + q : q).toString())));`
	var want []string
	clerktest.RunNode(t, nodePath, escaped, &want, "-e", script)
	if len(want) != len(queries) {
		t.Fatalf("node output: %d answers for %d queries", len(want), len(queries))
	}
	mismatches := 0
	for i, q := range queries {
		if got := parseQueryLikeJS(q).encode(); got != want[i] {
			mismatches++
			if mismatches <= 15 {
				t.Errorf("%q: ours %q, URLSearchParams %q", q, got, want[i])
			}
		}
	}
	if mismatches > 0 {
		t.Fatalf("%d of %d queries written differently from URLSearchParams", mismatches, len(queries))
	}
	t.Logf("%d queries written as URLSearchParams writes them", len(queries))
}

// escapeNonASCII writes each byte of s above 0x7F as %XX.
func escapeNonASCII(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}
