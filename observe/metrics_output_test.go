package observe

import (
	"context"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/clerk-forward-auth/clerk-forward-auth/cache"
)

// expectedFamily is what a family of /metrics must be: its type, its
// label names (sorted) and, for a histogram, its bucket bounds.
type expectedFamily struct {
	typ     dto.MetricType
	labels  []string
	buckets []float64
}

var (
	decisionBounds = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, math.Inf(1)}
	apiBounds      = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, math.Inf(1)}
)

// expectedFamilies are the families the service exported with
// client_golang (its registry, Go and process collectors and promhttp's
// error counter), which dashboards and alerts rely on.
func expectedFamilies() map[string]expectedFamily {
	counter, gauge := dto.MetricType_COUNTER, dto.MetricType_GAUGE
	ns := "clerk_forward_auth_"
	want := map[string]expectedFamily{
		ns + "decisions_total":                      {typ: counter, labels: []string{"endpoint", "outcome", "reason"}},
		ns + "decision_duration_seconds":            {typ: dto.MetricType_HISTOGRAM, labels: []string{"endpoint"}, buckets: decisionBounds},
		ns + "jwks_fetches_total":                   {typ: counter, labels: []string{"result"}},
		ns + "jwks_fetch_duration_seconds":          {typ: dto.MetricType_HISTOGRAM, buckets: apiBounds},
		ns + "jwks_keys":                            {typ: gauge},
		ns + "jwks_last_success_timestamp_seconds":  {typ: gauge},
		ns + "backend_api_requests_total":           {typ: counter, labels: []string{"route", "status_class"}},
		ns + "backend_api_request_duration_seconds": {typ: dto.MetricType_HISTOGRAM, labels: []string{"route"}, buckets: apiBounds},
		ns + "webhooks_total":                       {typ: counter, labels: []string{"outcome", "type"}},
		ns + "build_info":                           {typ: gauge, labels: []string{"goversion", "version"}},
		ns + "cache_entries":                        {typ: gauge, labels: []string{"cache"}},
		"promhttp_metric_handler_errors_total":      {typ: counter, labels: []string{"cause"}},
		"go_gc_duration_seconds":                    {typ: dto.MetricType_SUMMARY},
		"go_info":                                   {typ: gauge, labels: []string{"version"}},
	}
	for _, c := range []string{"hits", "misses", "stale_serves", "evictions", "coalesced_waits", "load_errors", "shared_hits", "shared_waits", "shared_errors"} {
		want[ns+"cache_"+c+"_total"] = expectedFamily{typ: counter, labels: []string{"cache"}}
	}
	want[ns+"rate_limit_backoffs_total"] = expectedFamily{typ: counter, labels: []string{"cache"}}
	for _, g := range []string{"go_goroutines", "go_threads", "go_gc_gogc_percent", "go_gc_gomemlimit_bytes", "go_sched_gomaxprocs_threads",
		"go_memstats_last_gc_time_seconds", "go_memstats_alloc_bytes", "go_memstats_sys_bytes", "go_memstats_heap_alloc_bytes",
		"go_memstats_heap_sys_bytes", "go_memstats_heap_idle_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_heap_released_bytes",
		"go_memstats_heap_objects", "go_memstats_stack_inuse_bytes", "go_memstats_stack_sys_bytes", "go_memstats_mspan_inuse_bytes",
		"go_memstats_mspan_sys_bytes", "go_memstats_mcache_inuse_bytes", "go_memstats_mcache_sys_bytes", "go_memstats_buck_hash_sys_bytes",
		"go_memstats_gc_sys_bytes", "go_memstats_other_sys_bytes", "go_memstats_next_gc_bytes"} {
		want[g] = expectedFamily{typ: gauge}
	}
	for _, c := range []string{"go_memstats_alloc_bytes_total", "go_memstats_mallocs_total", "go_memstats_frees_total"} {
		want[c] = expectedFamily{typ: counter}
	}
	if runtime.GOOS == "linux" {
		for _, g := range []string{"process_open_fds", "process_max_fds", "process_virtual_memory_bytes", "process_virtual_memory_max_bytes",
			"process_resident_memory_bytes", "process_start_time_seconds"} {
			want[g] = expectedFamily{typ: gauge}
		}
		want["process_cpu_seconds_total"] = expectedFamily{typ: counter}
		if _, err := os.Stat("/proc/self/net/netstat"); err == nil {
			want["process_network_receive_bytes_total"] = expectedFamily{typ: counter}
			want["process_network_transmit_bytes_total"] = expectedFamily{typ: counter}
		}
	}
	return want
}

// TestMetricsOutputMatchesTheExpectedFamilies parses the whole /metrics
// answer with expfmt and checks it family by family: the set of names,
// each type and label set, histogram buckets, summary quantiles, and the
// order client_golang wrote them in.
func TestMetricsOutputMatchesTheExpectedFamilies(t *testing.T) {
	m := NewMetrics("v1.0.0")
	for _, d := range []struct{ endpoint, outcome, reason string }{
		{"forward-auth", "allow", ""}, {"forward-auth", "unauthenticated", "token-expired"}, {"auth-request", "allow", ""}, {"ext-authz", "forbidden", "permission-missing"},
	} {
		m.Decision(d.endpoint, d.outcome, d.reason, 300*time.Microsecond)
	}
	m.Decision("forward-auth", "allow", "", 7*time.Second) // past the last bound
	m.JWKSFetch(2, nil, 12*time.Millisecond)
	m.APICall("/jwks", 200, nil, 12*time.Millisecond)
	m.APICall("/users/{id}", 0, nil, 11*time.Second)
	m.Webhook("user.updated", "applied")
	for _, name := range []string{"profiles", "memberships"} {
		c, err := cache.New(cache.Options[string, int]{Size: 4, TTL: time.Minute, Load: func(context.Context, string) (int, error) { return 1, nil }})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.RegisterCache(name, c); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC() // so the GC summary has a pause

	body, fams := scrape(t, m)
	want := expectedFamilies()
	for name := range fams {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected family %s", name)
		}
	}
	for name, w := range want {
		f, ok := fams[name]
		if !ok {
			t.Errorf("family %s missing", name)
			continue
		}
		if f.GetType() != w.typ {
			t.Errorf("%s: type %v, want %v", name, f.GetType(), w.typ)
		}
		if f.GetHelp() == "" {
			t.Errorf("%s: no HELP", name)
		}
		var prev []string
		for i, s := range f.GetMetric() {
			var names, values []string
			for _, l := range s.GetLabel() {
				names = append(names, l.GetName())
				values = append(values, l.GetValue())
			}
			if !slices.Equal(names, w.labels) {
				t.Errorf("%s: labels %v, want %v", name, names, w.labels)
			}
			if i > 0 && slices.Compare(prev, values) >= 0 {
				t.Errorf("%s: series %v after %v: not sorted or repeated", name, values, prev)
			}
			prev = values
			if w.typ == dto.MetricType_HISTOGRAM {
				checkHistogram(t, name, s.GetHistogram(), w.buckets)
			}
			if w.typ == dto.MetricType_SUMMARY {
				checkSummary(t, name, s.GetSummary())
			}
		}
	}

	var order []string
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			order = append(order, strings.Fields(rest)[0])
		}
		if strings.Count(strings.TrimSpace(line), " ") > 1 && !strings.HasPrefix(line, "#") && !strings.Contains(line, `"`) {
			t.Errorf("a sample line with a timestamp or stray field: %q", line)
		}
	}
	if !slices.IsSorted(order) {
		t.Errorf("families not sorted by name: %v", order)
	}
}

func checkHistogram(t *testing.T, name string, h *dto.Histogram, bounds []float64) {
	t.Helper()
	b := h.GetBucket()
	var got []float64
	var last uint64
	for _, x := range b {
		got = append(got, x.GetUpperBound())
		if x.GetCumulativeCount() < last {
			t.Errorf("%s: bucket le=%v count %d after %d", name, x.GetUpperBound(), x.GetCumulativeCount(), last)
		}
		last = x.GetCumulativeCount()
	}
	if !slices.Equal(got, bounds) {
		t.Errorf("%s: buckets %v, want %v", name, got, bounds)
	}
	if len(b) > 0 && b[len(b)-1].GetCumulativeCount() != h.GetSampleCount() {
		t.Errorf("%s: _count %d, +Inf bucket %d", name, h.GetSampleCount(), b[len(b)-1].GetCumulativeCount())
	}
	if h.GetSampleCount() == 0 || h.GetSampleSum() <= 0 {
		t.Errorf("%s: count %d sum %v after observations", name, h.GetSampleCount(), h.GetSampleSum())
	}
}

func checkSummary(t *testing.T, name string, s *dto.Summary) {
	t.Helper()
	var qs []float64
	last := -1.0
	for _, q := range s.GetQuantile() {
		qs = append(qs, q.GetQuantile())
		if q.GetValue() < last {
			t.Errorf("%s: quantile %v = %v below the previous %v", name, q.GetQuantile(), q.GetValue(), last)
		}
		last = q.GetValue()
	}
	if !slices.Equal(qs, []float64{0, 0.25, 0.5, 0.75, 1}) {
		t.Errorf("%s: quantiles %v", name, qs)
	}
	if s.GetSampleCount() == 0 || s.GetSampleSum() <= 0 {
		t.Errorf("%s: count %d sum %v after a collection", name, s.GetSampleCount(), s.GetSampleSum())
	}
}

// TestGoMetricsAgreeWithTheRuntime: the go_* values are the runtime's, not
// placeholders.
func TestGoMetricsAgreeWithTheRuntime(t *testing.T) {
	m := NewMetrics("dev")
	old := debug.SetGCPercent(137)
	defer debug.SetGCPercent(old)
	runtime.GC()
	_, fams := scrape(t, m)
	value := func(name string) float64 {
		v, ok := seriesValue(fams, name, nil)
		if !ok {
			t.Fatalf("no %s", name)
		}
		return v
	}
	if v := value("go_gc_gogc_percent"); v != 137 {
		t.Errorf("go_gc_gogc_percent = %v, want 137", v)
	}
	if v := value("go_sched_gomaxprocs_threads"); v != float64(runtime.GOMAXPROCS(0)) {
		t.Errorf("go_sched_gomaxprocs_threads = %v, want %d", v, runtime.GOMAXPROCS(0))
	}
	if v := value("go_gc_gomemlimit_bytes"); v != float64(debug.SetMemoryLimit(-1)) {
		t.Errorf("go_gc_gomemlimit_bytes = %v, want %d", v, debug.SetMemoryLimit(-1))
	}
	if v, ok := seriesValue(fams, "go_info", map[string]string{"version": runtime.Version()}); !ok || v != 1 {
		t.Errorf("go_info{version=%q} = %v (present %v)", runtime.Version(), v, ok)
	}
	if v := value("go_memstats_last_gc_time_seconds"); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("go_memstats_last_gc_time_seconds = %v after a GC", v)
	}
	if value("go_goroutines") < 1 || value("go_threads") < 1 {
		t.Error("no goroutines or threads")
	}
	if value("go_memstats_mallocs_total") < value("go_memstats_frees_total") {
		t.Error("more frees than allocations")
	}
	heapSys, sys := value("go_memstats_heap_sys_bytes"), value("go_memstats_sys_bytes")
	if heapSys <= 0 || heapSys > sys || value("go_memstats_heap_inuse_bytes")+value("go_memstats_heap_idle_bytes") != heapSys {
		t.Errorf("heap sys %v, sys %v: inconsistent", heapSys, sys)
	}
	if value("go_memstats_heap_objects") <= 0 || value("go_memstats_next_gc_bytes") <= 0 {
		t.Error("no heap objects or GC goal")
	}
}
