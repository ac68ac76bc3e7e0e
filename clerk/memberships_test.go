package clerk_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

func TestUserOrganizationMembershipsReadsEveryPage(t *testing.T) {
	tests := []struct {
		name        string
		memberships int
		calls       int
	}{
		{"no memberships", 0, 1},
		{"one page", 3, 1},
		{"exactly one full page", 500, 1},
		{"beyond one page", 600, 2},
		{"three pages", 1001, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, api := newFakeAPI(t)
			fake.AddUser("user_1", "", "", "")
			for i := range tt.memberships {
				fake.AddMembership("user_1", fmt.Sprintf("org_%d", i), fmt.Sprintf("team-%d", i), "org:member", "org:docs:read")
			}
			ms, err := api.UserOrganizationMemberships(context.Background(), "user_1")
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != tt.memberships {
				t.Fatalf("%d memberships, want %d", len(ms), tt.memberships)
			}
			seen := map[string]bool{}
			for _, m := range ms {
				if seen[m.Organization.ID] {
					t.Fatalf("organization %s listed twice", m.Organization.ID)
				}
				seen[m.Organization.ID] = true
			}
			if tt.memberships > 0 {
				last := ms[len(ms)-1]
				want := fmt.Sprintf("org_%d", tt.memberships-1)
				if last.Organization.ID != want || last.Organization.Slug != fmt.Sprintf("team-%d", tt.memberships-1) ||
					last.Role != "org:member" || len(last.Permissions) != 1 || last.PublicUserData.UserID != "user_1" {
					t.Fatalf("last membership %+v, want org %s", last, want)
				}
			}
			if n := fake.Calls(clerktest.RouteUserMemberships); n != tt.calls {
				t.Fatalf("%d API calls, want %d", n, tt.calls)
			}
		})
	}
}

func TestBackendAPIErrorsKeepTheirMeaning(t *testing.T) {
	fake, api := newFakeAPI(t)
	ctx := context.Background()

	_, err := api.UserOrganizationMemberships(ctx, "user_unknown")
	if !clerk.IsNotFound(err) {
		t.Fatalf("unknown user: %v, want a 404", err)
	}
	if _, err := api.GetUser(ctx, "user_unknown"); !clerk.IsNotFound(err) {
		t.Fatalf("unknown user: %v, want a 404", err)
	}

	fake.AddUser("user_1", "", "", "")
	fake.FailWith(http.StatusTooManyRequests, 3*time.Second)
	_, err = api.UserOrganizationMemberships(ctx, "user_1")
	apiErr, ok := clerk.AsAPIError(err)
	if !ok || apiErr.Code() != "too_many_requests" || apiErr.TraceID == "" {
		t.Fatalf("429: %v", err)
	}
	if d := clerk.RetryAfterOf(err); d != 3*time.Second {
		t.Fatalf("RetryAfterOf = %s, want 3s", d)
	}
	fake.FailWith(http.StatusInternalServerError, 0)
	_, err = api.UserOrganizationMemberships(ctx, "user_1")
	if d := clerk.RetryAfterOf(err); d != 0 || clerk.IsNotFound(err) || err == nil {
		t.Fatalf("500: err %v, RetryAfterOf %s", err, d)
	}
}

func TestUserIDsThatAreNotClerkIDsNeverReachTheAPI(t *testing.T) {
	fake, api := newFakeAPI(t)
	for _, id := range []string{"", "../jwks", "user_1/organization_memberships", "user 1", "user_1?x=1"} {
		if _, err := api.UserOrganizationMemberships(context.Background(), id); err == nil {
			t.Errorf("%q: accepted", id)
		}
		if _, err := api.GetUser(context.Background(), id); err == nil {
			t.Errorf("%q: accepted", id)
		}
	}
	if n := fake.Calls(clerktest.RouteUserMemberships) + fake.Calls(clerktest.RouteUser) + fake.Calls("GET /v1/jwks"); n != 0 {
		t.Fatalf("%d API calls", n)
	}
}

func TestGetUserReadsPrimaryEmailAndName(t *testing.T) {
	fake, api := newFakeAPI(t)
	fake.AddUser("user_full", "ada@example.com", "Ada", "Lovelace")
	fake.AddUser("user_first", "", "Ada", "")
	fake.AddUser("user_last", "x@example.com", "", "Lovelace")
	tests := []struct{ id, email, name string }{
		{"user_full", "ada@example.com", "Ada Lovelace"},
		{"user_first", "", "Ada"},
		{"user_last", "x@example.com", "Lovelace"},
	}
	for _, tt := range tests {
		u, err := api.GetUser(context.Background(), tt.id)
		if err != nil {
			t.Fatal(err)
		}
		if u.ID != tt.id || u.PrimaryEmail() != tt.email || u.FullName() != tt.name {
			t.Errorf("%s: id %q email %q name %q", tt.id, u.ID, u.PrimaryEmail(), u.FullName())
		}
	}
}
