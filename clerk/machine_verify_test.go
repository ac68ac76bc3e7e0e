package clerk_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// machineErr asserts err is a *MachineError with reason, temporary and
// status, whose text does not quote token, and returns a copy of it.
func machineErr(t *testing.T, err error, token string, reason clerk.Reason, temporary bool, status int) clerk.MachineError {
	t.Helper()
	var me *clerk.MachineError
	if !errors.As(err, &me) {
		t.Fatalf("error %v (%T), want a *MachineError", err, err)
	}
	if me.Reason != reason || me.Temporary() != temporary || me.Status != status {
		t.Fatalf("reason %q temporary %v status %d, want %q %v %d (%v)", me.Reason, me.Temporary(), me.Status, reason, temporary, status, err)
	}
	if got := clerk.ReasonOf(fmt.Errorf("wrapped: %w", err)); got != reason {
		t.Fatalf("ReasonOf = %q, want %q", got, reason)
	}
	if len(token) > 3 && strings.Contains(err.Error(), token) {
		t.Fatalf("the error quotes the token: %v", err)
	}
	return *me
}

func TestMachineVerifierAsksTheBackendAPIForOpaqueTokens(t *testing.T) {
	now := time.Now()
	fake, api := newFakeAPIWith(t, clerktest.Options{Now: func() time.Time { return now }})
	badAPI, err := clerk.NewAPI(fake.URL, "v1", "sk_test_wrong", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	mv := clerk.NewMachineVerifier(api, "", nil)
	expiry := now.Add(time.Hour).Truncate(time.Millisecond)

	type credential struct {
		token, id string
	}
	kinds := []struct {
		typ                     clerk.TokenType
		notFound                string
		valid, revoked, expired credential
		unknown                 string
		want                    clerk.Machine // ID filled in below
		revoke                  func(id string)
	}{
		{typ: clerk.TokenTypeAPIKey, notFound: "API key not found", unknown: "ak_unknown",
			want:   clerk.Machine{Type: clerk.TokenTypeAPIKey, Subject: "org_1", Name: "ci", Scopes: []string{"read", "write"}, Expiration: expiry},
			revoke: fake.RevokeAPIKey},
		{typ: clerk.TokenTypeM2M, notFound: "Machine token not found", unknown: "mt_unknown",
			want:   clerk.Machine{Type: clerk.TokenTypeM2M, Subject: "mch_1", Scopes: []string{"mch_2"}, Expiration: expiry},
			revoke: fake.RevokeM2MToken},
		{typ: clerk.TokenTypeOAuth, notFound: "OAuth token not found", unknown: "oat_unknown",
			want:   clerk.Machine{Type: clerk.TokenTypeOAuth, Subject: "user_1", ClientID: "client_1", Scopes: []string{"email"}, Expiration: expiry},
			revoke: fake.RevokeOAuthToken},
	}
	add := func(typ clerk.TokenType, exp time.Time) credential {
		var c credential
		switch typ {
		case clerk.TokenTypeAPIKey:
			c.token, c.id = fake.AddAPIKey(clerktest.APIKey{Subject: "org_1", Name: "ci", Scopes: []string{"read", "write"}, Expiration: exp})
		case clerk.TokenTypeM2M:
			c.token, c.id = fake.AddM2MToken("mch_1", []string{"mch_2"}, exp)
		case clerk.TokenTypeOAuth:
			c.token, c.id = fake.AddOAuthToken("user_1", "client_1", []string{"email"}, exp)
		case clerk.TokenTypeSession:
		}
		return c
	}
	for _, k := range kinds {
		valid, revoked, expired := add(k.typ, expiry), add(k.typ, time.Time{}), add(k.typ, now.Add(-time.Second))
		k.revoke(revoked.id)
		t.Run(string(k.typ)+"/valid", func(t *testing.T) {
			m, err := mv.Verify(t.Context(), valid.token)
			if err != nil {
				t.Fatal(err)
			}
			want := k.want
			want.ID = valid.id
			if m.Type != want.Type || m.ID != want.ID || m.Subject != want.Subject || m.Name != want.Name ||
				m.ClientID != want.ClientID || !slices.Equal(m.Scopes, want.Scopes) || !m.Expiration.Equal(want.Expiration) {
				t.Fatalf("Machine %+v, want %+v", *m, want)
			}
		})
		refusals := []struct {
			name, token string
			api         *clerk.API
			fail        int
			reason      clerk.Reason
			temporary   bool
			status      int
			message     string
		}{
			{"revoked", revoked.token, api, 0, clerk.ReasonTokenInvalid, false, 404, k.notFound},
			{"expired", expired.token, api, 0, clerk.ReasonTokenInvalid, false, 404, k.notFound},
			{"unknown", k.unknown, api, 0, clerk.ReasonTokenInvalid, false, 404, k.notFound},
			{"prefixed garbage", k.unknown[:strings.Index(k.unknown, "_")+1] + "\x00\xff", api, 0, clerk.ReasonTokenInvalid, false, 404, k.notFound},
			{"bad secret key", valid.token, badAPI, 0, clerk.ReasonSecretKeyInvalid, false, 401, "The provided Clerk Secret Key is invalid."},
			{"rate-limited", valid.token, api, 429, clerk.ReasonUnexpectedError, true, 429, "Unexpected error"},
			{"Clerk down", valid.token, api, 500, clerk.ReasonUnexpectedError, true, 500, "Unexpected error"},
			{"Clerk refuses the request", valid.token, api, 422, clerk.ReasonUnexpectedError, false, 422, "Unexpected error"},
		}
		for _, r := range refusals {
			t.Run(string(k.typ)+"/"+r.name, func(t *testing.T) {
				fake.FailWith(r.fail, 7*time.Second)
				t.Cleanup(func() { fake.FailWith(0, 0) })
				m, err := clerk.NewMachineVerifier(r.api, "", nil).Verify(t.Context(), r.token)
				if m != nil {
					t.Fatalf("Machine %+v, want none", *m)
				}
				me := machineErr(t, err, r.token, r.reason, r.temporary, r.status)
				if me.Type != k.typ || me.Message != r.message {
					t.Fatalf("type %q message %q, want %q %q", me.Type, me.Message, k.typ, r.message)
				}
				if apiErr, ok := clerk.AsAPIError(err); !ok || apiErr.Status != r.status {
					t.Fatalf("the *APIError must be reachable: %v", err)
				} else if r.fail == 429 && apiErr.RetryAfter != 7*time.Second {
					t.Fatalf("RetryAfter %v, want 7s", apiErr.RetryAfter)
				}
			})
		}
	}
}

func TestMachineVerifierUsesTheMachineSecretKeyForM2MTokensOnly(t *testing.T) {
	fake := clerktest.Start(t, clerktest.Options{})
	// The instance secret key is wrong: only the machine secret key works.
	api, err := clerk.NewAPI(fake.URL, "v1", "sk_test_wrong", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	mv := clerk.NewMachineVerifier(api, fake.MachineSecretKey, nil)
	m2m, _ := fake.AddM2MToken("mch_1", nil, time.Time{})
	if m, err := mv.Verify(t.Context(), m2m); err != nil || m.MachineID() != "mch_1" {
		t.Fatalf("M2M token with the machine secret key: %v, %v", m, err)
	}
	key, _ := fake.AddAPIKey(clerktest.APIKey{Subject: "user_1"})
	_, err = mv.Verify(t.Context(), key)
	machineErr(t, err, key, clerk.ReasonSecretKeyInvalid, false, 401)
	if n := fake.Calls(clerktest.RouteVerifyM2MToken); n != 1 {
		t.Fatalf("Calls(%q) = %d, want 1", clerktest.RouteVerifyM2MToken, n)
	}
}

func TestMachineVerifierFailsClearlyWithoutAnAnswer(t *testing.T) {
	closed := clerktest.Start(t, clerktest.Options{})
	api, err := clerk.NewAPI(closed.URL, "v1", closed.SecretKey, "test", &http.Client{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	tests := []struct {
		name      string
		mv        *clerk.MachineVerifier
		token     string
		reason    clerk.Reason
		temporary bool
	}{
		{"Clerk unreachable", clerk.NewMachineVerifier(api, "", nil), "ak_x", clerk.ReasonUnexpectedError, true},
		{"no secret key configured", clerk.NewMachineVerifier(nil, "", nil), "mt_x", clerk.ReasonSecretKeyInvalid, false},
		{"not a machine token", clerk.NewMachineVerifier(api, "", nil), "sk_test_x", clerk.ReasonTokenTypeMismatch, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.mv.Verify(t.Context(), tt.token)
			if m != nil {
				t.Fatalf("Machine %+v, want none", *m)
			}
			machineErr(t, err, tt.token, tt.reason, tt.temporary, 0)
			if clerk.IsKeyUnavailable(err) {
				t.Fatal("a Backend API failure is not a key outage")
			}
		})
	}
}
