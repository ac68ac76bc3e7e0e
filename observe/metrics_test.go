package observe

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clerk-forward-auth/clerk-forward-auth/cache"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

func TestMetricsFollowPrometheusNamingRules(t *testing.T) {
	m := NewMetrics("v1.2.3")
	m.Decision("forward-auth", "allow", "", time.Millisecond)
	m.JWKSFetch(2, nil, time.Millisecond)
	m.APICall("/jwks", 200, nil, time.Millisecond)
	c, _ := cache.New(cache.Options[string, int]{Size: 1, TTL: time.Second, Load: func(context.Context, string) (int, error) { return 1, nil }})
	if err := m.RegisterCache("memberships", c); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	names, err := testutil.GatherAndCount(m.Registry())
	if err != nil || names == 0 {
		t.Fatalf("gather: %d, %v", names, err)
	}
}

func TestMetricsCountJWKSFetchesByResult(t *testing.T) {
	m := NewMetrics("dev")
	m.JWKSFetch(2, nil, 10*time.Millisecond)
	m.JWKSFetch(0, &clerk.TokenError{Reason: clerk.ReasonJWKRemoteFailedToLoad}, time.Second)
	m.JWKSFetch(0, &clerk.TokenError{Reason: clerk.ReasonSecretKeyInvalid}, time.Second)
	m.JWKSFetch(0, errors.New("plain"), time.Second)
	m.JWKSFetch(3, nil, 10*time.Millisecond)
	for result, want := range map[string]float64{"ok": 2, "jwk-remote-failed-to-load": 1, "secret-key-invalid": 1, "unexpected-error": 1} {
		if got := testutil.ToFloat64(m.jwksFetches.WithLabelValues(result)); got != want {
			t.Errorf("jwks_fetches_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	if got := testutil.ToFloat64(m.jwksKeys); got != 3 {
		t.Errorf("jwks_keys = %v, want 3 (the last successful fetch; failures keep it)", got)
	}
	if got := testutil.ToFloat64(m.jwksLastSuccess); got < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("jwks_last_success_timestamp_seconds = %v", got)
	}
}

func TestMetricsCountAPICallsByRouteAndStatusClass(t *testing.T) {
	m := NewMetrics("dev")
	route := "/users/{id}/organization_memberships"
	for _, status := range []int{200, 200, 404, 429, 500, 503, 0} {
		m.APICall(route, status, nil, 20*time.Millisecond)
	}
	for class, want := range map[string]float64{"2xx": 2, "4xx": 2, "5xx": 2, "error": 1} {
		if got := testutil.ToFloat64(m.apiRequests.WithLabelValues(route, class)); got != want {
			t.Errorf("backend_api_requests_total{status_class=%q} = %v, want %v", class, got, want)
		}
	}
	if got := testutil.CollectAndCount(m.apiSeconds); got != 1 {
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
	want := `
# HELP clerk_forward_auth_cache_entries Entries held.
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
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"clerk_forward_auth_cache_entries", "clerk_forward_auth_cache_evictions_total", "clerk_forward_auth_cache_hits_total",
		"clerk_forward_auth_cache_load_errors_total", "clerk_forward_auth_cache_misses_total"); err != nil {
		t.Error(err)
	}
	if err := m.RegisterCache("memberships", c); err == nil {
		t.Error("registering the same cache name twice should fail")
	}
}

func TestMetricsHandlerServesBuildInfo(t *testing.T) {
	m := NewMetrics("v9.9.9")
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Body)
	if !strings.Contains(string(body), `clerk_forward_auth_build_info{goversion="go`) || !strings.Contains(string(body), `version="v9.9.9"} 1`) {
		t.Errorf("no build_info in:\n%.2000s", body)
	}
	if !strings.Contains(string(body), "go_goroutines") {
		t.Error("no Go runtime metrics")
	}
}

func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{0: "error", 200: "2xx", 204: "2xx", 301: "3xx", 401: "4xx", 429: "4xx", 503: "5xx", 600: "error", -1: "error"} {
		if got := StatusClass(status); got != want {
			t.Errorf("StatusClass(%d) = %q, want %q", status, got, want)
		}
	}
}
