package clerk

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

func decodeClaims(t *testing.T, payload string) *Claims {
	t.Helper()
	var c Claims
	if err := c.unmarshal(payload); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return &c
}

func TestActiveOrganization(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    *ActiveOrganization
		wantErr bool
	}{
		{
			name:    "v2 docs example A: masks 3 and 2",
			payload: `{"v":2,"o":{"id":"org_1","slg":"acme","rol":"admin","per":"manage,read","fpm":"3,2"},"fea":"o:dashboard,o:teams"}`,
			want:    &ActiveOrganization{ID: "org_1", Slug: "acme", Role: "org:admin", Permissions: []string{"org:dashboard:manage", "org:dashboard:read", "org:teams:read"}},
		},
		{
			name:    "v2 SDK example B: masks 7 and 21",
			payload: `{"v":2,"o":{"id":"org_1","slg":"acme","rol":"member","per":"read,create,update,delete,revoke","fpm":"7,21"},"fea":"o:repositories,o:projects"}`,
			want: &ActiveOrganization{ID: "org_1", Slug: "acme", Role: "org:member", Permissions: []string{
				"org:repositories:read", "org:repositories:create", "org:repositories:update",
				"org:projects:read", "org:projects:update", "org:projects:revoke"}},
		},
		{
			name:    "v2 user-scoped features are skipped, uo counts as org",
			payload: `{"v":2,"o":{"id":"org_1","rol":"admin","per":"read,create,update,delete,revoke","fpm":"7,21,0"},"fea":"o:repositories,uo:projects,u:goldprofileborder"}`,
			want: &ActiveOrganization{ID: "org_1", Role: "org:admin", Permissions: []string{
				"org:repositories:read", "org:repositories:create", "org:repositories:update",
				"org:projects:read", "org:projects:update", "org:projects:revoke"}},
		},
		{
			name:    "v2 mask beyond 2^53 is read exactly",
			payload: `{"v":2,"o":{"id":"org_1","rol":"admin","per":"a,b","fpm":"18014398509481986"},"fea":"o:f"}`,
			want:    &ActiveOrganization{ID: "org_1", Role: "org:admin", Permissions: []string{"org:f:b"}},
		},
		{
			name:    "v2 malformed mask grants nothing for its feature",
			payload: `{"v":2,"o":{"id":"org_1","rol":"admin","per":"read","fpm":"-1,1"},"fea":"o:a,o:b"}`,
			want:    &ActiveOrganization{ID: "org_1", Role: "org:admin", Permissions: []string{"org:b:read"}},
		},
		{
			name:    "v2 missing fpm means no permissions",
			payload: `{"v":2,"o":{"id":"org_1","rol":"admin","per":"read"},"fea":"o:a"}`,
			want:    &ActiveOrganization{ID: "org_1", Role: "org:admin"},
		},
		{
			name:    "v2 org without rol has no role",
			payload: `{"v":2,"o":{"id":"org_1","slg":"s"}}`,
			want:    &ActiveOrganization{ID: "org_1", Slug: "s"},
		},
		{
			name:    "v2 ignores v1 org claims",
			payload: `{"v":2,"org_id":"org_v1","org_role":"org:admin"}`,
			want:    nil,
		},
		{
			name:    "v2 fea entry without colon fails closed",
			payload: `{"v":2,"o":{"id":"org_1","rol":"admin","per":"read","fpm":"1"},"fea":"dashboard"}`,
			wantErr: true,
		},
		{
			name:    "v1 claims",
			payload: `{"org_id":"org_1","org_slug":"acme","org_role":"org:admin","org_permissions":["org:a:read"]}`,
			want:    &ActiveOrganization{ID: "org_1", Slug: "acme", Role: "org:admin", Permissions: []string{"org:a:read"}},
		},
		{
			name:    "string v \"2\" is read as v1",
			payload: `{"v":"2","org_id":"org_1","org_role":"org:admin","o":{"id":"org_2"}}`,
			want:    &ActiveOrganization{ID: "org_1", Role: "org:admin"},
		},
		{
			name:    "no organization",
			payload: `{"v":2}`,
			want:    nil,
		},
		{
			name:    "v 2.0 is v2, as 2.0 === 2 in the SDK",
			payload: `{"v":2.0,"org_id":"org_v1","o":{"id":"org_1"}}`,
			want:    &ActiveOrganization{ID: "org_1"},
		},
		{
			name:    "elements are trimmed as by JavaScript: U+FEFF is space, U+0085 is not (output of @clerk/shared)",
			payload: `{"v":2,"o":{"id":"org_1","rol":"admin","per":"\u00a0a\u2028,b\u0085","fpm":"\ufeff3\u2029,1"},"fea":"\ufeffo:a\u3000, o:b\u0085"}`,
			want:    &ActiveOrganization{ID: "org_1", Role: "org:admin", Permissions: []string{"org:a:a", "org:a:b\u0085", "org:b\u0085:a"}},
		},
		{
			name:    "v2 mask of 2^64-1 takes the 64-bit path, all its bits",
			payload: `{"v":2,"o":{"id":"org_1","per":"a,b,c","fpm":"18446744073709551615"},"fea":"o:f"}`,
			want:    &ActiveOrganization{ID: "org_1", Permissions: []string{"org:f:a", "org:f:b", "org:f:c"}},
		},
		{
			name:    "v2 mask of 2^64+2 takes math/big",
			payload: `{"v":2,"o":{"id":"org_1","per":"a,b,c","fpm":"18446744073709551618"},"fea":"o:f"}`,
			want:    &ActiveOrganization{ID: "org_1", Permissions: []string{"org:f:b"}},
		},
		{
			name:    "v2 more features than masks: the extra features get nothing",
			payload: `{"v":2,"o":{"id":"org_1","per":"a","fpm":"1"},"fea":"u:x,o:f,o:g"}`,
			want:    &ActiveOrganization{ID: "org_1", Permissions: []string{"org:f:a"}},
		},
		{
			name:    "v2 fea with an empty element fails closed",
			payload: `{"v":2,"o":{"id":"org_1","per":"a","fpm":"1"},"fea":"o:f,"}`,
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeClaims(t, tt.payload).ActiveOrganization()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestClaimOfWrongTypeIsRejected(t *testing.T) {
	var c Claims
	for _, p := range []string{`{"sub":5}`, `{"exp":"soon"}`, `{"o":"x"}`, `not json`, `{"exp":1e400}`} {
		if err := c.unmarshal(p); err == nil {
			t.Errorf("payload %s decoded without error", p)
		}
	}
}

func TestIsV2(t *testing.T) {
	tests := []struct {
		v    string
		want bool
	}{
		{`2`, true},
		{`2.0`, true},
		{`2e0`, true},
		{`20E-1`, true},
		{`2.0000000000000001`, true}, // the same float64, so === 2 in JavaScript
		{``, false},
		{`"2"`, false},
		{`1`, false},
		{`-2`, false},
		{`2.1`, false},
		{`null`, false},
		{`[2]`, false},
		{`true`, false},
	}
	for _, tt := range tests {
		if got := (&Claims{Version: tt.v}).IsV2(); got != tt.want {
			t.Errorf("v %s: IsV2 = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestParseMaskTakesUint64PathWhenItFits(t *testing.T) {
	tests := []struct {
		mask   string
		small  bool
		ok     bool
		setBit []int
	}{
		{"0", true, true, nil},
		{"5", true, true, []int{0, 2}},
		{"0005", true, true, []int{0, 2}},
		{"9223372036854775808", true, true, []int{63}},
		{"18446744073709551615", true, true, []int{0, 1, 62, 63}},
		{"18446744073709551616", false, true, []int{64}},
		{"36893488147419103232", false, true, []int{65}},
		{"", false, false, nil},
		{"-1", false, false, nil},
		{"1e3", false, false, nil},
		{"١", false, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.mask, func(t *testing.T) {
			m, ok := parseMask(tt.mask)
			if ok != tt.ok {
				t.Fatalf("ok = %v", ok)
			}
			if !ok {
				return
			}
			if (m.big == nil) != tt.small {
				t.Fatalf("uint64 path = %v, want %v", m.big == nil, tt.small)
			}
			for _, j := range tt.setBit {
				if !m.bit(j) {
					t.Errorf("bit %d not set", j)
				}
			}
			checkMaskPaths(t, tt.mask)
		})
	}
}

// TestActiveOrganizationAllocations: the role and every permission name
// share one buffer, so a v2 organization costs three allocations however
// many permissions it grants.
func TestActiveOrganizationAllocations(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	c := decodeClaims(t, `{"v":2,"o":{"id":"org_1","rol":"admin","per":"read,create,update,delete,revoke","fpm":"31,21,7"},"fea":"o:a,o:b,u:x,o:c"}`)
	var org *ActiveOrganization
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if org, err = c.ActiveOrganization(); err != nil {
			t.Fatal(err)
		}
	})
	if len(org.Permissions) != 11 || org.Role != "org:admin" {
		t.Fatalf("got %+v", org)
	}
	if allocs > 3 {
		t.Fatalf("%v allocations, want 3", allocs)
	}
}

// sdkClaimsScript maps each payload as the SDK does: JSON.parse (what
// decodeJwt does with the decoded text), then @clerk/shared's
// __experimental_JWTPayloadToAuthObjectProperties.
const sdkClaimsScript = `
const { __experimental_JWTPayloadToAuthObjectProperties: map } = require("@clerk/shared/jwtPayloadParser");
let input = "";
process.stdin.on("data", (d) => (input += d)).on("end", () => {
  const out = JSON.parse(input).map((payload) => {
    let claims;
    try { claims = JSON.parse(payload); } catch { return { parseError: true }; }
    let a;
    try { a = map(claims); } catch { return { threw: true }; }
    // Values of other types (which our decoder refuses) are left out.
    const str = (x) => (typeof x === "string" ? x : "");
    const perms = Array.isArray(a.orgPermissions) ? a.orgPermissions.map(str) : [];
    return { orgId: str(a.orgId), orgSlug: str(a.orgSlug), orgRole: str(a.orgRole), orgPermissions: perms };
  });
  process.stdout.write(JSON.stringify(out));
});`

// sdkClaimsPayloads: the decoder's seeds and organization claims built at
// random from parts Clerk uses and parts it never would.
func sdkClaimsPayloads() []string {
	payloads := slices.Clone(claimsSeeds)
	r := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // seeded, reproducible test inputs; not a secret
	pick := func(parts []string, max int) string {
		n := r.IntN(max + 1)
		var b []string
		for range n {
			b = append(b, parts[r.IntN(len(parts))])
		}
		return strings.Join(b, ",")
	}
	features := []string{"o:a", "u:b", "ou:c", "uo:d", " o:e ", "\ufefffo:f", "o:g\u0085", "o:", "o:h:i", "x", "", "O:j", "o :k"}
	perms := []string{"read", "manage", " delete ", "", "\u00a0x\u3000", "y\u0085", "a,b"}
	masks := []string{"0", "1", "3", "7", "255", " 5 ", "", "-1", "1e3", "0x1", "007", "18446744073709551615", "18446744073709551616",
		"340282366920938463463374607431768211457", "\ufeff3", "3\u0085", "١", "+1", "1.0"}
	versions := []string{`"v":2,`, `"v":2.0,`, `"v":"2",`, `"v":1,`, ``, `"v":null,`, `"v":2e0,`}
	for range 3000 {
		o := fmt.Sprintf(`{"id":"org_%d","slg":"s","rol":%q,"per":"%s","fpm":"%s"}`, r.IntN(3), []string{"admin", "", "member"}[r.IntN(3)], pick(perms, 6), pick(masks, 6))
		if r.IntN(10) == 0 {
			o = `{"ID":"org_x"}`
		}
		payload := fmt.Sprintf(`{%s"o":%s,"fea":"%s","org_id":"org_v1","org_role":"org:r","org_permissions":["org:p:q"]}`, versions[r.IntN(len(versions))], o, pick(features, 5))
		if r.IntN(8) == 0 {
			payload = strings.Replace(payload, `{`, `{"o":{"id":"org_first"},`, 1) // a repeated "o": the last wins
		}
		payloads = append(payloads, payload)
	}
	return payloads
}

// TestActiveOrganizationMatchesClerkSDK is a differential test against
// @clerk/shared run by node: every payload our decoder accepts, the SDK
// parses too and maps to the same organization, role and permissions, or
// throws where we refuse. CLERK_SDK_NODE_PATH as for authz's
// TestDecisionsMatchClerkSDK (scripts/sdk-oracle.sh).
func TestActiveOrganizationMatchesClerkSDK(t *testing.T) {
	nodePath := clerktest.SDKNodePath(t)
	payloads := sdkClaimsPayloads()
	type sdkOrg struct {
		ParseError, Threw       bool
		OrgID, OrgSlug, OrgRole string
		OrgPermissions          []string
	}
	var results []sdkOrg
	clerktest.RunNode(t, nodePath, payloads, &results, "-e", sdkClaimsScript)
	if len(results) != len(payloads) {
		t.Fatalf("node output: %d results for %d payloads", len(results), len(payloads))
	}
	compared := 0
	for i, payload := range payloads {
		want := results[i]
		var c Claims
		if err := c.unmarshal(payload); err != nil {
			continue // refused: JSON.parse may refuse too, or the SDK would meet a wrong type
		}
		if want.ParseError {
			t.Errorf("payload %q: decoded, but JSON.parse refuses it", payload)
			continue
		}
		org, err := c.ActiveOrganization()
		if (err != nil) != want.Threw {
			t.Errorf("payload %q: error %v, SDK threw %v", payload, err, want.Threw)
			continue
		}
		if err != nil {
			continue
		}
		var got sdkOrg
		if org != nil {
			got = sdkOrg{OrgID: org.ID, OrgSlug: org.Slug, OrgRole: org.Role, OrgPermissions: org.Permissions}
		}
		if got.OrgID == "" && want.OrgID == "" {
			continue // no organization either way
		}
		if got.OrgPermissions == nil {
			got.OrgPermissions = []string{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("payload %q:\n got %+v\nSDK %+v", payload, got, want)
		}
		compared++
	}
	t.Logf("%d of %d payloads mapped to an organization as by @clerk/shared", compared, len(payloads))
}
