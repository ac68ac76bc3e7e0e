package clerk_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// benchKeys is a fake instance and a verifier over its key, without network:
// the benchmarks measure the decision path, not the JWKS fetch.
type benchKeys struct {
	fake *clerktest.Server
	keys clerk.KeySource
}

func newBenchKeys(b *testing.B) *benchKeys {
	b.Helper()
	fake := clerktest.Start(b, clerktest.Options{Production: true})
	keys, err := clerk.NewStaticKeys(fake.Key().PublicKeyPEM())
	if err != nil {
		b.Fatal(err)
	}
	return &benchKeys{fake: fake, keys: keys}
}

// orgToken is a realistic v2 token: active organization with permissions.
func (k *benchKeys) orgToken(user string) string {
	c := k.fake.SessionClaims(user)
	c["exp"] = time.Now().Add(time.Hour).Unix()
	c.WithOrg("org_2abcdefghijklmnopqrstuvwxyz", "acme", "admin", "o:invoices,o:reports,u:profile", "read,manage,delete", "3,1")
	return k.fake.Sign(c)
}

func BenchmarkDecodeJWT(b *testing.B) {
	k := newBenchKeys(b)
	token := k.orgToken("user_1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := clerk.DecodeJWT(token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeGarbage(b *testing.B) {
	for _, tc := range []struct{ name, token string }{
		{"no dots", "not-a-token"},
		{"three parts not base64", "a!b.c!d.e!f"},
		{"payload not JSON", "eyJhbGciOiJSUzI1NiJ9.bm9wZQ.c2ln"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := clerk.DecodeJWT(tc.token); err == nil {
					b.Fatal("garbage decoded")
				}
			}
		})
	}
}

// BenchmarkVerify is the whole verification of one token as the engine
// does it (Lookup, then Decode and Verify on a miss), with and without the
// token cache.
func BenchmarkVerify(b *testing.B) {
	k := newBenchKeys(b)
	ctx := context.Background()
	token := k.orgToken("user_1")
	for _, size := range []int{0, 50000} {
		v := clerk.NewVerifier(k.keys, clerk.VerifyOptions{TokenCacheSize: size})
		b.Run(fmt.Sprintf("repeated/cache=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.VerifyToken(ctx, token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyNeverSeen verifies a different valid token each time:
// every one costs an RSA verification, and a cache insert when enabled.
// The tokens are 64 minted ones with up to 500 "=" appended to the
// signature (dropped by base64url decoding): 32,000 distinct strings, far
// more than the 1,000-entry cache holds.
func BenchmarkVerifyNeverSeen(b *testing.B) {
	k := newBenchKeys(b)
	ctx := context.Background()
	bases := make([]string, 64)
	for i := range bases {
		bases[i] = k.orgToken(fmt.Sprintf("user_%d", i))
	}
	for _, size := range []int{0, 1000} {
		v := clerk.NewVerifier(k.keys, clerk.VerifyOptions{TokenCacheSize: size})
		b.Run(fmt.Sprintf("cache=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				_, err := v.VerifyToken(ctx, bases[i%len(bases)]+strings.Repeat("=", 1+i/len(bases)%500))
				i++
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyBadSignature: a forged token is as expensive as a new
// valid one (one RSA verification) and is never cached.
func BenchmarkVerifyBadSignature(b *testing.B) {
	k := newBenchKeys(b)
	ctx := context.Background()
	token := k.orgToken("user_1")
	forged := token[:strings.LastIndexByte(token, '.')+1] + strings.Repeat("A", 342)
	v := clerk.NewVerifier(k.keys, clerk.VerifyOptions{TokenCacheSize: 50000})
	b.ReportAllocs()
	for b.Loop() {
		_, err := v.VerifyToken(ctx, forged)
		if clerk.ReasonOf(err) != clerk.ReasonTokenInvalidSignature {
			b.Fatalf("got %v", err)
		}
	}
}

// BenchmarkVerifySignature is the RS256 check alone (SHA-256 of the
// signing input and the RSA check with a 2048-bit clerk.PublicKey): the
// floor of a never-seen token's cost, and what preparing keys once when
// loaded (rsakey.go) is judged by.
func BenchmarkVerifySignature(b *testing.B) {
	k := newBenchKeys(b)
	v := clerk.NewVerifier(k.keys, clerk.VerifyOptions{})
	t, err := clerk.DecodeJWT(k.orgToken("user_1"))
	if err != nil {
		b.Fatal(err)
	}
	key, err := k.keys.Key(context.Background(), t.Header.Kid)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := v.VerifySignature(t, key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkActiveOrganization(b *testing.B) {
	k := newBenchKeys(b)
	t, err := clerk.DecodeJWT(k.orgToken("user_1"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := t.Claims.ActiveOrganization(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCookies(b *testing.B) {
	k := newBenchKeys(b)
	token := k.orgToken("user_1")
	header := []string{"_ga=GA1.2.3.4; __client_uat=1700000000; __client_uat_Abc123=1700000000; __session=" + token + "; __session_Abc123=" + token + "; theme=dark"}
	b.ReportAllocs()
	for b.Loop() {
		c := clerk.ParseCookies(header)
		if c.Value("__session_Abc123") == "" || c.Value("__client_uat") == "" {
			b.Fatal("cookie not found")
		}
	}
}
