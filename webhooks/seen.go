package webhooks

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Seen remembers webhook ids; FirstTime reports whether id is new, and
// remembers it for ttl. An error makes the handler refuse the webhook with
// 503 (fail closed: Svix retries it later) and Forget the id, which a
// call that failed late may have taken all the same. As for the Sink, the
// context is not cancelled when the client goes away: bound each call.
//
// The default, MemorySeen, is per replica; an implementation shared by the
// replicas (Redis SET NX PX) makes a replay sent to another replica a
// duplicate too.
//
// Forget drops id again, for a delivery whose effect failed: Svix's
// redelivery must then be applied, not refused as a duplicate.
type Seen interface {
	FirstTime(ctx context.Context, id string, ttl time.Duration) (bool, error)
	Forget(ctx context.Context, id string) error
}

// DefaultSeenCapacity is the number of ids the default MemorySeen holds:
// 100,000 ids in the 10-minute window is 166 webhooks a second, about
// 16 MB at most (BenchmarkMemorySeen's bytes/id).
const DefaultSeenCapacity = 100_000

// MemorySeen is a bounded in-memory Seen. When it is full, the id
// remembered first is forgotten first (its window is the nearest to its
// end), so a flood of new ids can only make the oldest ones replayable, and
// replaying one only repeats an invalidation.
type MemorySeen struct {
	now      func() time.Time
	capacity int

	mu    sync.Mutex
	ids   map[string]*list.Element // of *seenEntry
	order *list.List               // oldest first
}

type seenEntry struct {
	id      string
	expires time.Time
}

// NewMemorySeen makes a MemorySeen holding up to capacity ids (≤ 0:
// DefaultSeenCapacity), with the clock now (nil: time.Now).
func NewMemorySeen(capacity int, now func() time.Time) *MemorySeen {
	if capacity <= 0 {
		capacity = DefaultSeenCapacity
	}
	if now == nil {
		now = time.Now
	}
	return &MemorySeen{now: now, capacity: capacity, ids: map[string]*list.Element{}, order: list.New()}
}

// FirstTime implements Seen; it never fails.
func (m *MemorySeen) FirstTime(_ context.Context, id string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if e, ok := m.ids[id]; ok {
		if now.Before(e.Value.(*seenEntry).expires) {
			return false, nil
		}
		m.remove(e)
	}
	// Forget what has expired at the front, then the oldest while full.
	for e := m.order.Front(); e != nil && !now.Before(e.Value.(*seenEntry).expires); e = m.order.Front() {
		m.remove(e)
	}
	for m.order.Len() >= m.capacity {
		m.remove(m.order.Front())
	}
	m.ids[id] = m.order.PushBack(&seenEntry{id: id, expires: now.Add(ttl)})
	return true, nil
}

// Forget implements Seen; it never fails.
func (m *MemorySeen) Forget(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.ids[id]; ok {
		m.remove(e)
	}
	return nil
}

// Len is the number of ids held (expired ones included until pruned).
func (m *MemorySeen) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}

func (m *MemorySeen) remove(e *list.Element) {
	delete(m.ids, e.Value.(*seenEntry).id)
	m.order.Remove(e)
}
