package clerk_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// BenchmarkVerifierDecodeGarbage is Verifier.Decode, token cache on, on
// tokens it must refuse: the shapes of BenchmarkDecodeGarbage, plus a
// realistic-length token (a real header and signature) whose payload is
// not JSON, and one whose payload JSON is cut short.
func BenchmarkVerifierDecodeGarbage(b *testing.B) {
	k := newBenchKeys(b)
	parts := strings.Split(k.orgToken("user_1"), ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		b.Fatal(err)
	}
	notJSON := "nope" + strings.Repeat("x", len(payload)-4)
	v := clerk.NewVerifier(k.keys, clerk.VerifyOptions{TokenCacheSize: 50000})
	for _, tc := range []struct{ name, token string }{
		{"no dots", "not-a-token"},
		{"three parts not base64", "a!b.c!d.e!f"},
		{"payload not JSON", "eyJhbGciOiJSUzI1NiJ9.bm9wZQ.c2ln"},
		{"payload not JSON/real length", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(notJSON)) + "." + parts[2]},
		{"payload cut short/real length", parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload[:len(payload)-1]) + "." + parts[2]},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Decode(tc.token); err == nil {
					b.Fatal("garbage decoded")
				}
			}
		})
	}
}
