package clerk_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

func TestRouteTemplateReplacesIDsAndSlugs(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/jwks", "/jwks"},
		{"jwks", "/jwks"},
		{"users/user_2abcDEF/organization_memberships", "/users/{id}/organization_memberships"},
		{"/v1/users/user_2abcDEF", "/v1/users/{id}"},
		{"/organizations/acme-inc/memberships", "/organizations/{id}/memberships"},
		{"/users/eyJhbGciOi.payload.sig", "/users/{id}"},
		{"/clients/handshake_payload", "/clients/handshake_payload"},
		{"/", "/"},
		{"", "/"},
		{"/users//x", "/users/{id}"},
	}
	for _, tt := range tests {
		if got := clerk.RouteTemplate(tt.path); got != tt.want {
			t.Errorf("RouteTemplate(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestAPIOnCallReportsRouteStatusAndDuration(t *testing.T) {
	fake, err := clerktest.New(clerktest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	type call struct {
		route  string
		status int
		failed bool
	}
	var calls []call
	api, _ := clerk.NewAPI(fake.URL, "v1", fake.SecretKey, "test", nil)
	api.OnCall = func(route string, status int, err error, took time.Duration) {
		if took <= 0 {
			t.Errorf("took %v", took)
		}
		calls = append(calls, call{route, status, err != nil})
	}
	ctx := context.Background()
	var out any
	_ = api.Get(ctx, "/jwks", nil, &out)
	_, _ = api.UserOrganizationMemberships(ctx, "user_unknown")
	fake.FailWith(http.StatusServiceUnavailable, 0)
	_ = api.Get(ctx, "users/user_2x", nil, &out)
	fake.Close()
	_ = api.Get(ctx, "/jwks", nil, &out)
	want := []call{
		{"/jwks", 200, false},
		{"/users/{id}/organization_memberships", 404, true}, // unknown user
		{"/users/{id}", 503, true},
		{"/jwks", 0, true},
	}
	if len(calls) != len(want) {
		t.Fatalf("calls = %v, want %v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("call %d = %+v, want %+v", i, calls[i], want[i])
		}
	}
}
