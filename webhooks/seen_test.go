package webhooks

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"
)

func TestMemorySeenRemembersUntilTTL(t *testing.T) {
	now := testNow
	m := NewMemorySeen(10, func() time.Time { return now })
	ctx := context.Background()
	steps := []struct {
		at    time.Duration
		id    string
		first bool
	}{
		{0, "msg_a", true},
		{0, "msg_a", false},
		{0, "msg_b", true},
		{time.Minute - time.Nanosecond, "msg_a", false},
		{time.Minute, "msg_a", true}, // expired: new again, for another minute
		{time.Minute + time.Second, "msg_a", false},
	}
	for i, s := range steps {
		now = testNow.Add(s.at)
		first, err := m.FirstTime(ctx, s.id, time.Minute)
		if err != nil || first != s.first {
			t.Fatalf("step %d (%s at %v): first %v err %v, want %v", i, s.id, s.at, first, err, s.first)
		}
	}
}

func TestMemorySeenStaysWithinCapacity(t *testing.T) {
	now := testNow
	m := NewMemorySeen(3, func() time.Time { return now })
	ctx := context.Background()
	for i := range 10 {
		if first, _ := m.FirstTime(ctx, "msg_"+strconv.Itoa(i), time.Hour); !first {
			t.Fatalf("msg_%d not first", i)
		}
		if m.Len() > 3 {
			t.Fatalf("holds %d ids, capacity 3", m.Len())
		}
	}
	// The newest three are remembered, the oldest forgotten.
	for _, c := range []struct {
		i     int
		first bool
	}{{9, false}, {8, false}, {7, false}, {0, true}} {
		if first, _ := m.FirstTime(ctx, "msg_"+strconv.Itoa(c.i), time.Hour); first != c.first {
			t.Errorf("msg_%d: first %v, want %v", c.i, first, c.first)
		}
	}
	// Expired entries are pruned as new ones come.
	now = now.Add(2 * time.Hour)
	_, _ = m.FirstTime(ctx, "msg_new", time.Hour)
	if m.Len() != 1 {
		t.Fatalf("holds %d ids after expiry, want 1", m.Len())
	}
}

// BenchmarkMemorySeen reports the heap a full default MemorySeen holds per
// id (Svix ids are "msg_" and 27 characters).
func BenchmarkMemorySeen(b *testing.B) {
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := NewMemorySeen(DefaultSeenCapacity, nil)
	for i := range DefaultSeenCapacity {
		_, _ = m.FirstTime(ctx, "msg_2zVj4mJ3Qp"+strconv.FormatInt(int64(1e16+i), 10), 10*time.Minute)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perID := float64(after.HeapAlloc-before.HeapAlloc) / DefaultSeenCapacity
	for i := 0; b.Loop(); i++ {
		_, _ = m.FirstTime(ctx, "msg_bench"+strconv.Itoa(i), 10*time.Minute)
	}
	runtime.KeepAlive(m)
	b.ReportMetric(perID, "bytes/id")
}
