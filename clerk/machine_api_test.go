package clerk_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// cannedBAPI answers every call with status and body, and records the
// last request.
type cannedBAPI struct {
	mu          sync.Mutex
	status      int
	body        string
	path        string
	header      http.Header
	requestBody map[string]any
	srv         *httptest.Server
}

func startCannedBAPI(t *testing.T) *cannedBAPI {
	t.Helper()
	c := &cannedBAPI{status: 200}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.path, c.header = r.URL.Path, r.Header.Clone()
		c.requestBody = nil
		_ = json.Unmarshal(b, &c.requestBody)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(c.status)
		_, _ = io.WriteString(w, c.body)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *cannedBAPI) answer(status int, body string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status, c.body = status, body
}

func TestMachineVerifierCallsTheBackendAPIAsTheSDK(t *testing.T) {
	c := startCannedBAPI(t)
	api, err := clerk.NewAPI(c.srv.URL+"/", "v1", "sk_test_instance", "clerk-forward-auth/test", nil)
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	api.OnCall = func(route string, _ int, _ error, _ time.Duration) { routes = append(routes, route) }
	mv := clerk.NewMachineVerifier(api, "ak_machine", nil)
	tests := []struct {
		token, path, field, bearer string
	}{
		{"ak_secret", "/api_keys/verify", "secret", "sk_test_instance"},
		{"mt_secret", "/m2m_tokens/verify", "token", "ak_machine"},
		{"oat_secret", "/oauth_applications/access_tokens/verify", "access_token", "sk_test_instance"},
	}
	c.answer(200, `{"id":"id_1","subject":"user_1","scopes":[],"revoked":false,"expired":false,"expiration":null}`)
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if _, err := mv.Verify(t.Context(), tt.token); err != nil {
				t.Fatal(err)
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.path != tt.path || len(c.requestBody) != 1 || c.requestBody[tt.field] != tt.token {
				t.Fatalf("POST %s %v, want %s {%q: token}", c.path, c.requestBody, tt.path, tt.field)
			}
			h := c.header
			if h.Get("Authorization") != "Bearer "+tt.bearer || h.Get("Clerk-API-Version") != clerk.APIVersion ||
				h.Get("Content-Type") != "application/json" || h.Get("User-Agent") != "clerk-forward-auth/test" {
				t.Fatalf("headers %v", h)
			}
		})
	}
	want := []string{"/api_keys/verify", "/m2m_tokens/verify", "/oauth_applications/access_tokens/verify"}
	if len(routes) != 3 || routes[0] != want[0] || routes[1] != want[1] || routes[2] != want[2] {
		t.Fatalf("OnCall routes %v, want %v", routes, want)
	}
}

func TestMachineVerifierRefusesAnswersTheSDKWouldAccept(t *testing.T) {
	c := startCannedBAPI(t)
	api, err := clerk.NewAPI(c.srv.URL, "v1", "sk_test_instance", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	v := clerk.NewVerifier(nil, clerk.VerifyOptions{Now: func() time.Time { return now }})
	mv := clerk.NewMachineVerifier(api, "", v)
	ms := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).UnixMilli(), 10) }
	tests := []struct {
		name, body string
		status     int
		reason     clerk.Reason
	}{
		{"revoked", `{"id":"ak_1","subject":"user_1","revoked":true,"expired":false}`, 200, clerk.ReasonTokenInvalid},
		{"expired", `{"id":"ak_1","subject":"user_1","revoked":false,"expired":true}`, 200, clerk.ReasonTokenInvalid},
		{"expiration passed", `{"id":"ak_1","subject":"user_1","expiration":` + ms(-6*time.Second) + `}`, 200, clerk.ReasonTokenInvalid},
		{"no id", `{"subject":"user_1"}`, 200, clerk.ReasonTokenInvalid},
		{"no subject", `{"id":"ak_1","subject":null}`, 200, clerk.ReasonTokenInvalid},
		{"not JSON", `<html>oops</html>`, 200, clerk.ReasonUnexpectedError},
		{"scopes of the wrong type", `{"id":"ak_1","subject":"user_1","scopes":"read"}`, 200, clerk.ReasonUnexpectedError},
		{"400 form_param_missing", `{"errors":[{"code":"form_param_missing","message":"secret must be included"}]}`, 400, clerk.ReasonUnexpectedError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.answer(tt.status, tt.body)
			m, err := mv.Verify(t.Context(), "ak_secret")
			if m != nil {
				t.Fatalf("Machine %+v, want none", *m)
			}
			wantStatus := tt.status
			if tt.reason == clerk.ReasonUnexpectedError && tt.status == 200 {
				wantStatus = 0 // the answer did not decode: no status to report
			}
			machineErr(t, err, "ak_secret", tt.reason, false, wantStatus)
		})
	}

	t.Run("expiration within the clock skew", func(t *testing.T) {
		c.answer(200, `{"id":"ak_1","subject":"mch_1","name":"n","scopes":["a"],"expiration":`+ms(-4*time.Second)+`}`)
		m, err := mv.Verify(t.Context(), "ak_secret")
		if err != nil {
			t.Fatal(err)
		}
		if m.MachineID() != "mch_1" || m.Name != "n" || m.Expiration.UnixMilli() != now.Add(-4*time.Second).UnixMilli() {
			t.Fatalf("Machine %+v", *m)
		}
	})
}

func TestRouteTemplateKeepsTheMachineRoutes(t *testing.T) {
	for path, want := range map[string]string{
		"/api_keys/verify":                         "/api_keys/verify",
		"/m2m_tokens/verify":                       "/m2m_tokens/verify",
		"/oauth_applications/access_tokens/verify": "/oauth_applications/access_tokens/verify",
		"/oauth_applications/oa_1/access_tokens":   "/oauth_applications/{id}/access_tokens",
	} {
		if got := clerk.RouteTemplate(path); got != want {
			t.Errorf("RouteTemplate(%q) = %q, want %q", path, got, want)
		}
	}
}
