package observe

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/clerk-forward-auth/clerk-forward-auth/cache"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// scrape serves /metrics through Handler and parses the answer with
// expfmt's text parser, an implementation independent of ours.
func scrape(t *testing.T, m *Metrics) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	body := w.Body.String()
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v\n%.3000s", err, body)
	}
	return body, fams
}

// seriesValue is the value of the counter or gauge series of name whose
// labels are exactly labels; ok is false when there is none.
func seriesValue(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (v float64, ok bool) {
	for _, m := range fams[name].GetMetric() {
		if !sameLabels(m.GetLabel(), labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func sameLabels(pairs []*dto.LabelPair, want map[string]string) bool {
	if len(pairs) != len(want) {
		return false
	}
	for _, p := range pairs {
		if v, ok := want[p.GetName()]; !ok || v != p.GetValue() {
			return false
		}
	}
	return true
}

// familyText is the lines of family name in the exposition: its HELP,
// TYPE and sample lines.
func familyText(body, name string) string {
	var b strings.Builder
	for line := range strings.Lines(body) {
		fields := strings.Fields(line)
		switch {
		case len(fields) >= 3 && fields[0] == "#" && fields[2] == name,
			len(fields) > 0 && (fields[0] == name || strings.HasPrefix(fields[0], name+"{")):
			b.WriteString(line)
		}
	}
	return b.String()
}

func TestMetricsFollowPrometheusNamingRules(t *testing.T) {
	m := NewMetrics("v1.2.3")
	m.Decision("forward-auth", "allow", "", time.Millisecond)
	m.JWKSFetch(2, nil, time.Millisecond)
	m.APICall("/jwks", 200, nil, time.Millisecond)
	m.Webhook("user.updated", "applied")
	c, _ := cache.New(cache.Options[string, int]{Size: 1, TTL: time.Second, Load: func(context.Context, string) (int, error) { return 1, nil }})
	if err := m.RegisterCache("memberships", c); err != nil {
		t.Fatal(err)
	}
	body, fams := scrape(t, m)
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if len(fams) < 50 {
		t.Errorf("%d families", len(fams))
	}
}

func TestMetricsCountJWKSFetchesByResult(t *testing.T) {
	m := NewMetrics("dev")
	m.JWKSFetch(2, nil, 10*time.Millisecond)
	m.JWKSFetch(0, &clerk.TokenError{Reason: clerk.ReasonJWKRemoteFailedToLoad}, time.Second)
	m.JWKSFetch(0, &clerk.TokenError{Reason: clerk.ReasonSecretKeyInvalid}, time.Second)
	m.JWKSFetch(0, errors.New("plain"), time.Second)
	m.JWKSFetch(3, nil, 10*time.Millisecond)
	_, fams := scrape(t, m)
	for result, want := range map[string]float64{"ok": 2, "jwk-remote-failed-to-load": 1, "secret-key-invalid": 1, "unexpected-error": 1} {
		if got, _ := seriesValue(fams, "clerk_forward_auth_jwks_fetches_total", map[string]string{"result": result}); got != want {
			t.Errorf("jwks_fetches_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	if got, _ := seriesValue(fams, "clerk_forward_auth_jwks_keys", nil); got != 3 {
		t.Errorf("jwks_keys = %v, want 3 (the last successful fetch; failures keep it)", got)
	}
	if got, _ := seriesValue(fams, "clerk_forward_auth_jwks_last_success_timestamp_seconds", nil); got < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("jwks_last_success_timestamp_seconds = %v", got)
	}
	h := fams["clerk_forward_auth_jwks_fetch_duration_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 5 || math.Abs(h.GetSampleSum()-3.02) > 1e-9 {
		t.Errorf("jwks_fetch_duration_seconds count %d sum %v, want 5 and 3.02", h.GetSampleCount(), h.GetSampleSum())
	}
}

func TestMetricsCountAPICallsByRouteAndStatusClass(t *testing.T) {
	m := NewMetrics("dev")
	route := "/users/{id}/organization_memberships"
	for _, status := range []int{200, 200, 404, 429, 500, 503, 0} {
		m.APICall(route, status, nil, 20*time.Millisecond)
	}
	_, fams := scrape(t, m)
	for class, want := range map[string]float64{"2xx": 2, "4xx": 2, "5xx": 2, "error": 1} {
		if got, _ := seriesValue(fams, "clerk_forward_auth_backend_api_requests_total", map[string]string{"route": route, "status_class": class}); got != want {
			t.Errorf("backend_api_requests_total{status_class=%q} = %v, want %v", class, got, want)
		}
	}
	if got := len(fams["clerk_forward_auth_backend_api_request_duration_seconds"].GetMetric()); got != 1 {
		t.Errorf("%d latency series, want 1 (one route)", got)
	}
}

func TestMetricsExportCacheCountersAtScrapeTime(t *testing.T) {
	m := NewMetrics("dev")
	fails := true
	c, err := cache.New(cache.Options[string, int]{
		Size: 1, TTL: time.Hour,
		Load: func(_ context.Context, k string) (int, error) {
			if fails && k == "bad" {
				return 0, errors.New("down")
			}
			return 1, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterCache("memberships", c); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, _ = c.Get(ctx, "a") // miss
	_, _ = c.Get(ctx, "a") // hit
	_, _ = c.Get(ctx, "b") // miss, evicts a
	_, _ = c.Get(ctx, "bad")
	want := `# HELP clerk_forward_auth_cache_entries Entries held.
# TYPE clerk_forward_auth_cache_entries gauge
clerk_forward_auth_cache_entries{cache="memberships"} 1
# HELP clerk_forward_auth_cache_evictions_total Entries dropped to respect the size bound.
# TYPE clerk_forward_auth_cache_evictions_total counter
clerk_forward_auth_cache_evictions_total{cache="memberships"} 1
# HELP clerk_forward_auth_cache_hits_total Lookups answered from a fresh entry.
# TYPE clerk_forward_auth_cache_hits_total counter
clerk_forward_auth_cache_hits_total{cache="memberships"} 1
# HELP clerk_forward_auth_cache_load_errors_total Loads that failed.
# TYPE clerk_forward_auth_cache_load_errors_total counter
clerk_forward_auth_cache_load_errors_total{cache="memberships"} 1
# HELP clerk_forward_auth_cache_misses_total Lookups that needed a load (own or joined).
# TYPE clerk_forward_auth_cache_misses_total counter
clerk_forward_auth_cache_misses_total{cache="memberships"} 3
`
	body, _ := scrape(t, m)
	var got strings.Builder
	for _, name := range []string{"clerk_forward_auth_cache_entries", "clerk_forward_auth_cache_evictions_total", "clerk_forward_auth_cache_hits_total",
		"clerk_forward_auth_cache_load_errors_total", "clerk_forward_auth_cache_misses_total"} {
		got.WriteString(familyText(body, name))
	}
	if got.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", got.String(), want)
	}
	if err := m.RegisterCache("memberships", c); err == nil {
		t.Error("registering the same cache name twice should fail")
	}
	if err := m.RegisterCache("profiles", c); err != nil {
		t.Errorf("a second cache: %v", err)
	}
	_, fams := scrape(t, m)
	if n := len(fams["clerk_forward_auth_cache_hits_total"].GetMetric()); n != 2 {
		t.Errorf("%d cache_hits_total series, want 2 (memberships, profiles)", n)
	}
}

func TestMetricsHandlerServesBuildInfo(t *testing.T) {
	m := NewMetrics("v9.9.9")
	body, _ := scrape(t, m)
	want := `clerk_forward_auth_build_info{goversion="` + runtime.Version() + `",version="v9.9.9"} 1` + "\n"
	if !strings.Contains(body, want) {
		t.Errorf("no %q in:\n%.2000s", want, body)
	}
	if !strings.Contains(body, "\ngo_goroutines ") {
		t.Error("no Go runtime metrics")
	}
}

// failingWriter is a client that went away: every write fails.
type failingWriter struct{ header http.Header }

func (f *failingWriter) Header() http.Header       { return f.header }
func (f *failingWriter) WriteHeader(int)           {}
func (f *failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestMetricsHandlerCountsFailedWrites(t *testing.T) {
	m := NewMetrics("dev")
	m.Handler().ServeHTTP(&failingWriter{header: http.Header{}}, httptest.NewRequest("GET", "/metrics", nil))
	_, fams := scrape(t, m)
	if got, _ := seriesValue(fams, "promhttp_metric_handler_errors_total", map[string]string{"cause": "encoding"}); got != 1 {
		t.Errorf("encoding errors = %v, want 1", got)
	}
	if got, ok := seriesValue(fams, "promhttp_metric_handler_errors_total", map[string]string{"cause": "gathering"}); !ok || got != 0 {
		t.Errorf("gathering errors = %v (present %v), want 0", got, ok)
	}
}

func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{0: "error", 200: "2xx", 204: "2xx", 301: "3xx", 401: "4xx", 429: "4xx", 503: "5xx", 600: "error", -1: "error"} {
		if got := StatusClass(status); got != want {
			t.Errorf("StatusClass(%d) = %q, want %q", status, got, want)
		}
	}
}
