package authz

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/clerk-forward-auth/clerk-forward-auth/cache"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// ReasonUserLookup: USER_PROFILE_HEADERS is on and the user's profile could
// not be read (nothing cached): 503 rather than headers that lie.
const ReasonUserLookup clerk.Reason = "user-lookup-failed"

// Profile is what the optional X-Auth-User-Email / X-Auth-User-Name
// headers carry.
type Profile struct {
	Email string // primary email address, "" when none
	Name  string // "first last", "" when unset
}

// Profiles looks a user's profile up; nil, nil when there is no such user.
type Profiles interface {
	Profile(ctx context.Context, userID string) (*Profile, error)
}

// UserAPI is the Backend API call the profile lookup makes (*clerk.API).
type UserAPI interface {
	GetUser(ctx context.Context, userID string) (*clerk.User, error)
}

// ProfileLookup answers Profiles from GET /v1/users/{id} through the same
// kind of cache as memberships.
type ProfileLookup struct {
	api   UserAPI
	opts  LookupOptions
	cache *cache.Cache[string, *Profile]
}

// NewProfileLookup builds the lookup.
func NewProfileLookup(api UserAPI, opts LookupOptions) (*ProfileLookup, error) {
	opts.defaults()
	p := &ProfileLookup{api: api, opts: opts}
	c, err := cache.New(cache.Options[string, *Profile]{
		Size: opts.Size, TTL: opts.TTL, NegativeTTL: opts.NegativeTTL, StaleWindow: opts.StaleWindow,
		Load:       p.load,
		IsNegative: func(p *Profile) bool { return p == nil },
		RetryAfter: clerk.RetryAfterOf,
		Now:        opts.Now,
		Shared:     opts.Shared, SharedName: "profiles",
		Encode: func(p *Profile) ([]byte, error) { return json.Marshal(p) },
		Decode: func(b []byte) (p *Profile, err error) { return p, json.Unmarshal(b, &p) },
	})
	if err != nil {
		return nil, fmt.Errorf("user profile cache: %w", err)
	}
	p.cache = c
	return p, nil
}

// Profile returns the user's profile (nil for an unknown user).
func (p *ProfileLookup) Profile(ctx context.Context, userID string) (*Profile, error) {
	return p.cache.Get(ctx, userID)
}

// Stats are the cache's counters, for metrics.
func (p *ProfileLookup) Stats() cache.Stats { return p.cache.Stats() }

// Invalidate forgets a user's profile (a user webhook), on every replica
// with Shared.
func (p *ProfileLookup) Invalidate(ctx context.Context, userID string) error {
	return p.cache.Invalidate(ctx, userID)
}

// Follow applies other replicas' invalidations until ctx ends (Shared).
func (p *ProfileLookup) Follow(ctx context.Context) error { return p.cache.Follow(ctx) }

func (p *ProfileLookup) load(ctx context.Context, userID string) (*Profile, error) {
	u, err := p.api.GetUser(ctx, userID)
	if clerk.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		logAPIError(p.opts.Logger, "user profile lookup failed", userID, err)
		return nil, err
	}
	return &Profile{Email: u.PrimaryEmail(), Name: u.FullName()}, nil
}

// withProfile marks an allow as carrying the profile headers and fills
// them for a signed-in user. Every allow is marked, anonymous ones too, so
// the headers are always set and a client's copy never passes.
func (e *Engine) withProfile(ctx context.Context, d Decision) Decision {
	d.Identity.ProfileHeaders = true
	if d.Identity.UserID == "" {
		return d
	}
	prof, err := e.profiles.Profile(ctx, d.Identity.UserID)
	if err != nil {
		return Decision{Outcome: Unavailable, Reason: ReasonUserLookup, Message: err.Error(), Identity: d.Identity, SetCookies: d.SetCookies}
	}
	if prof != nil {
		d.Identity.Email, d.Identity.Name = prof.Email, prof.Name
	}
	return d
}
