package authz

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// TestMultiDomainDecisionsMatchClerkSDK: satellites (CLERK_IS_SATELLITE
// with CLERK_DOMAIN, and CLERK_SATELLITE_DOMAINS, which the SDK spells as
// isSatellite and domain per request), CLERK_SATELLITE_AUTO_SYNC, a
// relative CLERK_PROXY_URL, and a development primary answering a
// satellite's __clerk_redirect_url: the same requests through our engine
// and @clerk/backend's authenticateRequest must agree on the outcome,
// reason, handshake or sync redirect and cookies.
func TestMultiDomainDecisionsMatchClerkSDK(t *testing.T) {
	nodePath := clerktest.SDKNodePath(t)
	const satellite = "satellite.example.test"
	const signIn = "https://primary.example.test/sign-in"
	setups := []struct {
		name       string
		production bool
		host       string // the requests' host
		sdk        map[string]any
		ours       func(*Config)
	}{
		{"production satellite", true, "app." + satellite,
			map[string]any{"isSatellite": true, "domain": satellite},
			func(c *Config) { c.IsSatellite, c.Domain = true, satellite }},
		{"production satellite by host, auto sync", true, "app." + satellite,
			map[string]any{"isSatellite": true, "domain": satellite, "signInUrl": signIn, "satelliteAutoSync": true},
			func(c *Config) {
				c.SatelliteDomains, c.SignInURL, c.SatelliteAutoSync = []string{satellite, "other.test"}, signIn, true
			}},
		{"development satellite", false, satellite,
			map[string]any{"isSatellite": true, "domain": satellite, "signInUrl": signIn},
			func(c *Config) { c.IsSatellite, c.Domain, c.SignInURL = true, satellite, signIn }},
		{"production satellite behind a relative proxy", true, satellite,
			map[string]any{"isSatellite": true, "proxyUrl": "/__clerk"},
			func(c *Config) { c.IsSatellite, c.ProxyURL = true, "/__clerk" }},
		{"production primary behind a relative proxy", true, "app.example.test",
			map[string]any{"proxyUrl": "/__clerk/"},
			func(c *Config) { c.ProxyURL = "/__clerk/" }},
		{"development primary asked to sync", false, "app.example.test",
			map[string]any{},
			func(c *Config) { c.AllowedRedirectHosts = []string{satellite} }},
	}
	for _, setup := range setups {
		t.Run(setup.name, func(t *testing.T) {
			env := newTestEnv(t, setup.production, func(c *Config, _ *clerk.VerifyOptions) { setup.ours(c) })
			cases := multiDomainCases(env, setup.production, setup.host)
			opts := map[string]any{
				"publishableKey": env.fake.PublishableKey, "secretKey": env.fake.SecretKey,
				"jwtKey": env.fake.Key().PublicKeyPEM(), "apiUrl": env.fake.URL,
			}
			for k, v := range setup.sdk {
				opts[k] = v
			}
			results := runSDKWith(t, nodePath, opts, cases)
			mismatches := 0
			seen := map[string]int{}
			for i, c := range cases {
				d := env.engine.Decide(context.Background(), c.request())
				s := results[i]
				seen[s.Status+" "+s.Reason]++
				if diff := compareWithSDK(d, s); diff != "" {
					mismatches++
					if mismatches <= 10 {
						t.Errorf("%s: %s\n  ours: %v %q loc=%.200q cookies=%v\n  sdk:  %s %q loc=%.200q cookies=%v",
							c.name, diff, d.Outcome, d.Reason, d.Location, d.SetCookies, s.Status, s.Reason, s.Location, s.SetCookies)
					}
				}
			}
			if mismatches > 0 {
				t.Fatalf("%d of %d requests decided differently from @clerk/backend", mismatches, len(cases))
			}
			t.Logf("%d requests agree; SDK outcomes: %v", len(cases), seen)
			want := map[string][]string{
				"production satellite":                         {"handshake satellite-needs-syncing", "signed-out session-token-and-uat-missing", "signed-in "},
				"production satellite by host, auto sync":      {"handshake satellite-needs-syncing", "signed-in "},
				"development satellite":                        {"handshake satellite-needs-syncing", "handshake dev-browser-sync", "signed-in "},
				"production satellite behind a relative proxy": {"handshake satellite-needs-syncing"},
				"production primary behind a relative proxy":   {"handshake client-uat-but-no-session-token"},
				"development primary asked to sync":            {"handshake primary-responds-to-syncing", "signed-out primary-responds-to-syncing"},
			}[setup.name]
			for _, w := range want {
				if seen[w] == 0 {
					t.Errorf("no request the SDK answers %q: the corpus misses a branch", w)
				}
			}
		})
	}
}

// multiDomainCases are requests to host: session tokens issued by the
// request's Frontend API and by another, with and without __client_uat,
// in both cookie families, of every kind (API call, document navigation,
// HTML Accept, POST), with __clerk_synced absent, false and true, with a
// satellite's __clerk_redirect_url (it and the request carry queries that
// URLSearchParams rewrites: "~", "+", escapes of invalid UTF-8), and with
// the loop counter at 0 and 3.
func multiDomainCases(env *testEnv, production bool, host string) []sdkCase {
	now := time.Now()
	fake := env.fake
	satelliteFAPI := "https://clerk." + strings.TrimPrefix(host, "app.")
	mint := func(mod func(clerktest.Claims)) string { return mintSession(fake, "user_sat", now, mod) }
	tokens := []struct{ name, tok string }{
		{"none", ""},
		{"valid", mint(nil)},
		{"valid-satellite-iss", mint(func(c clerktest.Claims) { c["iss"] = satelliteFAPI })},
		{"expired", mint(func(c clerktest.Claims) {
			c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-time.Minute).Unix()
		})},
		{"garbage", "garbage"},
	}
	uats := []string{"", "0", "1", strconv.FormatInt(now.Unix(), 10)}
	kinds := browserKinds
	queries := []string{"tab=1", "tab=1&__clerk_synced=false", "__clerk_synced=true", "__clerk_synced=true&__clerk_db_jwt=dvb_q", "x=a+b~*&y=%C3%E2%82&__clerk_redirect_url=" + formEscape("https://satellite.example.test/back?y=1&z=%ED%A0%80")}
	sfx := "_" + env.suffix
	devBrowsers := []string{""}
	if !production {
		devBrowsers = []string{"", "__clerk_db_jwt=dvb_1"}
	}
	var cases []sdkCase
	for _, tk := range tokens {
		for _, uat := range uats {
			for _, family := range []string{"", sfx} {
				for _, kind := range kinds {
					for qi, q := range queries {
						for di, db := range devBrowsers {
							for _, count := range []string{"", "3"} {
								var ck []string
								if tk.tok != "" {
									ck = append(ck, "__session"+family+"="+tk.tok)
								}
								if uat != "" {
									ck = append(ck, "__client_uat"+family+"="+uat)
								}
								if db != "" {
									ck = append(ck, db)
								}
								if count != "" {
									ck = append(ck, "__clerk_redirect_count="+count)
								}
								h := append([][2]string(nil), kind.headers...)
								if len(ck) > 0 {
									h = append(h, [2]string{"Cookie", strings.Join(ck, "; ")})
								}
								cases = append(cases, sdkCase{
									name:   fmt.Sprintf("%s/uat%q/family%q/%s/q%d/db%d/count%s", tk.name, uat, family, kind.name, qi, di, count),
									URL:    "https://" + host + "/page?" + q,
									Method: kind.method, Headers: h,
								})
							}
						}
					}
				}
			}
		}
	}
	return cases
}
