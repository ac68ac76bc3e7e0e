package observe

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
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
	for _, tt := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"forward-auth", "allow", "none"}, workers * each},
		{[]string{"forward-auth", "unauthenticated", "token-invalid"}, workers * each},
		{[]string{"ext-authz", "forbidden", "other"}, workers * each},
	} {
		if got := testutil.ToFloat64(m.decisions.WithLabelValues(tt.labels...)); got != tt.want {
			t.Errorf("%v = %v, want %v", tt.labels, got, tt.want)
		}
	}
	if got := testutil.CollectAndCount(m.decisionSeconds); got != 2 {
		t.Errorf("%d duration series, want 2", got)
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
	if got := testutil.ToFloat64(m.decisions.WithLabelValues(last, "allow", "none")); got != 2 {
		t.Errorf("uncached series counted %v, want 2", got)
	}
}
