//go:build e2e

package integrations

// Organization sync (CLERK_ORGANIZATION_PATTERNS, the SDK's
// organizationSyncOptions) through every proxy: a page whose URL names
// another organization than the session's active one hand-shakes with
// organization_id, and the fake Clerk's Frontend API makes that
// organization active in the session it hands back.

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

var orgSyncEnv = []string{
	"CLERK_ORGANIZATION_PATTERNS=/orgs/:slug,/orgs/:slug/(.*)",
	"CLERK_PERSONAL_ACCOUNT_PATTERNS=/me,/me/(.*)",
}

// orgSyncScenarios run on a service started with orgSyncEnv. Keep them in
// step with integrations/README.md.
var orgSyncScenarios = []scenario{
	{"URL names another organization: handshake with organization_id, the app sees that organization; personal path: none", scenarioOrgSync},
}

func TestOrganizationSync(t *testing.T) {
	runEveryProxy(t, orgSyncScenarios, orgSyncEnv...)
}

func scenarioOrgSync(t *testing.T, p *proxyUnderTest) {
	fake := p.svc.Fake
	user := clerktest.NewID("user")
	fake.AddMembership(user, "org_acme_"+user, "acme", "org:admin")
	fake.AddMembership(user, "org_beta_"+user, "beta", "org:member")
	// Signed in with acme active.
	c := p.svc.claims(user)
	c.WithOrg("org_acme_"+user, "acme", "admin", "", "", "")
	now := time.Now().Unix()
	b := newBrowserTrip(p, "",
		fake.SignInBrowser(user),
		&http.Cookie{Name: "__client_uat", Value: strconv.FormatInt(now-3600, 10)},
		&http.Cookie{Name: "__session", Value: p.svc.token(c)},
	)
	for _, step := range []struct {
		target, slug, orgID string // what the app must see
	}{
		{"/orgs/acme/settings", "acme", "org_acme_" + user}, // the active one: no handshake
		{"/orgs/beta/settings", "beta", "org_beta_" + user},
		{"/me", "", ""},
	} {
		before := len(fake.HandshakeRequests())
		final, seen := b.navigate(t, p, step.target)
		if final != publicOrigin+step.target {
			t.Errorf("%s: ended on %s", step.target, final)
		}
		id := identityAt(seen.Header)
		if strings.Join(id["X-Auth-Org-Slug"], ",") != step.slug || strings.Join(id["X-Auth-Org-Id"], ",") != step.orgID {
			t.Errorf("%s: app saw org %q %q, want %q %q", step.target, id["X-Auth-Org-Id"], id["X-Auth-Org-Slug"], step.orgID, step.slug)
		}
		hs := fake.HandshakeRequests()[before:]
		switch {
		case step.target == "/orgs/acme/settings" && len(hs) != 0:
			t.Errorf("%s: %d handshakes for the active organization, want none", step.target, len(hs))
		case step.target != "/orgs/acme/settings" && (len(hs) != 1 || hs[0].Get("__clerk_hs_reason") != "active-organization-mismatch" || hs[0].Get("organization_id") != step.slug):
			t.Errorf("%s: handshakes %v, want one for organization_id=%q", step.target, hs, step.slug)
		}
	}
}
