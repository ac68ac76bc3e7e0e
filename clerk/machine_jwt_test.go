package clerk_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

func TestMachineVerifierVerifiesMachineJWTsLocally(t *testing.T) {
	fake, api := newFakeAPI(t)
	keys := clerk.NewRemoteKeys(api, clerk.RemoteKeysOptions{})
	v := clerk.NewVerifier(keys, clerk.VerifyOptions{TokenCacheSize: 100})
	mv := clerk.NewMachineVerifier(nil, "", v) // no API: JWTs need none
	k := fake.Key()
	other, err := clerktest.NewSigningKey(k.Kid)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	claims := func(sub string, extra clerktest.Claims) clerktest.Claims {
		c := clerktest.Claims{"sub": sub, "jti": "jti_1", "iat": now, "exp": now + 60}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	m2mHeader := func(extra clerktest.Header) clerktest.Header {
		h := clerktest.Header{"alg": "RS256", "kid": k.Kid, "typ": "JWT", "cat": clerk.CategoryM2M}
		for k, v := range extra {
			if v == nil {
				delete(h, k)
			} else {
				h[k] = v
			}
		}
		return h
	}
	oauthHeader := clerktest.Header{"alg": "RS256", "kid": k.Kid, "typ": "at+jwt"}
	m2m, m2mID := fake.SignM2MJWT("mch_1", []string{"mch_2", "mch_3"}, time.Minute)
	oauth, oauthID := fake.SignOAuthJWT("user_1", "client_1", []string{"email", "profile"}, time.Minute)

	valid := []struct {
		name, token string
		want        clerk.Machine
	}{
		{"M2M JWT", m2m, clerk.Machine{Type: clerk.TokenTypeM2M, ID: m2mID, Subject: "mch_1", Scopes: []string{"mch_2", "mch_3"}}},
		{"M2M JWT without cat or typ, scopes from aud", clerktest.SignWith(k, m2mHeader(clerktest.Header{"cat": nil, "typ": nil}), claims("mch_1", clerktest.Claims{"aud": []string{"mch_4"}})),
			clerk.Machine{Type: clerk.TokenTypeM2M, ID: "jti_1", Subject: "mch_1", Scopes: []string{"mch_4"}}},
		{"M2M JWT without scopes", clerktest.SignWith(k, m2mHeader(nil), claims("mch_1", nil)),
			clerk.Machine{Type: clerk.TokenTypeM2M, ID: "jti_1", Subject: "mch_1", Scopes: []string{}}},
		{"OAuth JWT", oauth, clerk.Machine{Type: clerk.TokenTypeOAuth, ID: oauthID, Subject: "user_1", ClientID: "client_1", Scopes: []string{"email", "profile"}}},
		{"OAuth JWT, scp wins over scope", clerktest.SignWith(k, oauthHeader, claims("user_1", clerktest.Claims{"client_id": "c", "scp": []string{"a"}, "scope": "b c"})),
			clerk.Machine{Type: clerk.TokenTypeOAuth, ID: "jti_1", Subject: "user_1", ClientID: "c", Scopes: []string{"a"}}},
		{"OAuth JWT, application/at+jwt", clerktest.SignWith(k, clerktest.Header{"alg": "RS256", "kid": k.Kid, "typ": "application/at+jwt"}, claims("user_1", nil)),
			clerk.Machine{Type: clerk.TokenTypeOAuth, ID: "jti_1", Subject: "user_1", Scopes: []string{}}},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mv.Verify(t.Context(), tt.token)
			if err != nil {
				t.Fatal(err)
			}
			if m.Type != tt.want.Type || m.ID != tt.want.ID || m.Subject != tt.want.Subject || m.ClientID != tt.want.ClientID ||
				!slices.Equal(m.Scopes, tt.want.Scopes) || m.Scopes == nil || m.Expiration.IsZero() {
				t.Fatalf("Machine %+v, want %+v", *m, tt.want)
			}
			if s, _ := v.Lookup(tt.token); s != nil {
				t.Fatal("a machine JWT must not enter the session token cache")
			}
		})
	}

	refused := []struct {
		name, token string
		typ         clerk.TokenType
		reason      clerk.Reason
		cause       clerk.Reason // the underlying *TokenError's, "" for none
	}{
		{"expired M2M JWT", clerktest.SignWith(k, m2mHeader(nil), claims("mch_1", clerktest.Claims{"exp": now - 60})),
			clerk.TokenTypeM2M, clerk.ReasonTokenVerificationFailed, clerk.ReasonTokenExpired},
		{"expired OAuth JWT", clerktest.SignWith(k, oauthHeader, claims("user_1", clerktest.Claims{"exp": now - 60})),
			clerk.TokenTypeOAuth, clerk.ReasonTokenVerificationFailed, clerk.ReasonTokenExpired},
		{"M2M JWT not active yet", clerktest.SignWith(k, m2mHeader(nil), claims("mch_1", clerktest.Claims{"nbf": now + 60})),
			clerk.TokenTypeM2M, clerk.ReasonTokenVerificationFailed, clerk.ReasonTokenNotActiveYet},
		{"M2M JWT without exp", clerktest.SignWith(k, m2mHeader(nil), clerktest.Claims{"sub": "mch_1"}),
			clerk.TokenTypeM2M, clerk.ReasonTokenVerificationFailed, clerk.ReasonTokenVerificationFailed},
		{"M2M JWT signed by another key", clerktest.SignWith(other, m2mHeader(nil), claims("mch_1", nil)),
			clerk.TokenTypeM2M, clerk.ReasonTokenVerificationFailed, clerk.ReasonTokenInvalidSignature},
		{"OAuth JWT signed by another key", clerktest.SignWith(other, oauthHeader, claims("user_1", nil)),
			clerk.TokenTypeOAuth, clerk.ReasonTokenVerificationFailed, clerk.ReasonTokenInvalidSignature},
		{"M2M JWT with alg none and no signature is not JWT-shaped", clerktest.SignWith(k, m2mHeader(clerktest.Header{"alg": "none"}), claims("mch_1", nil)),
			"", clerk.ReasonTokenTypeMismatch, ""},
		{"M2M JWT with alg none", clerktest.SignWith(k, m2mHeader(clerktest.Header{"alg": "none"}), claims("mch_1", nil)) + "c2ln",
			clerk.TokenTypeM2M, clerk.ReasonTokenVerificationFailed, clerk.ReasonTokenInvalidAlgorithm},
		{"OAuth JWT HS256 with the public key", clerktest.SignWith(k, clerktest.Header{"alg": "HS256", "kid": k.Kid, "typ": "at+jwt"}, claims("user_1", nil)),
			clerk.TokenTypeOAuth, clerk.ReasonTokenVerificationFailed, clerk.ReasonTokenInvalidAlgorithm},
		{"OAuth JWT without subject", clerktest.SignWith(k, oauthHeader, clerktest.Claims{"exp": now + 60}),
			clerk.TokenTypeOAuth, clerk.ReasonTokenVerificationFailed, clerk.ReasonTokenVerificationFailed},
		{"M2M JWT with an unknown kid", clerktest.SignWith(k, m2mHeader(clerktest.Header{"kid": "ins_unknown"}), claims("mch_1", nil)),
			clerk.TokenTypeM2M, clerk.ReasonTokenVerificationFailed, clerk.ReasonJWKKidMismatch},
		{"M2M JWT with typ at+jwt (M2M's typ must be JWT)", clerktest.SignWith(k, m2mHeader(clerktest.Header{"typ": "at+jwt"}), claims("mch_1", nil)),
			clerk.TokenTypeM2M, clerk.ReasonTokenVerificationFailed, clerk.ReasonTokenInvalid},
		{"M2M JWT with the session category", clerktest.SignWith(k, m2mHeader(clerktest.Header{"cat": clerk.CategorySession}), claims("mch_1", nil)),
			clerk.TokenTypeM2M, clerk.ReasonTokenInvalid, ""},
		{"session token", fake.Sign(fake.SessionClaims("user_1")), clerk.TokenTypeOAuth, clerk.ReasonTokenVerificationFailed, ""},
		{"JWT with an unknown typ", clerktest.SignWith(k, clerktest.Header{"alg": "RS256", "kid": k.Kid, "typ": "dpop+jwt"}, claims("user_1", nil)),
			clerk.TokenTypeOAuth, clerk.ReasonTokenVerificationFailed, ""},
		{"JWT-shaped garbage", "abc.def.ghi", clerk.TokenTypeM2M, clerk.ReasonTokenInvalid, clerk.ReasonTokenInvalid},
		{"M2M JWT with a numeric jti", clerktest.SignWith(k, m2mHeader(nil), claims("mch_1", clerktest.Claims{"jti": 7})),
			clerk.TokenTypeM2M, clerk.ReasonTokenInvalid, clerk.ReasonTokenInvalid},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mv.Verify(t.Context(), tt.token)
			if m != nil {
				t.Fatalf("Machine %+v, want none", *m)
			}
			me := machineErr(t, err, tt.token, tt.reason, false, 0)
			if me.Type != tt.typ {
				t.Fatalf("type %q, want %q", me.Type, tt.typ)
			}
			var te *clerk.TokenError
			if got := errors.As(err, &te); got != (tt.cause != "") || got && te.Reason != tt.cause {
				t.Fatalf("cause %v, want reason %q", te, tt.cause)
			}
		})
	}
}

func TestMachineVerifierJWTKeyOutagesAreTemporary(t *testing.T) {
	fake, api := newFakeAPI(t)
	fake.SetJWKSResponse(500, `{"errors":[]}`)
	v := clerk.NewVerifier(clerk.NewRemoteKeys(api, clerk.RemoteKeysOptions{}), clerk.VerifyOptions{})
	token, _ := fake.SignM2MJWT("mch_1", nil, time.Minute)
	_, err := clerk.NewMachineVerifier(nil, "", v).Verify(t.Context(), token)
	machineErr(t, err, token, clerk.ReasonTokenVerificationFailed, true, 0)
	if !clerk.IsKeyUnavailable(err) {
		t.Fatalf("IsKeyUnavailable(%v) = false", err)
	}

	// Without any key source the SDK fails the same way, for good.
	_, err = clerk.NewMachineVerifier(nil, "", nil).Verify(t.Context(), token)
	if me := machineErr(t, err, token, clerk.ReasonTokenVerificationFailed, false, 0); me.Message != "Failed to resolve JWK during verification." {
		t.Fatalf("message %q", me.Message)
	}
}
