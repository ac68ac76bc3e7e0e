package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/cache/redisshare"
	"github.com/clerk-forward-auth/clerk-forward-auth/handlers"
	"github.com/clerk-forward-auth/clerk-forward-auth/webhooks"
)

// Many replicas, one truth: the Redis level the caches share (REDIS_URL),
// Clerk's webhooks (CLERK_WEBHOOK_SIGNING_SECRET), and the ended sessions
// every replica must deny.

// openRedis builds the Redis store when REDIS_URL is set. A Redis that
// does not answer yet is logged, not fatal: every replica then decides
// from its own caches and Clerk, and starts sharing once Redis answers.
func openRedis(ctx context.Context, cfg *Config, logger *slog.Logger) (*redisshare.Store, error) {
	if cfg.RedisURL == "" {
		return nil, nil
	}
	redisshare.LogTo(logger)
	store, err := redisshare.New(cfg.RedisURL, redisshare.Options{})
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	if err := store.Ping(ctx); err != nil {
		logger.Warn("redis does not answer yet; deciding from local caches and Clerk until it does", "error", err.Error())
	} else {
		logger.Info("redis: sharing caches and invalidations with the other replicas")
	}
	return store, nil
}

// endedSessionKey is what a replica announces on Redis for a session
// Clerk ended, so every replica adds it to its deny list. It names no
// cache, so the caches' own followers ignore it.
const endedSessionKey = "sessions_ended:"

// follow runs every cache's follower and the ended-session listener
// until ctx ends; each reconnects by itself.
func (s *service) follow(ctx context.Context, logger *slog.Logger) {
	if s.redis == nil {
		return
	}
	for _, c := range s.caches() {
		go func() {
			if err := c.cache.Follow(ctx); err != nil && ctx.Err() == nil {
				logger.Error("redis: a cache stopped following other replicas' invalidations", "cache", c.name, "error", err.Error())
			}
		}()
	}
	go func() {
		err := s.redis.Subscribe(ctx, func(key string, prefix bool) {
			if sid, ok := strings.CutPrefix(key, endedSessionKey); ok && !prefix {
				s.denyList.Add(sid)
			}
		})
		if err != nil && ctx.Err() == nil {
			logger.Error("redis: stopped listening for ended sessions", "error", err.Error())
		}
	}()
}

// cacheSink applies Clerk's webhooks to this replica's state and, with
// Redis, every replica's. An error to tell the other replicas is
// returned to the webhook handler's log; the local effect always happens.
type cacheSink struct {
	svc *service
	log *slog.Logger
}

func (k cacheSink) failed(what string, err error) {
	if err != nil {
		k.log.Error("webhook: the other replicas were not told", "what", what, "error", err.Error())
	}
}

func (k cacheSink) MembershipChanged(ctx context.Context, userID, _ string) {
	if m := k.svc.memberships; m != nil {
		k.failed("membership", m.Invalidate(ctx, userID))
	}
}

func (k cacheSink) OrganizationChanged(ctx context.Context, _ string) {
	// Which users the organization has is not known here.
	if m := k.svc.memberships; m != nil {
		k.failed("organization", m.Purge(ctx))
	}
}

func (k cacheSink) RolesChanged(ctx context.Context) {
	if m := k.svc.memberships; m != nil {
		k.failed("roles", m.Purge(ctx))
	}
}

func (k cacheSink) UserChanged(ctx context.Context, userID string) {
	if m := k.svc.memberships; m != nil {
		k.failed("user memberships", m.Invalidate(ctx, userID))
	}
	if p := k.svc.profiles; p != nil {
		k.failed("user profile", p.Invalidate(ctx, userID))
	}
}

func (k cacheSink) SessionEnded(ctx context.Context, sessionID, _ string) {
	k.svc.denyList.Add(sessionID)
	if c := k.svc.sessions; c != nil {
		k.failed("session status", c.Forget(ctx, sessionID))
	}
	if r := k.svc.redis; r != nil {
		k.failed("ended session", r.Invalidate(ctx, endedSessionKey+sessionID))
	}
}

// sharedSeen is webhooks.Seen on Redis: a delivery is applied by one
// replica only, whichever the proxy sent it to (SET NX).
type sharedSeen struct{ store *redisshare.Store }

func (s sharedSeen) FirstTime(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	return s.store.Claim(ctx, "webhook_ids:"+id, ttl)
}

// webhookHandler builds the webhook route when a signing secret is set.
func (s *service) webhookHandler(cfg *Config, logger *slog.Logger) (http.Handler, error) {
	if cfg.WebhookSecret == "" {
		return nil, nil
	}
	opts := webhooks.Options{Logger: logger, OnEvent: s.obs.webhookEvent}
	if s.redis != nil {
		opts.Seen = sharedSeen{s.redis}
	}
	h, err := webhooks.NewHandler(cfg.WebhookSecret, cacheSink{svc: s, log: logger}, opts)
	if err != nil {
		return nil, bad("CLERK_WEBHOOK_SIGNING_SECRET", "%v", err)
	}
	return h, nil
}

// redisReadyCheck reports Redis on /readyz without ever making the
// replica unready: it decides without Redis.
func (s *service) redisReadyCheck() []handlers.ReadyCheck {
	if s.redis == nil {
		return nil
	}
	return []handlers.ReadyCheck{{Name: "redis", Check: s.redis.Ping}}
}
