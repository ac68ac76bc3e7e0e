package observe

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// APIHealth remembers the last Backend API answer, so /readyz can report
// Clerk's reachability without calling Clerk (readiness probes every few
// seconds would spend the rate limit).
type APIHealth struct {
	now func() time.Time

	mu       sync.Mutex
	status   int
	failedAt time.Time
	okAt     time.Time
}

// NewAPIHealth builds the tracker; now is the clock (nil: time.Now).
func NewAPIHealth(now func() time.Time) *APIHealth {
	if now == nil {
		now = time.Now
	}
	return &APIHealth{now: now}
}

// Observe records a call; it has clerk.API.OnCall's signature. Client
// errors such as 404 (no such user) are answers, so they count as
// reachable; 401 (bad secret key), 429, 5xx and no answer do not.
func (h *APIHealth) Observe(_ string, status int, _ error, _ time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status = status
	if status == 0 || status == 401 || status == 429 || status >= 500 {
		h.failedAt = h.now()
		return
	}
	h.okAt = h.now()
}

// Check is nil when the last call was answered (or none was made yet).
func (h *APIHealth) Check(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failedAt.IsZero() || h.okAt.After(h.failedAt) {
		return nil
	}
	if h.status == 0 {
		return fmt.Errorf("last call got no answer at %s", h.failedAt.UTC().Format(time.RFC3339))
	}
	return fmt.Errorf("last call answered %d at %s", h.status, h.failedAt.UTC().Format(time.RFC3339))
}
