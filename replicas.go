package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
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
	store, err := redisshare.New(cfg.RedisURL, redisshare.Options{CAFile: cfg.RedisCAFile, Cluster: cfg.RedisCluster, Logger: logger})
	if err != nil {
		return nil, bad(redisSettings(cfg), "%v", err) // its errors never hold the password
	}
	if err := store.Ping(ctx); err != nil {
		logger.Warn("redis does not answer yet; deciding from local caches and Clerk until it does", "error", err.Error())
	} else {
		logger.Info("redis: sharing caches and invalidations with the other replicas")
	}
	return store, nil
}

// redisSettings names the settings a Redis store was built from, for an
// error about them.
func redisSettings(cfg *Config) string {
	names := []string{"REDIS_URL"}
	if cfg.RedisCluster {
		names = append(names, "REDIS_CLUSTER")
	}
	if cfg.RedisCAFile != "" {
		names = append(names, "REDIS_CA_FILE")
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// endedSessionKey names the set of sessions Clerk ended that Redis
// remembers, and starts what a replica announces for each, so every
// replica adds it to its deny list. It names no cache, so the caches' own
// followers ignore it.
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
	// Each (re)subscription reads the ended sessions Redis remembers: one
	// announced while this replica was starting or cut off from Redis would
	// otherwise be missed, and its tokens let in until they expire.
	catchUp := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-catchUp:
				catchUpEndedSessions(ctx, func(ctx context.Context) (map[string]time.Time, error) {
					return s.redis.Remembered(ctx, endedSessionKey, authz.DefaultDenyMax)
				}, s.denyList, authz.DefaultDenyTTL, logger)
			}
		}
	}()
	go func() {
		err := s.redis.Subscribe(ctx, func(key string, prefix bool) {
			sid, ended := strings.CutPrefix(key, endedSessionKey)
			switch {
			case key == "" && prefix: // (re)subscribed: what was announced meanwhile is lost
				select {
				case catchUp <- struct{}{}:
				default: // one is pending already
				}
			case ended && !prefix:
				s.denyList.Add(sid)
			}
		})
		if err != nil && ctx.Err() == nil {
			logger.Error("redis: stopped listening for ended sessions", "error", err.Error())
		}
	}()
}

// catchUpEndedSessions adds the ended sessions read returns (those Redis
// remembers) to deny, trying again with a growing pause while it fails,
// for as long as what Redis remembers could still matter (giveUpAfter: a
// token's life).
func catchUpEndedSessions(ctx context.Context, read func(context.Context) (map[string]time.Time, error),
	deny *authz.SessionDenyList, giveUpAfter time.Duration, logger *slog.Logger) {
	wait, giveUp := catchUpFirstWait, time.Now().Add(giveUpAfter)
	for {
		ended, err := read(ctx)
		if err == nil {
			deny.Merge(ended)
			logger.Debug("redis: read the ended sessions other replicas announced", "sessions", len(ended))
			return
		}
		if time.Now().After(giveUp) {
			logger.Warn("redis: could not read the ended sessions other replicas announced", "error", err.Error())
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, catchUpMaxWait)
	}
}

// How catchUpEndedSessions paces its attempts while Redis fails.
const (
	catchUpFirstWait = 100 * time.Millisecond
	catchUpMaxWait   = 5 * time.Second
)

// cacheSink applies Clerk's webhooks to this replica's state and, with
// Redis, every replica's. The local effect always happens; an error means
// the other replicas were not told, and the webhook handler answers 503
// so that Svix delivers the event again.
type cacheSink struct {
	svc *service
}

func told(what string, err error) error {
	if err != nil {
		return fmt.Errorf("the other replicas were not told (%s): %w", what, err)
	}
	return nil
}

func (k cacheSink) MembershipChanged(ctx context.Context, userID, _ string) error {
	if m := k.svc.memberships; m != nil {
		return told("membership", m.Invalidate(ctx, userID))
	}
	return nil
}

func (k cacheSink) OrganizationChanged(ctx context.Context, _ string) error {
	// Which users the organization has is not known here.
	if m := k.svc.memberships; m != nil {
		return told("organization", m.Purge(ctx))
	}
	return nil
}

func (k cacheSink) RolesChanged(ctx context.Context) error {
	if m := k.svc.memberships; m != nil {
		return told("roles", m.Purge(ctx))
	}
	return nil
}

func (k cacheSink) UserChanged(ctx context.Context, userID string) error {
	var errs []error
	if m := k.svc.memberships; m != nil {
		errs = append(errs, told("user memberships", m.Invalidate(ctx, userID)))
	}
	if p := k.svc.profiles; p != nil {
		errs = append(errs, told("user profile", p.Invalidate(ctx, userID)))
	}
	return errors.Join(errs...)
}

func (k cacheSink) SessionEnded(ctx context.Context, sessionID, _ string) error {
	k.svc.denyList.Add(sessionID)
	var errs []error
	if c := k.svc.sessions; c != nil {
		errs = append(errs, told("session status", c.Forget(ctx, sessionID)))
	}
	if r := k.svc.redis; r != nil {
		// Remembered for a token's life, and announced.
		until := time.Now().Add(authz.DefaultDenyTTL)
		errs = append(errs, told("ended session", r.Remember(ctx, endedSessionKey, sessionID, until)))
	}
	return errors.Join(errs...)
}

// sharedSeen is webhooks.Seen on Redis: a delivery is applied by one
// replica only, whichever the proxy sent it to (SET NX).
type sharedSeen struct{ store *redisshare.Store }

func (s sharedSeen) FirstTime(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	return s.store.Claim(ctx, "webhook_ids:"+id, ttl)
}

func (s sharedSeen) Forget(ctx context.Context, id string) error {
	return s.store.Release(ctx, "webhook_ids:"+id)
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
	h, err := webhooks.NewHandler(cfg.WebhookSecret, cacheSink{svc: s}, opts)
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
