package authz

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// Organization sync is the SDK's organizationSyncOptions: URLs that name an
// organization (/orgs/:slug) or the personal account (/me) make a signed-in
// browser hand-shake when the session's active organization is another
// one, and Clerk's handshake activates the one the URL names.
//
// The SDK matches the patterns with path-to-regexp 6 (@clerk/shared
// pathToRegexp's match): all patterns of a list in one case-insensitive
// regular expression, each anchored and allowing one trailing "/", on the
// URL's pathname as it is (percent-encoded, parameters not decoded). We
// accept the part of that syntax Clerk documents, whole segments only:
// literal text, a named parameter ":name" and the wildcard "(.*)". The
// rest (modifiers, custom parameter patterns, groups in braces, escapes,
// parameters inside a segment) is refused at start-up rather than
// approximated.

// OrganizationSync holds the compiled CLERK_ORGANIZATION_PATTERNS and
// CLERK_PERSONAL_ACCOUNT_PATTERNS.
type OrganizationSync struct {
	org, personal *pathPatterns
}

// pathPatterns is one list of patterns as one expression; names holds the
// parameter name of each capturing group, in order.
type pathPatterns struct {
	re    *regexp.Regexp
	names []string
}

// NewOrganizationSync compiles the two pattern lists; either may be empty.
// It returns nil, nil when both are.
func NewOrganizationSync(organizationPatterns, personalAccountPatterns []string) (*OrganizationSync, error) {
	if len(organizationPatterns) == 0 && len(personalAccountPatterns) == 0 {
		return nil, nil
	}
	org, err := compilePathPatterns(organizationPatterns)
	if err != nil {
		return nil, err
	}
	personal, err := compilePathPatterns(personalAccountPatterns)
	if err != nil {
		return nil, err
	}
	return &OrganizationSync{org: org, personal: personal}, nil
}

// compilePathPatterns is path-to-regexp's match on an array: the patterns'
// expressions joined with "|", their groups numbered across all of them.
// No patterns compile to nil (the SDK's matcher is then off; an empty
// array there would match every path).
func compilePathPatterns(patterns []string) (*pathPatterns, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	var alts []string
	var names []string
	for _, p := range patterns {
		src, n, err := pathPatternSource(p)
		if err != nil {
			return nil, err
		}
		alts = append(alts, src)
		names = append(names, n...)
	}
	re, err := regexp.Compile("(?i)(?:" + strings.Join(alts, "|") + ")")
	if err != nil {
		return nil, fmt.Errorf("path patterns: %w", err)
	}
	return &pathPatterns{re: re, names: names}, nil
}

// pathPatternSource translates one pattern into the expression
// path-to-regexp builds for it (its options' defaults: prefixes "./",
// delimiter "/#?", end, not strict, case-insensitive), and lists its
// parameters' names; the wildcard is named by its index, as there.
func pathPatternSource(p string) (src string, names []string, err error) {
	if !strings.HasPrefix(p, "/") {
		return "", nil, fmt.Errorf("path pattern %q: must start with /", p)
	}
	var b strings.Builder
	b.WriteString("^")
	unnamed := 0
	for _, seg := range strings.Split(p[1:], "/") {
		b.WriteString(`/`)
		switch {
		case seg == "(.*)":
			b.WriteString("(.*)")
			names = append(names, fmt.Sprint(unnamed))
			unnamed++
		case strings.HasPrefix(seg, ":"):
			name := seg[1:]
			if name == "" || strings.TrimLeft(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != "" {
				return "", nil, fmt.Errorf("path pattern %q: segment %q: a parameter is a whole segment, \":\" and a name of letters, digits and _", p, seg)
			}
			b.WriteString(`([^/#?]+?)`)
			names = append(names, name)
		default:
			for i := 0; i < len(seg); i++ {
				c := seg[i]
				if c <= ' ' || c >= 0x7f || strings.IndexByte(`:*+?\{}()#"<>`+"`", c) >= 0 {
					return "", nil, fmt.Errorf("path pattern %q: segment %q: only literal text, :name and (.*) are supported (%q is not)", p, seg, c)
				}
			}
			b.WriteString(regexp.QuoteMeta(seg))
		}
	}
	b.WriteString(`[/#?]?$`)
	return b.String(), names, nil
}

// params is the match's parameters, or nil without a match; a name that
// occurs twice keeps its last value, as in path-to-regexp.
func (pp *pathPatterns) params(path string) map[string]string {
	if pp == nil {
		return nil
	}
	m := pp.re.FindStringSubmatchIndex(path)
	if m == nil {
		return nil
	}
	params := make(map[string]string, 2)
	for i, name := range pp.names {
		if start := m[2+2*i]; start >= 0 {
			params[name] = path[start:m[3+2*i]]
		}
	}
	return params
}

// orgSyncTarget is what a URL asks to activate.
type orgSyncTarget struct {
	personal bool
	// id or slug of the organization (one of them), as the URL spells it.
	id, slug string
}

// target is OrganizationMatcher.findTarget: an organization pattern with
// an :id or :slug parameter first, then a personal-account pattern.
func (o *OrganizationSync) target(path string) (orgSyncTarget, bool) {
	if o == nil {
		return orgSyncTarget{}, false
	}
	if params := o.org.params(path); params != nil {
		if id := params["id"]; id != "" {
			return orgSyncTarget{id: id}, true
		}
		if slug := params["slug"]; slug != "" {
			return orgSyncTarget{slug: slug}, true
		}
	}
	if o.personal.params(path) != nil {
		return orgSyncTarget{personal: true}, true
	}
	return orgSyncTarget{}, false
}

// queryValue is getOrganizationSyncQueryParams' organization_id: the id or
// slug, "" for the personal account.
func (t orgSyncTarget) queryValue() string {
	if t.id != "" {
		return t.id
	}
	return t.slug
}

// targetOf is target on the request URL's pathname. Off, it costs nothing.
func (o *OrganizationSync) targetOf(r *Request) (orgSyncTarget, bool) {
	if o == nil {
		return orgSyncTarget{}, false
	}
	return o.target(webPathname(r.URL))
}

// organizationSync is cookie-flow row 15 (handleMaybeOrganizationSyncHandshake):
// a signed-in browser navigation to a URL that names another organization
// than the session's active one, or the personal account while an
// organization is active, hand-shakes so that Clerk activates it. Anything
// else, including a request that may not hand-shake and the loop counter
// at 3 or more (an organization the user cannot activate), stays signed
// in. done is false when the session stands.
func (e *Engine) organizationSync(c *authContext, s *clerk.Session) (st authState, done bool) {
	t, ok := e.cfg.OrganizationSync.targetOf(c.req)
	if !ok {
		return authState{}, false
	}
	var activeID, activeSlug string
	if s.Org != nil {
		activeID, activeSlug = s.Org.ID, s.Org.Slug
	}
	mismatch := t.personal && activeID != "" ||
		t.slug != "" && t.slug != activeSlug ||
		t.id != "" && t.id != activeID
	if !mismatch || c.redirectCount() >= maxRedirectCount || !c.req.IsBrowserNavigation() {
		return authState{}, false
	}
	return e.maybeHandshake(c, clerk.ReasonActiveOrganizationMismatch, ""), true
}
