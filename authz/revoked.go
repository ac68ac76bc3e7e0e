package authz

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// ReasonSessionRevoked: Clerk said the session ended (a session.revoked,
// ended or removed webhook, or SESSION_CHECK=always), so its token, still
// within its 60-second life, no longer lets anyone in.
const ReasonSessionRevoked clerk.Reason = "session-revoked"

// RevokedSessions answers whether Clerk has ended a session (SessionDenyList).
type RevokedSessions interface {
	Revoked(sessionID string) bool
}

// SessionDenyList holds the sessions Clerk ended recently, each for as
// long as a token of it could still verify. Reads happen on every signed-in
// decision and writes once per webhook, so the set is an immutable map
// swapped whole on each change: a read is one atomic load and, while the
// set is empty (nearly always), nothing more.
type SessionDenyList struct {
	mu      sync.Mutex // serialises writers
	entries atomic.Pointer[map[string]time.Time]
	ttl     time.Duration
	max     int
	now     func() time.Time
}

// DefaultDenyTTL outlives every token of an ended session: Clerk's
// session tokens live 60 s, plus the verifier's clock skew.
const DefaultDenyTTL = 70 * time.Second

// DefaultDenyMax bounds the sessions a list holds unless told otherwise.
const DefaultDenyMax = 100_000

// NewSessionDenyList builds a list that keeps each session for ttl and at
// most max sessions (the ones nearest their end go first).
func NewSessionDenyList(ttl time.Duration, maxEntries int, now func() time.Time) *SessionDenyList {
	if ttl <= 0 {
		ttl = DefaultDenyTTL
	}
	if maxEntries <= 0 {
		maxEntries = DefaultDenyMax
	}
	if now == nil {
		now = time.Now
	}
	return &SessionDenyList{ttl: ttl, max: maxEntries, now: now}
}

// Revoked reports whether sessionID ended within the list's TTL.
func (d *SessionDenyList) Revoked(sessionID string) bool {
	m := d.entries.Load()
	if m == nil || len(*m) == 0 {
		return false
	}
	until, ok := (*m)[sessionID]
	return ok && d.now().Before(until)
}

// Add denies sessionID from now on, for the list's TTL.
func (d *SessionDenyList) Add(sessionID string) {
	if sessionID == "" {
		return
	}
	d.Merge(map[string]time.Time{sessionID: d.now().Add(d.ttl)})
}

// Merge denies each session until its time, as another replica recorded
// it; a session already held keeps the later time. No time is taken
// beyond the list's TTL from now, so a wrong clock or a bad entry cannot
// deny a session for longer than a token of it can live.
func (d *SessionDenyList) Merge(until map[string]time.Time) {
	if len(until) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	next := make(map[string]time.Time)
	if cur := d.entries.Load(); cur != nil {
		for sid, t := range *cur {
			if now.Before(t) {
				next[sid] = t
			}
		}
	}
	latest := now.Add(d.ttl)
	for sid, t := range until {
		if t.After(latest) {
			t = latest
		}
		if sid != "" && now.Before(t) && t.After(next[sid]) {
			next[sid] = t
		}
	}
	for len(next) > d.max {
		oldest, first := "", time.Time{}
		for sid, t := range next {
			if oldest == "" || t.Before(first) {
				oldest, first = sid, t
			}
		}
		delete(next, oldest)
	}
	d.entries.Store(&next)
}

// Len is the number of sessions held, expired ones included until the
// next Add drops them.
func (d *SessionDenyList) Len() int {
	if m := d.entries.Load(); m != nil {
		return len(*m)
	}
	return 0
}
