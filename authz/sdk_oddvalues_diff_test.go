package authz

import (
	"context"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// TestOddClerkValuesMatchClerkSDK: values the SDK reads with JavaScript's
// own parsers, where Go's read differently: __client_uat through
// Number.parseInt (JavaScript white space, hex, numbers beyond int64) and
// Clerk's query parameters through URLSearchParams (a bad escape or a ';'
// in the value). The same requests through @clerk/backend's
// authenticateRequest and our engine must agree.
func TestOddClerkValuesMatchClerkSDK(t *testing.T) {
	nodePath := clerktest.SDKNodePath(t)
	for _, production := range []bool{true, false} {
		t.Run(map[bool]string{true: "production", false: "development"}[production], func(t *testing.T) {
			env := newTestEnv(t, production, nil)
			tok := mintSession(env.fake, "user_sdk", time.Now(), nil)
			sfx := "_" + env.suffix
			db := ""
			if !production {
				db = "; __clerk_db_jwt=dvb_1"
			}
			const base = "https://app.example.test/dashboard"
			queries := []string{"?__clerk_db_jwt=abc%zz", "?__clerk_db_jwt=a;b", "?x=%41&__clerk_db_jwt=a"}
			if production {
				// A development instance redirects after a nonce it cannot
				// redeem, where the SDK answers signed out with a Location
				// (erratum 21), and throws on a bad handshake token.
				queries = append(queries, "?__clerk_handshake_nonce=abc%zz", "?__clerk_handshake_nonce=a;b", "?__clerk_handshake=abc%zz", "?a=1;__clerk_handshake_nonce=x")
			}
			cookies := map[string]string{
				"valid":                   "__session=" + tok + "; __client_uat=1" + db,
				"uat-huge":                "__session=" + tok + "; __client_uat=99999999999999999999" + db,
				"uat-huge-alone":          "__client_uat=99999999999999999999" + db,
				"uat-negative-huge-alone": "__client_uat=-99999999999999999999" + db,
				"uat-nbsp":                "__session=" + tok + "; __client_uat=%C2%A05" + db,
				"uat-ideographic-space":   "__session=" + tok + "; __client_uat=%E3%80%805" + db,
				"uat-nel":                 "__session=" + tok + "; __client_uat=%C2%855" + db,
				"uat-hex":                 "__session=" + tok + "; __client_uat=0x10" + db,
				"uat-hex-alone":           "__client_uat=-0X1f" + db,
				"uat-hex-empty":           "__session=" + tok + "; __client_uat=0x" + db,
				"suffixed-uat-huge":       "__session" + sfx + "=" + tok + "; __client_uat" + sfx + "=99999999999999999999; __client_uat=1" + db,
			}
			var cases []sdkCase
			for _, kind := range browserKinds {
				for name, cookie := range cookies {
					cases = append(cases, sdkCase{name: name + "/" + kind.name, URL: base, Method: kind.method, Headers: append(append([][2]string(nil), kind.headers...), [2]string{"Cookie", cookie})})
				}
				for _, q := range queries {
					cases = append(cases, sdkCase{name: q + "/" + kind.name, URL: base + q, Method: kind.method, Headers: append(append([][2]string(nil), kind.headers...), [2]string{"Cookie", cookies["valid"]})})
				}
			}
			results := runSDK(t, nodePath, env, cases)
			for i, c := range cases {
				d := env.engine.Decide(context.Background(), c.request())
				if diff := compareWithSDK(d, results[i]); diff != "" {
					s := results[i]
					t.Errorf("%s: %s\n  ours: %v %q loc=%.150q cookies=%v\n  sdk:  %s %q loc=%.150q cookies=%v",
						c.name, diff, d.Outcome, d.Reason, d.Location, d.SetCookies, s.Status, s.Reason, s.Location, s.SetCookies)
				}
			}
		})
	}
}
