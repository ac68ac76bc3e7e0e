package clerktest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, s *Server, path, key, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("POST %s: body is not JSON: %v", path, err)
	}
	return resp.StatusCode, out
}

func errorMessage(body map[string]any) string {
	errs, _ := body["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	e, _ := errs[0].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

func TestMachineVerifyRoutesAnswerInClerksShape(t *testing.T) {
	now := time.Now()
	s := newFake(t, Options{Now: func() time.Time { return now }})
	key, keyID := s.AddAPIKey(APIKey{Subject: "user_1", Name: "ci", Scopes: []string{"read"}, Claims: map[string]any{"team": "a"}})
	orgKey, _ := s.AddAPIKey(APIKey{Subject: "org_1", Name: "org key", Expiration: now.Add(time.Hour)})
	expiredKey, _ := s.AddAPIKey(APIKey{Subject: "user_1", Expiration: now.Add(-time.Second)})
	revokedKey, revokedKeyID := s.AddAPIKey(APIKey{Subject: "user_1"})
	s.RevokeAPIKey(revokedKeyID)
	m2m, m2mID := s.AddM2MToken("mch_1", []string{"mch_2"}, now.Add(time.Hour))
	revokedM2M, revokedM2MID := s.AddM2MToken("mch_1", nil, time.Time{})
	s.RevokeM2MToken(revokedM2MID)
	expiredM2M, _ := s.AddM2MToken("mch_1", nil, now.Add(-time.Second))
	oat, oatID := s.AddOAuthToken("user_1", "client_1", []string{"profile", "email"}, now.Add(time.Hour))
	revokedOAT, revokedOATID := s.AddOAuthToken("user_1", "client_1", nil, time.Time{})
	s.RevokeOAuthToken(revokedOATID)

	const apiKeys, m2mTokens, oauthTokens = "/api_keys/verify", "/m2m_tokens/verify", "/oauth_applications/access_tokens/verify"
	body := func(field, secret string) string {
		b, _ := json.Marshal(map[string]string{field: secret})
		return string(b)
	}
	tests := []struct {
		name, path, key, body string
		status                int
		code, message, object string
		id                    string
	}{
		{"valid API key", apiKeys, s.SecretKey, body("secret", key), 200, "", "", "api_key", keyID},
		{"valid organization API key", apiKeys, s.SecretKey, body("secret", orgKey), 200, "", "", "api_key", ""},
		{"expired API key", apiKeys, s.SecretKey, body("secret", expiredKey), 404, "resource_not_found", "API key not found", "", ""},
		{"revoked API key", apiKeys, s.SecretKey, body("secret", revokedKey), 404, "resource_not_found", "API key not found", "", ""},
		{"unknown API key", apiKeys, s.SecretKey, body("secret", "ak_nope"), 404, "resource_not_found", "API key not found", "", ""},
		{"M2M token on the API key route", apiKeys, s.SecretKey, body("secret", m2m), 404, "resource_not_found", "API key not found", "", ""},
		{"machine secret key on the API key route", apiKeys, s.MachineSecretKey, body("secret", key), 401, "clerk_key_invalid", "", "", ""},
		{"valid M2M token", m2mTokens, s.SecretKey, body("token", m2m), 200, "", "", "machine_to_machine_token", m2mID},
		{"valid M2M token, machine secret key", m2mTokens, s.MachineSecretKey, body("token", m2m), 200, "", "", "machine_to_machine_token", m2mID},
		{"revoked M2M token", m2mTokens, s.SecretKey, body("token", revokedM2M), 404, "resource_not_found", "Machine token not found", "", ""},
		{"expired M2M token", m2mTokens, s.SecretKey, body("token", expiredM2M), 404, "resource_not_found", "Machine token not found", "", ""},
		{"wrong key on the M2M route", m2mTokens, "ak_wrong", body("token", m2m), 401, "clerk_key_invalid", "", "", ""},
		{"valid OAuth token", oauthTokens, s.SecretKey, body("access_token", oat), 200, "", "", "clerk_idp_oauth_access_token", oatID},
		{"revoked OAuth token", oauthTokens, s.SecretKey, body("access_token", revokedOAT), 404, "resource_not_found", "OAuth token not found", "", ""},
		{"unknown OAuth token", oauthTokens, s.SecretKey, body("access_token", "oat_nope"), 404, "resource_not_found", "OAuth token not found", "", ""},
		{"machine secret key on the OAuth route", oauthTokens, s.MachineSecretKey, body("access_token", oat), 401, "clerk_key_invalid", "", "", ""},
		{"missing field", apiKeys, s.SecretKey, `{"token":"x"}`, 400, "form_param_missing", "", "", ""},
		{"empty field", m2mTokens, s.SecretKey, `{"token":""}`, 400, "form_param_missing", "", "", ""},
		{"null field", oauthTokens, s.SecretKey, `{"access_token":null}`, 400, "form_param_missing", "", "", ""},
		{"field not a string", apiKeys, s.SecretKey, `{"secret":42}`, 400, "form_param_format_invalid", "", "", ""},
		{"body not JSON", apiKeys, s.SecretKey, `secret=ak_x`, 400, "form_param_format_invalid", "", "", ""},
		{"body a JSON array", apiKeys, s.SecretKey, `["ak_x"]`, 400, "form_param_format_invalid", "", "", ""},
		{"versioned path is not served", "/v1" + apiKeys, s.SecretKey, body("secret", key), 404, "resource_not_found", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, got := post(t, s, tt.path, tt.key, tt.body)
			if status != tt.status || errorCode(got) != tt.code {
				t.Fatalf("status %d code %q, want %d %q (%v)", status, errorCode(got), tt.status, tt.code, got)
			}
			if tt.message != "" && errorMessage(got) != tt.message {
				t.Fatalf("message %q, want %q", errorMessage(got), tt.message)
			}
			if tt.object != "" && got["object"] != tt.object {
				t.Fatalf("object %v, want %q", got["object"], tt.object)
			}
			if tt.id != "" && got["id"] != tt.id {
				t.Fatalf("id %v, want %q", got["id"], tt.id)
			}
			if status == 200 && (got["revoked"] != false || got["expired"] != false) {
				t.Fatalf("a valid credential must say so: %v", got)
			}
		})
	}

	_, k := post(t, s, apiKeys, s.SecretKey, body("secret", key))
	if k["subject"] != "user_1" || k["name"] != "ci" || k["type"] != "api_key" || k["expiration"] != nil ||
		k["claims"].(map[string]any)["team"] != "a" || k["scopes"].([]any)[0] != "read" {
		t.Fatalf("API key body %v", k)
	}
	_, o := post(t, s, oauthTokens, s.SecretKey, body("access_token", oat))
	if o["subject"] != "user_1" || o["client_id"] != "client_1" || o["type"] != "oauth_token" ||
		o["expiration"] != float64(now.Add(time.Hour).UnixMilli()) || len(o["scopes"].([]any)) != 2 {
		t.Fatalf("OAuth token body %v", o)
	}
	if n := s.Calls(RouteVerifyAPIKey); n != 12 {
		t.Fatalf("Calls(%q) = %d, want 12", RouteVerifyAPIKey, n)
	}
}

func TestMachineVerifyRoutesAreLimitedLikeEveryRoute(t *testing.T) {
	s := newFake(t, Options{})
	token, _ := s.AddM2MToken("mch_1", nil, time.Time{})
	b := `{"token":"` + token + `"}`
	s.FailWith(http.StatusServiceUnavailable, 0)
	if status, got := post(t, s, "/m2m_tokens/verify", s.MachineSecretKey, b); status != 503 || errorCode(got) != "internal_clerk_error" {
		t.Fatalf("FailWith: status %d %v", status, got)
	}
	s.FailWith(0, 0)
	s.SetRateLimit(1)
	if status, _ := post(t, s, "/m2m_tokens/verify", s.MachineSecretKey, b); status != 200 {
		t.Fatalf("first call: status %d", status)
	}
	if status, got := post(t, s, "/m2m_tokens/verify", s.MachineSecretKey, b); status != 429 || errorCode(got) != "too_many_requests" {
		t.Fatalf("over the limit: status %d %v", status, got)
	}
}

func TestSignedMachineJWTsCarryClerksShape(t *testing.T) {
	s := newFake(t, Options{})
	part := func(token string, i int) map[string]any {
		t.Helper()
		b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[i])
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	m2m, m2mID := s.SignM2MJWT("mch_1", []string{"mch_2", "mch_3"}, time.Minute)
	h, c := part(m2m, 0), part(m2m, 1)
	if h["typ"] != "JWT" || h["cat"] != "cl_B7d4PD333AAA" || h["kid"] != s.Key().Kid ||
		c["sub"] != "mch_1" || c["jti"] != m2mID || c["scopes"] != "mch_2 mch_3" {
		t.Fatalf("M2M JWT header %v claims %v", h, c)
	}
	oat, oatID := s.SignOAuthJWT("user_1", "client_1", []string{"email"}, time.Minute)
	h, c = part(oat, 0), part(oat, 1)
	if h["typ"] != "at+jwt" || h["cat"] != nil || c["sub"] != "user_1" || c["client_id"] != "client_1" ||
		c["jti"] != oatID || c["scope"] != "email" {
		t.Fatalf("OAuth JWT header %v claims %v", h, c)
	}
	if noScopes, _ := s.SignOAuthJWT("user_1", "client_1", nil, time.Minute); part(noScopes, 1)["scope"] != nil {
		t.Fatal("an OAuth JWT without scopes must have no scope claim")
	}
}
