package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/cache"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// LookupOptions size the Backend API caches (MEMBERSHIP_CACHE_*).
type LookupOptions struct {
	Size        int           // users held; default 10000
	TTL         time.Duration // default 30s; bounds how long a removed membership still works
	NegativeTTL time.Duration // "no memberships" / unknown user; default 10s
	StaleWindow time.Duration // serve an expired answer this long when Clerk fails; 0 never does
	// Shared, when set, is the level replicas share (Redis): answers are
	// looked up local LRU → Shared → Clerk, and Invalidate reaches every
	// replica.
	Shared cache.Shared
	Now    func() time.Time
	Logger *slog.Logger
}

func (o *LookupOptions) defaults() {
	if o.Size == 0 {
		o.Size = 10000
	}
	if o.TTL == 0 {
		o.TTL = 30 * time.Second
	}
	if o.NegativeTTL == 0 {
		o.NegativeTTL = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// MembershipAPI is the Backend API call the lookup makes (*clerk.API).
type MembershipAPI interface {
	UserOrganizationMemberships(ctx context.Context, userID string) ([]clerk.OrganizationMembership, error)
}

// userOrgs is one user's memberships, by organization id and by slug.
type userOrgs map[string]*Membership

// MembershipLookup answers Memberships from the Backend API through a
// cache keyed by user: one call (paginated) lists all of a user's
// memberships, so every organization rule for that user is then answered
// locally until the TTL passes. Decisions are re-made on every request;
// only Clerk's answer is cached.
type MembershipLookup struct {
	api   MembershipAPI
	log   *slog.Logger
	cache *cache.Cache[string, userOrgs]
}

// NewMembershipLookup builds the lookup.
func NewMembershipLookup(api MembershipAPI, opts LookupOptions) (*MembershipLookup, error) {
	opts.defaults()
	m := &MembershipLookup{api: api, log: opts.Logger}
	c, err := cache.New(cache.Options[string, userOrgs]{
		Size: opts.Size, TTL: opts.TTL, NegativeTTL: opts.NegativeTTL, StaleWindow: opts.StaleWindow,
		Load:       m.load,
		IsNegative: func(u userOrgs) bool { return len(u) == 0 },
		RetryAfter: clerk.RetryAfterOf,
		Now:        opts.Now,
		Shared:     opts.Shared, SharedName: "memberships", Encode: encodeOrgs, Decode: decodeOrgs,
	})
	if err != nil {
		return nil, fmt.Errorf("membership cache: %w", err)
	}
	m.cache = c
	return m, nil
}

// Membership returns userID's membership in org (an "org_…" id or a
// slug), nil when not a member. An error means Clerk could not be asked
// and nothing usable was cached: the engine answers 503.
func (m *MembershipLookup) Membership(ctx context.Context, userID, org string) (*Membership, error) {
	orgs, err := m.cache.Get(ctx, userID)
	if err != nil {
		return nil, err
	}
	return orgs[org], nil
}

// Invalidate forgets a user's memberships (an organizationMembership or
// user webhook), here and, with Shared, on every replica, so the next
// request asks Clerk. An error means the other replicas could not be told.
func (m *MembershipLookup) Invalidate(ctx context.Context, userID string) error {
	return m.cache.Invalidate(ctx, userID)
}

// Purge forgets every user's memberships (an organization, role or
// permission changed: which users it touches is not known here).
func (m *MembershipLookup) Purge(ctx context.Context) error { return m.cache.Purge(ctx) }

// Follow applies other replicas' invalidations until ctx ends (Shared).
func (m *MembershipLookup) Follow(ctx context.Context) error { return m.cache.Follow(ctx) }

// Stats are the cache's counters, for metrics.
func (m *MembershipLookup) Stats() cache.Stats { return m.cache.Stats() }

func (m *MembershipLookup) load(ctx context.Context, userID string) (userOrgs, error) {
	list, err := m.api.UserOrganizationMemberships(ctx, userID)
	if clerk.IsNotFound(err) {
		return userOrgs{}, nil // a deleted user belongs nowhere
	}
	if err != nil {
		logAPIError(m.log, "organization membership lookup failed", userID, err)
		return nil, err
	}
	mems := make([]Membership, 0, len(list))
	for _, cm := range list {
		mems = append(mems, Membership{
			OrgID:       cm.Organization.ID,
			OrgSlug:     cm.Organization.Slug,
			Role:        cm.Role,
			Permissions: tokenPermissions(cm.Permissions),
		})
	}
	return indexMemberships(mems), nil
}

// indexMemberships finds each membership by organization id and by slug.
func indexMemberships(mems []Membership) userOrgs {
	orgs := make(userOrgs, 2*len(mems))
	for i := range mems {
		if mems[i].OrgID != "" {
			orgs[mems[i].OrgID] = &mems[i]
		}
	}
	for i := range mems {
		mem := &mems[i]
		// A slug never shadows an id (slugs have no "_", ids do).
		if _, taken := orgs[mem.OrgSlug]; mem.OrgID != "" && mem.OrgSlug != "" && !taken {
			orgs[mem.OrgSlug] = mem
		}
	}
	return orgs
}

// encodeOrgs is a user's memberships as Shared stores them: each once.
func encodeOrgs(orgs userOrgs) ([]byte, error) {
	mems := make([]Membership, 0, len(orgs))
	for key, mem := range orgs {
		if key == mem.OrgID {
			mems = append(mems, *mem)
		}
	}
	return json.Marshal(mems)
}

func decodeOrgs(b []byte) (userOrgs, error) {
	var mems []Membership
	if err := json.Unmarshal(b, &mems); err != nil {
		return nil, fmt.Errorf("shared memberships: %w", err)
	}
	return indexMemberships(mems), nil
}

// tokenPermissions drops Clerk's system permissions (org:sys_*): they are
// never in session tokens and has() is false for them, so an organization
// must grant the same whether or not it is the active one.
func tokenPermissions(perms []string) []string {
	out := make([]string, 0, len(perms))
	for _, p := range perms {
		if !strings.HasPrefix(p, "org:sys_") {
			out = append(out, p)
		}
	}
	return out
}

// logAPIError logs a Backend API failure with Clerk's code and trace id
// (for Clerk support), never the secret key.
func logAPIError(log *slog.Logger, msg, userID string, err error) {
	attrs := []any{"user_id", userID, "error", err.Error()}
	if e, ok := clerk.AsAPIError(err); ok {
		attrs = append(attrs, "status", e.Status, "code", e.Code(), "clerk_trace_id", e.TraceID)
		if e.RetryAfter > 0 {
			attrs = append(attrs, "retry_after", e.RetryAfter)
		}
	}
	log.Warn(msg, attrs...)
}
