package authz

import (
	"regexp"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// FuzzRuleKeyChecksFollowTheirGrammar: the hand-written checks of org
// references, role keys and permission keys accept exactly what their
// grammar, written here as regular expressions, accepts.
func FuzzRuleKeyChecksFollowTheirGrammar(f *testing.F) {
	orgRef := regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	role := regexp.MustCompile(`^(org:)?[a-z0-9_-]{1,64}$`)
	permission := regexp.MustCompile(`^org:[a-z0-9_-]{1,64}:[a-z0-9_-]{1,64}$`)
	for _, s := range []string{"", "acme", "org_2abc", "org:admin", "admin", "org:", "org", "org:org:x",
		"org:invoices:read", "org::read", "org:a:b:c", "Org:admin", "a/b", "é", "org:admin\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := clerk.IsIdentifier(s), orgRef.MatchString(s); got != want {
			t.Errorf("IsIdentifier(%q) = %v, grammar says %v", s, got, want)
		}
		if got, want := isRoleKey(s), role.MatchString(s); got != want {
			t.Errorf("isRoleKey(%q) = %v, grammar says %v", s, got, want)
		}
		if got, want := isPermissionKey(s), permission.MatchString(s); got != want {
			t.Errorf("isPermissionKey(%q) = %v, grammar says %v", s, got, want)
		}
	})
}
