package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// orgConfigVars are the organization-policy variables (config.go
// validateOrgPolicy), cleared before each case.
var orgConfigVars = []string{"POLICY_FILE", "POLICY_POLL_INTERVAL", "MEMBERSHIP_CACHE_SIZE", "MEMBERSHIP_CACHE_TTL",
	"MEMBERSHIP_NEGATIVE_TTL", "MEMBERSHIP_STALE_WINDOW", "USER_PROFILE_HEADERS"}

func TestOrgPolicyConfigErrorsNameTheVariable(t *testing.T) {
	dir := t.TempDir()
	good, broken := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(good, []byte("rules:\n  - signed_in: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(broken, []byte("rules:\n  - signed_inn: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK}
	tests := []struct {
		name     string
		env      map[string]string
		variable string // "" = valid
	}{
		{"defaults", nil, ""},
		{"policy file", map[string]string{"POLICY_FILE": good}, ""},
		{"broken policy file", map[string]string{"POLICY_FILE": broken}, "POLICY_FILE"},
		{"missing policy file", map[string]string{"POLICY_FILE": filepath.Join(dir, "none.yaml")}, "POLICY_FILE"},
		{"poll interval too short", map[string]string{"POLICY_POLL_INTERVAL": "1ms"}, "POLICY_POLL_INTERVAL"},
		{"negative cache size", map[string]string{"MEMBERSHIP_CACHE_SIZE": "-1"}, "MEMBERSHIP_CACHE_SIZE"},
		{"TTL of hours", map[string]string{"MEMBERSHIP_CACHE_TTL": "2h"}, "MEMBERSHIP_CACHE_TTL"},
		{"negative TTL longer than the TTL", map[string]string{"MEMBERSHIP_CACHE_TTL": "20s", "MEMBERSHIP_NEGATIVE_TTL": "30s"}, "MEMBERSHIP_NEGATIVE_TTL"},
		{"stale window of hours", map[string]string{"MEMBERSHIP_STALE_WINDOW": "1h"}, "MEMBERSHIP_STALE_WINDOW"},
		{"stale serving off", map[string]string{"MEMBERSHIP_STALE_WINDOW": "0s"}, ""},
		{"profile headers", map[string]string{"USER_PROFILE_HEADERS": "true"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, base)
			for _, k := range orgConfigVars {
				t.Setenv(k, "")
				if err := os.Unsetenv(k); err != nil {
					t.Fatal(err)
				}
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := loadConfig()
			var ce *configError
			switch {
			case tt.variable == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.variable != "" && (!errors.As(err, &ce) || ce.variable != tt.variable):
				t.Fatalf("error %v, want one naming %s", err, tt.variable)
			}
			if tt.name == "defaults" && (cfg.MembershipCacheSize != 10000 || cfg.MembershipCacheTTL.String() != "30s" ||
				cfg.MembershipNegativeTTL.String() != "10s" || cfg.MembershipStaleWindow.String() != "2m0s" || cfg.PolicyPollInterval.String() != "2s") {
				t.Fatalf("defaults %+v", cfg)
			}
		})
	}
	t.Run("profile headers need the secret key", func(t *testing.T) {
		cfg := &Config{PublishableKey: testPK, UserProfileHeaders: true}
		if err := cfg.validateOrgPolicy(); err == nil {
			t.Fatal("accepted USER_PROFILE_HEADERS without CLERK_SECRET_KEY")
		}
	})
}
