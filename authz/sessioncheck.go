package authz

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/cache"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// ReasonSessionCheck: SESSION_CHECK=always could not learn the session's
// status from Clerk and had nothing cached (503, never 200).
const ReasonSessionCheck clerk.Reason = "session-check-failed"

// SessionChecker asks Clerk whether a session is still live
// (SESSION_CHECK=always): for deployments without webhooks, where a
// revoked session's token would otherwise work for up to its 60 s.
type SessionChecker interface {
	SessionActive(ctx context.Context, sessionID string) (bool, error)
}

// SessionStatusAPI is the Backend API call SessionCheck makes (*clerk.API).
type SessionStatusAPI interface {
	SessionStatus(ctx context.Context, sessionID string) (string, error)
}

// SessionCheckOptions size the session status cache (SESSION_CHECK_*).
type SessionCheckOptions struct {
	Size int           // sessions held; default 10000
	TTL  time.Duration // how long Clerk's answer is reused; default 5s
	// StaleWindow serves an older answer this long when Clerk fails; 0
	// never does.
	StaleWindow time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
	// Shared, when set, is the level replicas share (Redis).
	Shared cache.Shared
}

// SessionCheck answers SessionChecker from GET /v1/sessions/{id} through
// a cache keyed by session: one call per session per TTL, concurrent
// requests for one session sharing it.
type SessionCheck struct {
	api   SessionStatusAPI
	log   *slog.Logger
	cache *cache.Cache[string, string]
}

// statusUnknown stands for a session Clerk does not know (404).
const statusUnknown = "unknown"

// NewSessionCheck builds the check.
func NewSessionCheck(api SessionStatusAPI, opts SessionCheckOptions) (*SessionCheck, error) {
	if opts.Size == 0 {
		opts.Size = 10000
	}
	if opts.TTL == 0 {
		opts.TTL = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	sc := &SessionCheck{api: api, log: opts.Logger}
	c, err := cache.New(cache.Options[string, string]{
		Size: opts.Size, TTL: opts.TTL, StaleWindow: opts.StaleWindow,
		Load: sc.load, RetryAfter: clerk.RetryAfterOf, Now: opts.Now,
		Shared: opts.Shared, SharedName: "session_status",
		Encode: func(s string) ([]byte, error) { return []byte(s), nil },
		Decode: func(b []byte) (string, error) { return string(b), nil },
	})
	if err != nil {
		return nil, fmt.Errorf("session status cache: %w", err)
	}
	sc.cache = c
	return sc, nil
}

// SessionActive reports whether Clerk says the session is active (or
// pending: its token says so and the decision treats it as such).
func (sc *SessionCheck) SessionActive(ctx context.Context, sessionID string) (bool, error) {
	status, err := sc.cache.Get(ctx, sessionID)
	if err != nil {
		return false, err
	}
	return status == "active" || status == "pending", nil
}

// Forget drops a session's cached status (a webhook said it changed), on
// every replica with Shared.
func (sc *SessionCheck) Forget(ctx context.Context, sessionID string) error {
	return sc.cache.Invalidate(ctx, sessionID)
}

// Follow applies other replicas' invalidations until ctx ends (Shared).
func (sc *SessionCheck) Follow(ctx context.Context) error { return sc.cache.Follow(ctx) }

// Stats are the cache's counters, for metrics.
func (sc *SessionCheck) Stats() cache.Stats { return sc.cache.Stats() }

func (sc *SessionCheck) load(ctx context.Context, sessionID string) (string, error) {
	status, err := sc.api.SessionStatus(ctx, sessionID)
	if clerk.IsNotFound(err) {
		return statusUnknown, nil
	}
	if err != nil {
		sc.log.Warn("Clerk: session status lookup failed", "reason", string(ReasonSessionCheck), "session_id", sessionID, "error", err.Error())
		return "", err
	}
	return status, nil
}
