package clerktest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func get(t *testing.T, s *Server, path, key string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: body is not JSON: %v", path, err)
	}
	return resp.StatusCode, resp.Header, body
}

func errorCode(body map[string]any) string {
	errs, _ := body["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	e, _ := errs[0].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func newFake(t *testing.T, opts Options) *Server {
	t.Helper()
	return Start(t, opts)
}

func TestUserEndpointAnswersInClerksShape(t *testing.T) {
	s := newFake(t, Options{})
	s.AddUser("user_1", "ada@example.com", "Ada", "Lovelace")
	s.AddMembership("user_2", "org_1", "acme", "org:member")
	tests := []struct {
		name, path, key string
		status          int
		code            string
	}{
		{"known user", "/v1/users/user_1", s.SecretKey, 200, ""},
		{"user made by AddMembership", "/v1/users/user_2", s.SecretKey, 200, ""},
		{"unknown user", "/v1/users/user_nope", s.SecretKey, 404, "resource_not_found"},
		{"wrong secret key", "/v1/users/user_1", "sk_test_wrong", 401, "clerk_key_invalid"},
		{"no secret key", "/v1/users/user_1", "", 401, "authorization_header_format_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := get(t, s, tt.path, tt.key)
			if status != tt.status || errorCode(body) != tt.code {
				t.Fatalf("status %d code %q, want %d %q", status, errorCode(body), tt.status, tt.code)
			}
		})
	}
	_, _, u := get(t, s, "/v1/users/user_1", s.SecretKey)
	emails := u["email_addresses"].([]any)
	primary := emails[0].(map[string]any)
	if u["object"] != "user" || u["first_name"] != "Ada" || u["last_name"] != "Lovelace" ||
		primary["email_address"] != "ada@example.com" || primary["id"] != u["primary_email_address_id"] {
		t.Fatalf("user body %v", u)
	}
	if _, _, u2 := get(t, s, "/v1/users/user_2", s.SecretKey); u2["first_name"] != nil || u2["primary_email_address_id"] != nil {
		t.Fatalf("unset fields must be null: %v", u2)
	}
	if n := s.Calls(RouteUser); n != 7 {
		t.Fatalf("Calls(%q) = %d, want 7", RouteUser, n)
	}
}

func TestUserMembershipsArePaginated(t *testing.T) {
	s := newFake(t, Options{})
	for i := range 25 {
		s.AddMembership("user_1", fmt.Sprintf("org_%02d", i), fmt.Sprintf("team-%02d", i), "org:member", "org:invoices:read")
	}
	s.AddUser("user_lonely", "", "", "")
	tests := []struct {
		name       string
		path       string
		status     int
		code       string
		count      int
		firstOrgID string
	}{
		{"default limit is 10", "/v1/users/user_1/organization_memberships", 200, "", 10, "org_00"},
		{"limit and offset", "/v1/users/user_1/organization_memberships?limit=500&offset=20", 200, "", 5, "org_20"},
		{"offset past the end", "/v1/users/user_1/organization_memberships?offset=30", 200, "", 0, ""},
		{"user without memberships", "/v1/users/user_lonely/organization_memberships", 200, "", 0, ""},
		{"limit 0", "/v1/users/user_1/organization_memberships?limit=0", 400, "form_param_value_invalid", 0, ""},
		{"limit 501", "/v1/users/user_1/organization_memberships?limit=501", 400, "form_param_value_invalid", 0, ""},
		{"limit not a number", "/v1/users/user_1/organization_memberships?limit=ten", 400, "form_param_value_invalid", 0, ""},
		{"negative offset", "/v1/users/user_1/organization_memberships?offset=-1", 400, "form_param_value_invalid", 0, ""},
		{"unknown user", "/v1/users/user_nope/organization_memberships", 404, "resource_not_found", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := get(t, s, tt.path, s.SecretKey)
			if status != tt.status || errorCode(body) != tt.code {
				t.Fatalf("status %d code %q, want %d %q", status, errorCode(body), tt.status, tt.code)
			}
			if status != 200 {
				return
			}
			data := body["data"].([]any)
			if len(data) != tt.count {
				t.Fatalf("%d memberships, want %d", len(data), tt.count)
			}
			if tt.count == 0 {
				return
			}
			m := data[0].(map[string]any)
			org := m["organization"].(map[string]any)
			pud := m["public_user_data"].(map[string]any)
			if m["object"] != "organization_membership" || org["id"] != tt.firstOrgID || m["role"] != "org:member" ||
				pud["user_id"] != "user_1" || len(m["permissions"].([]any)) != 1 {
				t.Fatalf("membership %v", m)
			}
			if body["total_count"] != float64(25) {
				t.Fatalf("total_count %v, want 25", body["total_count"])
			}
		})
	}
}

func TestMembershipChangesShowInTheAPI(t *testing.T) {
	s := newFake(t, Options{})
	s.AddMembership("user_1", "org_1", "acme", "org:member")
	s.AddMembership("user_1", "org_1", "acme", "org:admin") // a role change
	s.AddMembership("user_1", "org_2", "beta", "org:member")
	s.RemoveMembership("user_1", "org_2")
	_, _, body := get(t, s, "/v1/users/user_1/organization_memberships", s.SecretKey)
	data := body["data"].([]any)
	if len(data) != 1 || data[0].(map[string]any)["role"] != "org:admin" {
		t.Fatalf("memberships %v", data)
	}
}

func TestUserEndpointsAreRateLimitedAndFailOnDemand(t *testing.T) {
	s := newFake(t, Options{})
	s.AddUser("user_1", "", "", "")
	s.FailWith(http.StatusTooManyRequests, 7*time.Second)
	status, h, body := get(t, s, "/v1/users/user_1/organization_memberships", s.SecretKey)
	if status != 429 || h.Get("Retry-After") != "7" || errorCode(body) != "too_many_requests" || body["clerk_trace_id"] == "" {
		t.Fatalf("status %d Retry-After %q body %v", status, h.Get("Retry-After"), body)
	}
	s.FailWith(0, 0)
	limited := 0
	for range 105 { // development instance: 100 per 10 s; injected failures spend none
		if status, _, _ := get(t, s, "/v1/users/user_1", s.SecretKey); status == 429 {
			limited++
		}
	}
	if limited != 5 {
		t.Fatalf("%d of 105 calls limited, want 5", limited)
	}
}
