package observe

import (
	"testing"
	"time"
)

// BenchmarkDecisionMetrics is the per-request cost of counting a decision
// whose label set is already cached: the reason's label lookup and the
// read-mostly series map, with a known reason, an empty one and an unknown
// one (which maps to "other").
func BenchmarkDecisionMetrics(b *testing.B) {
	for _, reason := range []string{"token-expired", "", "resource_not_found"} {
		b.Run("reason="+ReasonLabel(reason), func(b *testing.B) {
			m := NewMetrics("bench")
			m.Decision("forward-auth", "unauthenticated", reason, time.Millisecond)
			b.ReportAllocs()
			for b.Loop() {
				m.Decision("forward-auth", "unauthenticated", reason, time.Millisecond)
			}
		})
	}
}
