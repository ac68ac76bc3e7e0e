package authz

import (
	"maps"
	"net/url"
	"strings"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

func TestPathPatternsRefuseUnsupportedSyntax(t *testing.T) {
	for _, p := range []string{
		"/orgs/:slug", "/orgs/:slug/(.*)", "/o/:id", "/me", "/me/(.*)", "/", "/me/", "/a//b",
		"/orgs/new", "/v1.2/:org_id9", "/(.*)", "/caf%C3%A9/~x_y-z.!$&'=@,;|^[]",
	} {
		if _, err := NewOrganizationSync([]string{p}, nil); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
	for _, p := range []string{
		"", "orgs/:slug", " /orgs/:slug", "/orgs/:slug?", "/orgs/:slug*", "/orgs/:slug+", "/orgs/*",
		"/orgs/:slug(\\d+)", "/orgs/(\\d+)", "/orgs/(.+)", "/orgs/(.*)x", "/orgs/x(.*)", "/orgs/{:slug}?",
		"/orgs/:", "/orgs/:org-id", "/orgs/x:slug", "/orgs/:slug.json", "/orgs/\\:slug", "/orgs/a b",
		"/orgs/é", "/orgs/#x", "/orgs/(?:x)",
	} {
		if _, err := NewOrganizationSync(nil, []string{p}); err == nil {
			t.Errorf("%q accepted", p)
		} else if !strings.Contains(err.Error(), "path pattern") {
			t.Errorf("%q: error %q does not name the pattern", p, err)
		}
	}
	if s, err := NewOrganizationSync(nil, nil); s != nil || err != nil {
		t.Errorf("no patterns: %v, %v; want nil, nil", s, err)
	}
}

// TestOrganizationSyncTarget: path-to-regexp's matching, as the SDK uses
// it: case-insensitive, one optional trailing slash, parameters as the
// path spells them (not decoded), the first pattern that matches wins
// (one without :id or :slug names no organization), and organization
// patterns before personal-account ones.
func TestOrganizationSyncTarget(t *testing.T) {
	s, err := NewOrganizationSync(
		[]string{"/orgs/new", "/orgs/:slug", "/orgs/:slug/(.*)", "/o/:id/:slug"},
		[]string{"/me", "/me/(.*)", "/orgs/new"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want orgSyncTarget
		ok   bool
	}{
		{"/orgs/acme", orgSyncTarget{slug: "acme"}, true},
		{"/orgs/acme/", orgSyncTarget{slug: "acme"}, true},
		{"/ORGS/Acme", orgSyncTarget{slug: "Acme"}, true},
		{"/orgs/ac%20me/x/y", orgSyncTarget{slug: "ac%20me"}, true},
		{"/o/org_1/acme", orgSyncTarget{id: "org_1"}, true},
		{"/orgs/new", orgSyncTarget{personal: true}, true},
		{"/me", orgSyncTarget{personal: true}, true},
		{"/me/settings", orgSyncTarget{personal: true}, true},
		{"/orgs", orgSyncTarget{}, false},
		{"/orgs/acme//", orgSyncTarget{slug: "acme"}, true}, // "(.*)" takes "/"
		{"/media", orgSyncTarget{}, false},
		{"/x/orgs/acme", orgSyncTarget{}, false},
	}
	for _, tt := range tests {
		got, ok := s.target(tt.path)
		if got != tt.want || ok != tt.ok {
			t.Errorf("target(%q) = %+v, %v; want %+v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
	var off *OrganizationSync
	if _, ok := off.target("/orgs/acme"); ok {
		t.Error("nil OrganizationSync matched")
	}
}

// TestWebPathname: the pathname of JavaScript's URL for the same URL
// (Node's new URL(u).pathname), which Go's EscapedPath escapes otherwise
// for "|" and "^".
func TestWebPathname(t *testing.T) {
	for in, want := range map[string]string{
		"/orgs/acme":      "/orgs/acme",
		"/orgs/a|b":       "/orgs/a|b",
		"/orgs/a^b":       "/orgs/a^b",
		"/orgs/a|b%2Fc":   "/orgs/a|b%2Fc",
		"/orgs/it's":      "/orgs/it's",
		"/orgs/café":      "/orgs/caf%C3%A9",
		"/orgs/caf%c3%a9": "/orgs/caf%c3%a9",
		"/orgs/a[1]":      "/orgs/a[1]",
		"/orgs/a{b}":      "/orgs/a%7Bb%7D",
		"/orgs/a`b|c":     "/orgs/a%60b|c",
		"/orgs/a%20b":     "/orgs/a%20b",
		"":                "/",
	} {
		u, err := url.Parse("https://app.example.test" + in)
		if err != nil {
			t.Fatal(err)
		}
		if got := webPathname(u); got != want {
			t.Errorf("webPathname(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPathPatternsMatchClerkSDK: our patterns' matches and parameters
// against @clerk/shared's match (path-to-regexp), on the same pathnames.
func TestPathPatternsMatchClerkSDK(t *testing.T) {
	nodePath := clerktest.SDKNodePath(t)
	lists := [][]string{
		{"/orgs/:slug", "/orgs/:slug/(.*)"},
		{"/orgs/new", "/o/:id/:slug", "/orgs/:slug/(.*)", "/orgs/:slug"},
		{"/me", "/me/(.*)", "/", "/a//b/", "/v1.2/:id"},
		{"/(.*)", "/x/:id/(.*)/:slug"},
	}
	paths := []string{
		"/", "/orgs", "/orgs/", "/orgs/acme", "/orgs/acme/", "/orgs/acme//", "/orgs/ACME/x/y", "/ORGS/a%20b",
		"/orgs/new", "/orgs/new/", "/o/org_1/acme", "/o/org_1/acme/", "/me", "/ME/", "/me/x", "/media",
		"/a//b/", "/a//b", "/a/b", "/v1.2/org_1", "/v1x2/org_1", "/x/1/y/z/s", "/orgs/a|b^c", "/orgs/a%7c",
	}
	type result struct {
		OK     bool              `json:"ok"`
		Params map[string]string `json:"params"`
	}
	script := `const { match } = require('@clerk/shared/pathToRegexp');
const { lists, paths } = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(lists.map((l) => { const m = match(l);
  return paths.map((p) => { const r = m(p); return r ? { ok: true, params: r.params } : { ok: false, params: null }; }); })));`
	var want [][]result
	clerktest.RunNode(t, nodePath, map[string]any{"lists": lists, "paths": paths}, &want, "-e", script)
	for i, l := range lists {
		pp, err := compilePathPatterns(l)
		if err != nil {
			t.Fatal(err)
		}
		for j, p := range paths {
			got := pp.params(p)
			w := want[i][j]
			if (got != nil) != w.OK || w.OK && !maps.Equal(got, w.Params) {
				t.Errorf("%q on %q: ours %v, SDK %+v", l, p, got, w)
			}
		}
	}
}
