package authz

import (
	"context"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// Config is what the engine needs to know about the Clerk instance and the
// deployment.
type Config struct {
	PublishableKey clerk.PublishableKey
	// ProxyURL is CLERK_PROXY_URL: where the Frontend API is reached.
	ProxyURL string
	// SignInURL is CLERK_SIGN_IN_URL; default: the Account Portal's.
	SignInURL string
	// IsSatellite (CLERK_IS_SATELLITE) makes every request one for the
	// satellite domain Domain (CLERK_DOMAIN); SatelliteDomains
	// (CLERK_SATELLITE_DOMAINS) makes requests to those domains and their
	// subdomains satellite requests, and the rest the primary's (site.go).
	IsSatellite      bool
	Domain           string
	SatelliteDomains []string
	// SatelliteAutoSync (CLERK_SATELLITE_AUTO_SYNC) is the SDK's
	// satelliteAutoSync: a satellite's page view without Clerk cookies
	// hand-shakes instead of being signed out.
	SatelliteAutoSync bool
	// OrganizationSync (CLERK_ORGANIZATION_PATTERNS,
	// CLERK_PERSONAL_ACCOUNT_PATTERNS) is the SDK's
	// organizationSyncOptions; nil: off (orgsync.go).
	OrganizationSync *OrganizationSync
	// AllowCORSPreflight lets credential-less CORS preflights through.
	AllowCORSPreflight bool
	// CallbackPath is the browser-facing handshake completion route.
	CallbackPath string
	// AllowedRedirectHosts is ALLOWED_REDIRECT_HOSTS: hosts other than the
	// request's own that redirect targets may name (exact or *.example.com).
	AllowedRedirectHosts []string
	// Now is the clock (tests).
	Now func() time.Time
}

// Membership is a user's membership in one organization.
type Membership struct {
	OrgID       string
	OrgSlug     string
	Role        string
	Permissions []string
}

// Memberships looks a user's organization memberships up (the Backend API
// through a cache). It returns nil, nil when the user is not a member.
type Memberships interface {
	Membership(ctx context.Context, userID, org string) (*Membership, error)
}

// Policy picks the rule for a request when the auth URL carries none.
type Policy interface {
	Match(host, path, method string) *Rule
}

// Engine decides requests. It is safe for concurrent use and keeps no
// per-request state.
type Engine struct {
	cfg         Config
	verifier    *clerk.Verifier
	memberships Memberships
	policy      Policy
	profiles    Profiles
	payloads    HandshakePayloads
	redirects   RedirectHosts
	log         *slog.Logger
	names       suffixedNames // the __session_<suffix> family
	refresher   SessionRefresher
	refreshes   *refreshGroup
	machines    MachineTokens
	revoked     RevokedSessions
	checker     SessionChecker
	primary     site
	satellites  []site
	nonceBudget *callBudget // nil: unbounded
}

// Options are the engine's optional parts.
type Options struct {
	Memberships Memberships // nil: only the active organization can satisfy org rules
	Policy      Policy      // nil: every route requires a signed-in session
	Profiles    Profiles    // nil: no X-Auth-User-Email/-Name (USER_PROFILE_HEADERS=false)
	// HandshakePayloads redeems handshake nonces (the Backend API); nil:
	// nonce handshakes complete signed out.
	HandshakePayloads HandshakePayloads
	// Refresher refreshes expired sessions server-side (the Backend API);
	// nil: no refresh, the handshake does it ("missing-api-client").
	Refresher SessionRefresher
	// Machines verifies API keys, M2M and OAuth tokens (MachineLookup);
	// nil: a route that accepts them refuses every one.
	Machines MachineTokens
	// Revoked holds the sessions Clerk's webhooks said ended
	// (SessionDenyList); nil: none are known.
	Revoked RevokedSessions
	// SessionCheck asks Clerk about every signed-in session
	// (SESSION_CHECK=always); nil: the token alone decides.
	SessionCheck SessionChecker
	// NonceRedeemRate bounds handshake nonce redemptions per second (burst:
	// twice that); 0 leaves them unbounded. Anyone can send a made-up
	// __clerk_handshake_nonce, and each is a Backend API call drawn from
	// the instance's Clerk rate limit.
	NonceRedeemRate float64
	// RefreshTimeout bounds one refresh call (default DefaultRefreshTimeout).
	RefreshTimeout time.Duration
	Logger         *slog.Logger
}

// NewEngine builds an engine.
func NewEngine(cfg Config, verifier *clerk.Verifier, opts Options) *Engine {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CallbackPath == "" {
		cfg.CallbackPath = "/_auth/callback"
	}
	if cfg.SignInURL == "" {
		cfg.SignInURL = clerk.AccountsBaseURL(cfg.PublishableKey.FAPIHost) + "/sign-in"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	primary, satellites := newSites(&cfg)
	var nonceBudget *callBudget
	if opts.NonceRedeemRate > 0 {
		nonceBudget = newCallBudget(opts.NonceRedeemRate, max(int(2*opts.NonceRedeemRate), 1), cfg.Now)
	}
	return &Engine{
		nonceBudget: nonceBudget,
		primary:     primary,
		satellites:  satellites,
		cfg:         cfg,
		verifier:    verifier,
		memberships: opts.Memberships,
		policy:      opts.Policy,
		profiles:    opts.Profiles,
		payloads:    opts.HandshakePayloads,
		redirects:   redirectHostsOrNone(cfg.AllowedRedirectHosts, opts.Logger),
		log:         opts.Logger,
		names:       newSuffixedNames(clerk.CookieSuffix(cfg.PublishableKey.Raw)),
		refresher:   opts.Refresher,
		refreshes:   newRefreshGroup(opts.RefreshTimeout),
		machines:    opts.Machines,
		revoked:     opts.Revoked,
		checker:     opts.SessionCheck,
	}
}

func (e *Engine) now() time.Time { return e.cfg.Now() }

// suffixedNames are the instance's suffixed cookie names, built once
// rather than concatenated on every request: __refresh_<suffix>, and the
// names readCookies looks up (both families).
type suffixedNames struct {
	refresh string
	read    [readCookieCount]string
}

func newSuffixedNames(suffix string) suffixedNames {
	s := func(name string) string { return name + "_" + suffix }
	return suffixedNames{
		refresh: s(clerk.CookieRefresh),
		read: [readCookieCount]string{
			readSuffixedUAT:        s(clerk.CookieClientUAT),
			readUAT:                clerk.CookieClientUAT,
			readSuffixedSession:    s(clerk.CookieSession),
			readSession:            clerk.CookieSession,
			readHandshake:          clerk.CookieHandshake,
			readHandshakeNonce:     clerk.CookieHandshakeNonce,
			readDevBrowser:         clerk.CookieDevBrowser,
			readSuffixedDevBrowser: s(clerk.CookieDevBrowser),
		},
	}
}

// Ready reports whether the engine can verify tokens (keys loaded).
func (e *Engine) Ready() bool { return e.verifier.Keys().Ready() }

// Decide answers one request.
func (e *Engine) Decide(ctx context.Context, r *Request) Decision {
	d := e.decide(ctx, r)
	if d.Outcome == Allow && e.profiles != nil {
		d = e.withProfile(ctx, d)
	}
	return d
}

func (e *Engine) decide(ctx context.Context, r *Request) Decision {
	if r.IsCORSPreflight() && e.cfg.AllowCORSPreflight {
		return Decision{Outcome: Allow, Reason: ReasonCORSPreflight}
	}
	rule := r.Rule
	if rule == nil && e.policy != nil {
		rule = e.policy.Match(r.URL.Hostname(), r.URL.Path, r.Method)
	}
	if rule == nil {
		rule = &Rule{}
	}
	c := e.newAuthContext(r)
	if c.ambiguous != "" {
		// Which one would the app's own Clerk SDK read? Answering for
		// either would let a client pick the identity the app sees.
		return Decision{Outcome: Unauthenticated, Reason: clerk.ReasonTokenInvalid, Message: c.ambiguous}
	}
	st := e.authenticate(ctx, &c, &rule.Tokens)
	switch st.status {
	case keysUnavailable:
		return Decision{Outcome: Unavailable, Reason: st.reason, Message: st.message}
	case handshake:
		return Decision{Outcome: Handshake, Reason: st.reason, Message: st.message, Location: st.location, SetCookies: st.setCookies}
	case signedIn:
		if st.machine != nil {
			return e.authorizeMachine(ctx, rule, st.machine)
		}
		if reason, msg, err := e.sessionEnded(ctx, st.session.SessionID); err != nil {
			return Decision{Outcome: Unavailable, Reason: ReasonSessionCheck, Message: err.Error()}
		} else if reason != "" {
			return e.signedOut(&c, rule, withCookies(out(reason, msg), st.setCookies), "")
		}
		if st.session.Pending() {
			// Cookies a refresh or handshake set still go to the browser.
			return e.signedOut(&c, rule, withCookies(out(ReasonSessionPending, "session has pending tasks"), st.setCookies), "/tasks")
		}
		d := e.authorize(ctx, rule, st.session)
		d.SetCookies = append(st.setCookies, d.SetCookies...)
		return d
	case signedOut:
	}
	return e.signedOut(&c, rule, st, "")
}

// sessionEnded reports a verified session token whose session Clerk has
// ended (a webhook, or SESSION_CHECK=always): the reason to sign it out
// with, or "". An outage of the check is an error (503, fail closed). It
// returns no Decision: this runs on every signed-in decision, and a
// Decision is a few hundred bytes to copy.
func (e *Engine) sessionEnded(ctx context.Context, sid string) (reason clerk.Reason, msg string, err error) {
	if e.revoked != nil && e.revoked.Revoked(sid) {
		return ReasonSessionRevoked, "Clerk ended this session", nil
	}
	if e.checker == nil {
		return "", "", nil
	}
	active, err := e.checker.SessionActive(ctx, sid)
	switch {
	case err != nil:
		return "", "", err
	case !active:
		return ReasonSessionRevoked, "Clerk says the session is not active", nil
	}
	return "", "", nil
}

// withCookies is st carrying cookies to set.
func withCookies(st authState, cookies []string) authState {
	st.setCookies = cookies
	return st
}

// signedOut: public routes pass anonymously; browser navigations go to
// sign-in; everything else is 401.
func (e *Engine) signedOut(c *authContext, rule *Rule, st authState, signInSubpath string) Decision {
	if rule.Public {
		return Decision{Outcome: Allow, Reason: st.reason, Message: st.message, SetCookies: st.setCookies}
	}
	// A route for machines only has no sign-in page to offer.
	if c.req.IsBrowserNavigation() && rule.Tokens.accepts(clerk.TokenTypeSession) {
		return Decision{Outcome: SignIn, Reason: st.reason, Message: st.message, Location: e.signInURL(c, signInSubpath), SetCookies: st.setCookies}
	}
	return Decision{Outcome: Unauthenticated, Reason: st.reason, Message: st.message, SetCookies: st.setCookies}
}

// signInURL is createRedirect's redirectToSignIn: CLERK_SIGN_IN_URL (or
// the Account Portal's sign-in) with redirect_url = the original URL. On
// another host, a satellite's return URL asks for a sync
// (__clerk_synced=false) and a development instance passes its
// dev-browser token along.
func (e *Engine) signInURL(c *authContext, subpath string) string {
	r := c.req
	u, err := url.Parse(e.cfg.SignInURL)
	if err != nil {
		return e.cfg.SignInURL
	}
	if u.Host == "" {
		// A path such as /sign-in lives on the original request's origin.
		u = &url.URL{Scheme: r.URL.Scheme, Host: r.URL.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	}
	if subpath != "" {
		u.Path = trimSlash(u.Path) + subpath
		u.RawPath = ""
	}
	back := *r.URL
	back.Fragment = ""
	// A stale handshake parameter would come back after sign-in and fail
	// again (development instances treat a bad one as a hard error).
	back.RawQuery = removeQueryParams(back.RawQuery, handshakeParams...)
	uh, up := canonicalHostPort(u)
	rh, rp := canonicalHostPort(r.URL)
	crossOrigin := uh != rh || up != rp
	if crossOrigin && c.site.satellite {
		back.RawQuery = parseQueryLikeJS(back.RawQuery).set(clerk.QueryClerkSynced, clerk.SyncNeeded).encode()
	}
	q := parseQueryLikeJS(u.RawQuery).set("redirect_url", webHref(&back))
	if crossOrigin && !e.cfg.PublishableKey.Production && c.devBrowser != "" {
		q = q.set(clerk.CookieDevBrowser, c.devBrowser)
	}
	u.RawQuery = q.encode()
	return u.String()
}

func trimSlash(p string) string {
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}

// authorize applies the rule to a verified session.
func (e *Engine) authorize(ctx context.Context, rule *Rule, s *clerk.Session) Decision {
	id := Identity{UserID: s.Subject, SessionID: s.SessionID, ActorID: s.ActorID, TokenType: clerk.TokenTypeSession}
	if s.OrgError != nil {
		// The SDK throws while parsing a "fea" entry without a colon
		// (@clerk/shared authorization.ts splitByScope; docs/clerk-protocol.md
		// erratum 4): fail closed.
		return Decision{Outcome: Unauthenticated, Reason: clerk.ReasonUnexpectedError, Message: s.OrgError.Error()}
	}
	active := s.Org
	if active != nil {
		id.OrgID, id.OrgSlug, id.OrgRole, id.OrgPermissions = active.ID, active.Slug, active.Role, active.Permissions
	}
	if len(rule.Scopes) > 0 {
		return Decision{Outcome: Forbidden, Reason: ReasonScopeMissing, Message: "a session token carries no scopes", Identity: id}
	}
	for _, f := range rule.Features {
		if !clerk.HasEntitlement(s.Features, f) {
			return Decision{Outcome: Forbidden, Reason: ReasonFeatureMissing, Message: "no feature " + f, Identity: id}
		}
	}
	for _, p := range rule.Plans {
		if !clerk.HasEntitlement(s.Plans, p) {
			return Decision{Outcome: Forbidden, Reason: ReasonPlanMissing, Message: "no plan " + p, Identity: id}
		}
	}
	if rv := rule.Reverification; rv != nil && !rv.Holds(s.FactorAge) {
		return Decision{Outcome: Forbidden, Reason: ReasonReverificationRequired, Message: "the user must verify again", Identity: id, Reverification: rv}
	}
	return e.authorizeOrgs(ctx, rule, s.Subject, active, id)
}

// authorizeOrgs applies the rule's organization part to a user: from the
// active organization (a session's; nil for a machine credential) or the
// user's memberships.
func (e *Engine) authorizeOrgs(ctx context.Context, rule *Rule, userID string, active *clerk.ActiveOrganization, id Identity) Decision {
	if !rule.RequiresOrganization() {
		return Decision{Outcome: Allow, Identity: id}
	}
	if len(rule.Orgs) == 0 {
		if active == nil {
			return Decision{Outcome: Forbidden, Reason: ReasonNoActiveOrg, Identity: id}
		}
		if reason := missing(rule, active.Role, active.Permissions); reason != "" {
			return Decision{Outcome: Forbidden, Reason: reason, Identity: id}
		}
		return Decision{Outcome: Allow, Identity: id}
	}
	var first Membership
	for i, org := range rule.Orgs {
		m, ok, err := e.membership(ctx, userID, org, active)
		if err != nil {
			return Decision{Outcome: Unavailable, Reason: ReasonMembershipLookup, Message: err.Error(), Identity: id}
		}
		if !ok {
			return Decision{Outcome: Forbidden, Reason: ReasonNotOrgMember, Message: "not a member of " + org, Identity: id}
		}
		if reason := missing(rule, m.Role, m.Permissions); reason != "" {
			return Decision{Outcome: Forbidden, Reason: reason, Message: "in " + org, Identity: id}
		}
		if i == 0 {
			first = m
		}
	}
	// The identity names the organization that satisfied the rule.
	id.OrgID, id.OrgSlug, id.OrgRole, id.OrgPermissions = first.OrgID, first.OrgSlug, first.Role, first.Permissions
	return Decision{Outcome: Allow, Identity: id}
}

// membership answers from the token when the organization is the active
// one (no API call), else from the Memberships source; ok is false when
// the user is not a member. It returns a value, not a pointer, so that
// the active-organization answer costs no allocation.
func (e *Engine) membership(ctx context.Context, userID, org string, active *clerk.ActiveOrganization) (m Membership, ok bool, err error) {
	if active != nil && (active.ID == org || (active.Slug != "" && active.Slug == org)) {
		return Membership{OrgID: active.ID, OrgSlug: active.Slug, Role: active.Role, Permissions: active.Permissions}, true, nil
	}
	if e.memberships == nil {
		return Membership{}, false, nil
	}
	p, err := e.memberships.Membership(ctx, userID, org)
	if err != nil || p == nil {
		return Membership{}, false, err
	}
	return *p, true, nil
}

// missing returns the reason the role or permissions do not hold, or "".
func missing(rule *Rule, role string, perms []string) clerk.Reason {
	if len(rule.Roles) > 0 {
		// has({role}) compares both sides after prefixWithOrg: a v1
		// org_role without "org:" ("admin") or a v2 rol that already had
		// it ("org:org:admin") is org:admin there. The rule's roles are
		// normalised when parsed.
		role = prefixWithOrg(role)
	}
	for _, want := range rule.Roles {
		if role != want {
			return ReasonRoleMissing
		}
	}
	for _, want := range rule.Permissions {
		if !slices.Contains(perms, want) {
			return ReasonPermissionMissing
		}
	}
	return ""
}

// prefixWithOrg is @clerk/shared's prefixWithOrg (value.replace(/^(org:)*/,
// "org:")): any number of leading "org:", none included, made one. The
// usual single prefix is returned as it is, without allocating.
func prefixWithOrg(role string) string {
	rest := role
	for strings.HasPrefix(rest, "org:") {
		rest = rest[len("org:"):]
	}
	if len(role)-len(rest) == len("org:") {
		return role
	}
	return "org:" + rest
}
