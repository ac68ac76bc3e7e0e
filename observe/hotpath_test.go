package observe

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestStartServerOffWithoutTraceparentCostsNothing: tracing off and no
// traceparent: the context comes back as is, with no span, and nothing is
// allocated. With a traceparent the proxy's trace id is still read (see
// TestDisabledTracingStillReadsTraceparentForLogs); with tracing on, a span
// is recorded even without one.
func TestStartServerOffWithoutTraceparentCostsNothing(t *testing.T) {
	tr := NewTracingWith(nil)
	h := http.Header{"Accept": {"*/*"}}
	attrs := []attribute.KeyValue{attribute.String("authz.endpoint", "forward-auth")}
	ctx := context.Background()
	got, span := tr.StartServer(ctx, h, "decide forward-auth", attrs...)
	if got != ctx || span.IsRecording() || span.SpanContext().IsValid() {
		t.Fatalf("ctx %v, span %v", got, span.SpanContext())
	}
	if n := testing.AllocsPerRun(1000, func() {
		_, s := tr.StartServer(ctx, h, "decide forward-auth", attrs...)
		s.End()
	}); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}

	sr := tracetest.NewSpanRecorder()
	on := NewTracingWith(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)))
	_, s := on.StartServer(ctx, h, "decide forward-auth", attrs...)
	s.End()
	if len(sr.Ended()) != 1 || !sr.Ended()[0].SpanContext().IsValid() {
		t.Fatalf("tracing on recorded %d spans", len(sr.Ended()))
	}
	if trace.SpanContextFromContext(ctx).IsValid() {
		t.Fatal("the caller's context was changed")
	}
}

// TestNewRequestIDsAreUniqueAndWellFormed: ids drawn concurrently never
// repeat and are 32 lower-case hex characters, so RequestID's own check
// accepts them and log consumers see the format they saw before.
func TestNewRequestIDsAreUniqueAndWellFormed(t *testing.T) {
	const workers, each = 8, 5000
	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				ids[w] = append(ids[w], NewRequestID())
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, list := range ids {
		for _, id := range list {
			if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" || !saneRequestID(id) {
				t.Fatalf("id %q", id)
			}
			if seen[id] {
				t.Fatalf("id %q repeated", id)
			}
			seen[id] = true
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = NewRequestID() }); n > 1 {
		t.Errorf("%v allocations per id, want at most the string's", n)
	}
}

// TestDecisionSeriesCacheCountsExactly: counts through the cached series
// are exact under concurrency, unknown reasons still map to "other", and
// label sets beyond the cache's bound are still counted.
func TestDecisionSeriesCacheCountsExactly(t *testing.T) {
	m := NewMetrics("test")
	const workers, each = 4, 2000
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range each {
				m.Decision("forward-auth", "allow", "", time.Millisecond)
				m.Decision("forward-auth", "unauthenticated", "token-invalid", time.Millisecond)
				m.Decision("ext-authz", "forbidden", fmt.Sprintf("api-code-%d", i%7), time.Millisecond) // all "other"
			}
		})
	}
	wg.Wait()
	_, fams := scrape(t, m)
	for _, tt := range []struct {
		endpoint, outcome, reason string
		want                      float64
	}{
		{"forward-auth", "allow", "none", workers * each},
		{"forward-auth", "unauthenticated", "token-invalid", workers * each},
		{"ext-authz", "forbidden", "other", workers * each},
	} {
		labels := map[string]string{"endpoint": tt.endpoint, "outcome": tt.outcome, "reason": tt.reason}
		if got, _ := seriesValue(fams, "clerk_forward_auth_decisions_total", labels); got != tt.want {
			t.Errorf("%v = %v, want %v", labels, got, tt.want)
		}
	}
	durations := fams["clerk_forward_auth_decision_duration_seconds"].GetMetric()
	if len(durations) != 2 {
		t.Errorf("%d duration series, want 2", len(durations))
	}
	for _, d := range durations {
		// Every observation was a millisecond: exact count, sum and bucket.
		h, wantCount := d.GetHistogram(), uint64(workers*each)
		if d.GetLabel()[0].GetValue() == "forward-auth" {
			wantCount *= 2
		}
		if h.GetSampleCount() != wantCount || math.Abs(h.GetSampleSum()-float64(wantCount)/1000) > 1e-6 {
			t.Errorf("%s: count %d sum %v, want %d and %v", d.GetLabel()[0].GetValue(), h.GetSampleCount(), h.GetSampleSum(), wantCount, float64(wantCount)/1000)
		}
	}
	if n := m.decisionSeries.Len(); n != 3 {
		t.Errorf("%d cached series, want 3", n)
	}
	if n := testing.AllocsPerRun(1000, func() { m.Decision("forward-auth", "allow", "", time.Millisecond) }); n != 0 {
		t.Errorf("%v allocations per cached decision, want 0", n)
	}

	for i := range maxDecisionSeries + 10 {
		m.Decision(fmt.Sprintf("e%d", i), "allow", "", time.Millisecond)
	}
	if n := m.decisionSeries.Len(); n != maxDecisionSeries {
		t.Errorf("%d cached series, want the bound %d", n, maxDecisionSeries)
	}
	last := fmt.Sprintf("e%d", maxDecisionSeries+9)
	m.Decision(last, "allow", "", time.Millisecond)
	_, fams = scrape(t, m)
	if got, _ := seriesValue(fams, "clerk_forward_auth_decisions_total", map[string]string{"endpoint": last, "outcome": "allow", "reason": "none"}); got != 2 {
		t.Errorf("uncached series counted %v, want 2", got)
	}
}
