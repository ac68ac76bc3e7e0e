package clerk_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

func newHandshakeEnv(t *testing.T) (*clerktest.Server, *clerk.Verifier, *clerk.API) {
	t.Helper()
	fake, api := newFakeAPIWith(t, clerktest.Options{})
	return fake, clerk.NewVerifier(clerk.NewRemoteKeys(api, clerk.RemoteKeysOptions{}), clerk.VerifyOptions{}), api
}

func TestVerifyHandshakeAcceptsInstanceSignedTokensWithoutTimeClaims(t *testing.T) {
	fake, v, _ := newHandshakeEnv(t)
	want := []string{"__session=abc; Path=/", "__client_uat=1; Path=/"}
	k := fake.Key()
	for name, h := range map[string]clerktest.Header{
		"no cat":       {"alg": "RS256", "kid": k.Kid, "typ": "JWT"},
		"session cat":  {"alg": "RS256", "kid": k.Kid, "cat": clerk.CategorySession},
		"ignore cat":   {"alg": "RS256", "kid": k.Kid, "cat": clerk.CategoryIgnore},
		"no typ, long": {"alg": "RS256", "kid": k.Kid},
	} {
		t.Run(name, func(t *testing.T) {
			// exp long past, iat in the future, a foreign azp: none is checked.
			tok := clerktest.SignWith(k, h, clerktest.Claims{"handshake": want, "exp": 1, "iat": 4e9, "azp": "https://evil.example"})
			got, err := v.VerifyHandshake(context.Background(), tok)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("got %q, %v; want %q", got, err, want)
			}
		})
	}
}

func TestVerifyHandshakeRefusesForgedForeignAndMistypedTokens(t *testing.T) {
	fake, v, _ := newHandshakeEnv(t)
	other, err := clerktest.New(clerktest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	k := fake.Key()
	forger, _ := clerktest.NewSigningKey(k.Kid) // same kid, wrong key
	retired, _ := clerktest.NewSigningKey("ins_retired")
	payload := clerktest.Claims{"handshake": []string{"__session=x"}}
	tests := []struct {
		name  string
		token string
		want  clerk.Reason
	}{
		{"forged signature under the instance kid", clerktest.SignWith(forger, clerktest.Header{"alg": "RS256", "kid": k.Kid}, payload), clerk.ReasonTokenInvalidSignature},
		{"another instance's key", other.HandshakeToken([]string{"__session=x"}), clerk.ReasonJWKKidMismatch},
		{"a key no longer published", clerktest.SignWith(retired, clerktest.Header{"alg": "RS256", "kid": retired.Kid}, payload), clerk.ReasonJWKKidMismatch},
		{"JWT template category", clerktest.SignWith(k, clerktest.Header{"alg": "RS256", "kid": k.Kid, "cat": "cl_B7d4PD222AAA"}, payload), clerk.ReasonTokenInvalid},
		{"M2M category", clerktest.SignWith(k, clerktest.Header{"alg": "RS256", "kid": k.Kid, "cat": clerk.CategoryM2M}, payload), clerk.ReasonTokenInvalid},
		{"typ at+jwt", clerktest.SignWith(k, clerktest.Header{"alg": "RS256", "kid": k.Kid, "typ": "at+jwt"}, payload), clerk.ReasonTokenInvalid},
		{"HS256 keyed with the public key", clerktest.SignWith(k, clerktest.Header{"alg": "HS256", "kid": k.Kid}, payload), clerk.ReasonTokenInvalidAlgorithm},
		{"alg none", clerktest.SignWith(k, clerktest.Header{"alg": "none", "kid": k.Kid}, payload), clerk.ReasonTokenInvalidAlgorithm},
		{"garbage", "not.a.jwt", clerk.ReasonTokenInvalid},
		{"two parts", "abc.def", clerk.ReasonTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.VerifyHandshake(context.Background(), tt.token)
			if err == nil || got != nil {
				t.Fatalf("accepted: %q", got)
			}
			if r := clerk.ReasonOf(err); r != tt.want {
				t.Fatalf("reason %s, want %s (%v)", r, tt.want, err)
			}
		})
	}
}

func TestVerifyHandshakeClaimShape(t *testing.T) {
	fake, v, _ := newHandshakeEnv(t)
	k := fake.Key()
	sign := func(c clerktest.Claims) string {
		return clerktest.SignWith(k, clerktest.Header{"alg": "RS256", "kid": k.Kid, "typ": "JWT"}, c)
	}
	for name, c := range map[string]clerktest.Claims{
		"missing": {},
		"string":  {"handshake": "__session=x"},
		"object":  {"handshake": map[string]string{"a": "__session=x"}},
		"null":    {"handshake": nil},
	} {
		t.Run("not an array: no cookies, no error: "+name, func(t *testing.T) {
			got, err := v.VerifyHandshake(context.Background(), sign(c))
			if err != nil || got != nil {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
	t.Run("array with a non-string: an error that is not a token error", func(t *testing.T) {
		got, err := v.VerifyHandshake(context.Background(), sign(clerktest.Claims{"handshake": []any{"__session=x", 5}}))
		var te *clerk.TokenError
		if err == nil || got != nil || errors.As(err, &te) {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("payload that is an array: no cookies", func(t *testing.T) {
		tok := clerktest.SignRaw(k, "RS256", []byte(`{"alg":"RS256","kid":"`+k.Kid+`"}`), []byte(`[1,2]`))
		got, err := v.VerifyHandshake(context.Background(), tok)
		if err != nil || got != nil {
			t.Fatalf("got %q, %v", got, err)
		}
	})
}

func TestHandshakePayloadRedeemsNonceOnce(t *testing.T) {
	fake, _, api := newHandshakeEnv(t)
	want := []string{"__session=tok; Path=/", "__client_uat=5; Path=/"}
	n := fake.AddHandshakeNonce(want)
	got, err := api.HandshakePayload(context.Background(), n)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := api.HandshakePayload(context.Background(), n); err == nil {
		t.Fatal("a nonce redeemed twice")
	} else if e, ok := clerk.AsAPIError(err); !ok || e.Status != 404 {
		t.Fatalf("second redemption: %v", err)
	}
	bad, _ := clerk.NewAPI(fake.URL, "v1", "sk_test_wrong", "test", nil)
	if _, err := bad.HandshakePayload(context.Background(), fake.AddHandshakeNonce(want)); err == nil {
		t.Fatal("redeemed without the secret key")
	}
}

func TestDirectiveNameAndValueReadLikeTheSDK(t *testing.T) {
	tests := []struct{ in, name, value string }{
		{"__session=abc.def.ghi; Path=/; SameSite=Lax", "__session", "abc.def.ghi"},
		{"__session_Q1w2e3r4=tok", "__session_Q1w2e3r4", "tok"},
		{"__session=; Max-Age=0", "__session", ""},
		{"__session=a=b; Path=/", "__session", "a"}, // split("=")[1]
		{"__session", "__session", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		if n, v := clerk.DirectiveName(tt.in), clerk.DirectiveValue(tt.in); n != tt.name || v != tt.value {
			t.Errorf("%q: got %q=%q, want %q=%q", tt.in, n, v, tt.name, tt.value)
		}
	}
}
