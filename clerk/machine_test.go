package clerk_test

import (
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

func TestMachineTokenTypeClassifiesAsTheSDK(t *testing.T) {
	fake := clerktest.Start(t, clerktest.Options{})
	k := fake.Key()
	m2mJWT, _ := fake.SignM2MJWT("mch_1", nil, time.Minute)
	oauthJWT, _ := fake.SignOAuthJWT("user_1", "client_1", nil, time.Minute)
	signed := func(h clerktest.Header, c clerktest.Claims) string {
		h["alg"], h["kid"] = "RS256", k.Kid
		return clerktest.SignWith(k, h, c)
	}
	tests := []struct {
		name, token string
		want        clerk.TokenType // "" when not a machine token
	}{
		{"M2M token prefix", "mt_abc", clerk.TokenTypeM2M},
		{"OAuth token prefix", "oat_abc", clerk.TokenTypeOAuth},
		{"API key prefix", "ak_abc", clerk.TokenTypeAPIKey},
		{"bare prefixes", "mt_", clerk.TokenTypeM2M},
		{"JWT-shaped M2M prefix", "mt_a.b.c", clerk.TokenTypeM2M},
		{"M2M JWT", m2mJWT, clerk.TokenTypeM2M},
		{"M2M JWT without cat", signed(clerktest.Header{}, clerktest.Claims{"sub": "mch_2"}), clerk.TokenTypeM2M},
		{"OAuth JWT", oauthJWT, clerk.TokenTypeOAuth},
		{"OAuth JWT, application/at+jwt", signed(clerktest.Header{"typ": "application/at+jwt"}, clerktest.Claims{"sub": "user_1"}), clerk.TokenTypeOAuth},
		{"mch_ subject wins over at+jwt", signed(clerktest.Header{"typ": "at+jwt"}, clerktest.Claims{"sub": "mch_1"}), clerk.TokenTypeM2M},
		{"session JWT", fake.Sign(fake.SessionClaims("user_1")), ""},
		{"JWT template (non-session cat, user subject)", signed(clerktest.Header{"cat": "cl_B7d4PD222AAA"}, clerktest.Claims{"sub": "user_1"}), ""},
		{"typ AT+JWT is not OAuth", signed(clerktest.Header{"typ": "AT+JWT"}, clerktest.Claims{"sub": "user_1"}), ""},
		{"subject MCH_ is not M2M", signed(clerktest.Header{}, clerktest.Claims{"sub": "MCH_1"}), ""},
		{"padded M2M JWT is not JWT-shaped", signed(clerktest.Header{}, clerktest.Claims{"sub": "mch_1"}) + "=", ""},
		{"JWT-shaped garbage", "abc.def.ghi", ""},
		{"four parts", "a.b.c.d", ""},
		{"empty part", "a..c", ""},
		{"prefix not at the start", "xmt_abc", ""},
		{"upper-case prefix", "AK_abc", ""},
		{"empty", "", ""},
		{"garbage", "hello world", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := clerk.MachineTokenType(tt.token)
			if got != tt.want || ok != (tt.want != "") {
				t.Fatalf("MachineTokenType = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

func TestMachineTokenTypeCostsNothingForTokensThatAreNotJWTShaped(t *testing.T) {
	for _, token := range []string{"ak_" + strings.Repeat("x", 40), "some-other-apps-cookie", strings.Repeat("A", 4000)} {
		if n := testing.AllocsPerRun(100, func() { clerk.MachineTokenType(token) }); n != 0 {
			t.Errorf("MachineTokenType(%.10q…) allocates %v times, want 0", token, n)
		}
	}
}

func TestMachineIdentifiesItsOwnerAsTheSDK(t *testing.T) {
	tests := []struct {
		name                     string
		m                        clerk.Machine
		user, org, machineHolder string
	}{
		{"user API key", clerk.Machine{Type: clerk.TokenTypeAPIKey, Subject: "user_1"}, "user_1", "", ""},
		{"organization API key", clerk.Machine{Type: clerk.TokenTypeAPIKey, Subject: "org_1"}, "", "org_1", ""},
		{"machine API key", clerk.Machine{Type: clerk.TokenTypeAPIKey, Subject: "mch_1"}, "", "", "mch_1"},
		{"M2M token", clerk.Machine{Type: clerk.TokenTypeM2M, Subject: "mch_1"}, "", "", "mch_1"},
		{"OAuth token: the subject is the user", clerk.Machine{Type: clerk.TokenTypeOAuth, Subject: "user_1"}, "user_1", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if u, o, m := tt.m.UserID(), tt.m.OrgID(), tt.m.MachineID(); u != tt.user || o != tt.org || m != tt.machineHolder {
				t.Fatalf("UserID %q OrgID %q MachineID %q; want %q %q %q", u, o, m, tt.user, tt.org, tt.machineHolder)
			}
		})
	}
}

func FuzzMachineTokenType(f *testing.F) {
	for _, s := range []string{"", "mt_x", "oat_x", "ak_x", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtY2hfMSJ9.c2ln",
		"eyJ0eXAiOiJhdCtqd3QifQ.e30.c2ln", "eyJ0eXAiOjF9.eyJzdWIiOjF9.", "mt_a.b.c"} {
		f.Add(s)
	}
	mv := clerk.NewMachineVerifier(nil, "", nil)
	f.Fuzz(func(t *testing.T, token string) {
		typ, ok := clerk.MachineTokenType(token)
		switch typ {
		case clerk.TokenTypeM2M, clerk.TokenTypeOAuth, clerk.TokenTypeAPIKey:
			if !ok {
				t.Fatalf("type %q without ok", typ)
			}
		case "":
			if ok {
				t.Fatal("ok without a type")
			}
		case clerk.TokenTypeSession:
			t.Fatal("a session token is never a machine token")
		}
		// Without an API or keys nothing verifies, and nothing panics.
		if m, err := mv.Verify(t.Context(), token); m != nil || err == nil {
			t.Fatalf("Verify = %v, %v", m, err)
		} else if token != "" && len(token) > 8 && strings.Contains(err.Error(), token) {
			t.Fatalf("the error quotes the token: %v", err)
		}
	})
}

// BenchmarkMachineTokenType is the cost added to every Bearer request.
func BenchmarkMachineTokenType(b *testing.B) {
	fake := clerktest.Start(b, clerktest.Options{})
	m2m, _ := fake.SignM2MJWT("mch_1", []string{"mch_2"}, time.Minute)
	for _, bc := range []struct{ name, token string }{
		{"session JWT", fake.Sign(fake.SessionClaims("user_1"))},
		{"M2M JWT", m2m},
		{"API key", "ak_" + strings.Repeat("x", 40)},
		{"opaque garbage", strings.Repeat("x", 40)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				clerk.MachineTokenType(bc.token)
			}
		})
	}
}
