package observe

import (
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/clerk-forward-auth/clerk-forward-auth/cache"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// namespace prefixes every metric name.
const namespace = "clerk_forward_auth"

// Metrics are the service's Prometheus metrics on a registry of their own
// (plus the Go runtime and process collectors). Every label value comes
// from a closed set.
type Metrics struct {
	reg *prometheus.Registry

	decisions       *prometheus.CounterVec
	decisionSeconds *prometheus.HistogramVec
	jwksFetches     *prometheus.CounterVec
	jwksSeconds     prometheus.Histogram
	jwksKeys        prometheus.Gauge
	jwksLastSuccess prometheus.Gauge
	apiRequests     *prometheus.CounterVec
	apiSeconds      *prometheus.HistogramVec
	webhooks        *prometheus.CounterVec

	// decisionSeries caches the children of decisions and decisionSeconds
	// by label set: WithLabelValues hashes the labels and takes the
	// vector's lock on every call. The label sets are closed, so the map
	// stops growing after warm-up.
	decisionSeries *cache.ReadMostly[decisionLabels, decisionSeries]
}

// maxDecisionSeries bounds decisionSeries (endpoints × outcomes × reasons
// in use is a few hundred at most).
const maxDecisionSeries = 4096

type decisionLabels struct{ endpoint, outcome, reason string }

type decisionSeries struct {
	count   prometheus.Counter
	seconds prometheus.Observer
}

// NewMetrics builds the metrics; version is the build's (main.version).
func NewMetrics(version string) *Metrics {
	m := &Metrics{
		reg:            prometheus.NewRegistry(),
		decisionSeries: cache.NewReadMostly[decisionLabels, decisionSeries](maxDecisionSeries),
	}
	// Buckets in seconds. A decision from cached keys takes well under a
	// millisecond; one that waits for Clerk takes a network round trip.
	decisionBuckets := []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
	apiBuckets := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "decisions_total",
		Help: "Decisions by endpoint, outcome (allow, unauthenticated, redirect, handshake, forbidden, unavailable, misconfigured, bad-request) and Clerk reason.",
	}, []string{"endpoint", "outcome", "reason"})
	m.decisionSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "decision_duration_seconds",
		Help:    "Time to answer a proxy's auth request, by endpoint.",
		Buckets: decisionBuckets,
	}, []string{"endpoint"})
	m.jwksFetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "jwks_fetches_total",
		Help: `JWKS fetches from the Backend API by result ("ok" or the Clerk reason of the failure).`,
	}, []string{"result"})
	m.jwksSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "jwks_fetch_duration_seconds",
		Help: "Time to fetch the JWKS.", Buckets: apiBuckets,
	})
	m.jwksKeys = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "jwks_keys",
		Help: "Signing keys in the last JWKS fetched successfully.",
	})
	m.jwksLastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "jwks_last_success_timestamp_seconds",
		Help: "Unix time of the last successful JWKS fetch (0: never).",
	})
	m.apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "backend_api_requests_total",
		Help: `Clerk Backend API calls by route template and status class (2xx, 4xx, 5xx; "error" when no answer came).`,
	}, []string{"route", "status_class"})
	m.apiSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "backend_api_request_duration_seconds",
		Help: "Clerk Backend API call latency by route template.", Buckets: apiBuckets,
	}, []string{"route"})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "webhooks_total",
		Help: `Clerk webhooks received, by event type ("other" for a type the service does not handle or could not read) and outcome (applied, ignored, duplicate, malformed, unauthorized, too_large, method_not_allowed, unavailable).`,
	}, []string{"type", "outcome"})
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; the labels name the build.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	build.Set(1)
	m.reg.MustRegister(m.decisions, m.decisionSeconds, m.jwksFetches, m.jwksSeconds, m.jwksKeys,
		m.jwksLastSuccess, m.apiRequests, m.apiSeconds, m.webhooks, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Webhook counts one webhook request. eventType must come from a bounded
// set (the caller maps the rest to "other"): it is a label.
func (m *Metrics) Webhook(eventType, outcome string) {
	m.webhooks.WithLabelValues(eventType, outcome).Inc()
}

// Registry is the metrics' registry (tests, extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text (or OpenMetrics) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Decision counts one answered auth request. outcome is
// authz.Outcome.String() (or "bad-request"); reason is mapped by
// ReasonLabel.
func (m *Metrics) Decision(endpoint, outcome, reason string, took time.Duration) {
	s := m.decisionSeriesFor(decisionLabels{endpoint, outcome, ReasonLabel(reason)})
	s.count.Inc()
	s.seconds.Observe(took.Seconds())
}

func (m *Metrics) decisionSeriesFor(l decisionLabels) decisionSeries {
	if s, ok := m.decisionSeries.Get(l); ok {
		return s
	}
	// Past the bound (a caller passing open-ended labels) the series is
	// still counted, only not cached.
	s, _ := m.decisionSeries.Add(l, decisionSeries{
		count:   m.decisions.WithLabelValues(l.endpoint, l.outcome, l.reason),
		seconds: m.decisionSeconds.WithLabelValues(l.endpoint),
	})
	return s
}

// JWKSFetch observes one JWKS fetch; it has clerk.RemoteKeysOptions.OnFetch's
// signature.
func (m *Metrics) JWKSFetch(keys int, err error, took time.Duration) {
	m.jwksSeconds.Observe(took.Seconds())
	if err != nil {
		m.jwksFetches.WithLabelValues(ReasonLabel(string(clerk.ReasonOf(err)))).Inc()
		return
	}
	m.jwksFetches.WithLabelValues("ok").Inc()
	m.jwksKeys.Set(float64(keys))
	m.jwksLastSuccess.Set(float64(time.Now().Unix()))
}

// APICall observes one Backend API call; it has clerk.API.OnCall's
// signature. route must be a template (clerk.RouteTemplate).
func (m *Metrics) APICall(route string, status int, _ error, took time.Duration) {
	m.apiRequests.WithLabelValues(route, StatusClass(status)).Inc()
	m.apiSeconds.WithLabelValues(route).Observe(took.Seconds())
}

// StatusClass is "2xx", "4xx"… for an HTTP status, "error" for 0 (no
// answer: timeout, refused connection).
func StatusClass(status int) string {
	if status < 100 || status > 599 {
		return "error"
	}
	return strconv.Itoa(status/100) + "xx"
}

// CacheStats is what the metrics read from a cache (cache.Cache has it).
type CacheStats interface {
	Stats() cache.Stats
}

// RegisterCache exports a cache's counters, labelled cache=name. The
// counters are read at scrape time, so the cache keeps no reference to
// the metrics.
func (m *Metrics) RegisterCache(name string, c CacheStats) error {
	labels := prometheus.Labels{"cache": name}
	counter := func(metric, help string, read func(cache.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: namespace, Name: metric, Help: help, ConstLabels: labels,
		}, func() float64 { return float64(read(c.Stats())) })
	}
	for _, col := range []prometheus.Collector{
		counter("cache_hits_total", "Lookups answered from a fresh entry.", func(s cache.Stats) uint64 { return s.Hits }),
		counter("cache_misses_total", "Lookups that needed a load (own or joined).", func(s cache.Stats) uint64 { return s.Misses }),
		counter("cache_stale_serves_total", "Expired entries served because the load failed or the API asked to back off.", func(s cache.Stats) uint64 { return s.StaleServes }),
		counter("cache_evictions_total", "Entries dropped to respect the size bound.", func(s cache.Stats) uint64 { return s.Evictions }),
		counter("cache_coalesced_waits_total", "Lookups that waited for another caller's load instead of calling the API.", func(s cache.Stats) uint64 { return s.CoalescedWaits }),
		counter("cache_load_errors_total", "Loads that failed.", func(s cache.Stats) uint64 { return s.LoaderErrors }),
		counter("rate_limit_backoffs_total", "Backend API rate limits (429 with Retry-After) that paused every load.", func(s cache.Stats) uint64 { return s.RateLimitBackoffs }),
		counter("cache_shared_hits_total", "Misses answered by the level replicas share (Redis).", func(s cache.Stats) uint64 { return s.SharedHits }),
		counter("cache_shared_waits_total", "Misses that waited for another replica's load of the same key.", func(s cache.Stats) uint64 { return s.SharedWaits }),
		counter("cache_shared_errors_total", "Calls to the shared level (Redis) that failed or returned what does not decode; the miss was loaded locally.", func(s cache.Stats) uint64 { return s.SharedErrors }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Name: "cache_entries", Help: "Entries held.", ConstLabels: labels,
		}, func() float64 { return float64(c.Stats().Entries) }),
	} {
		if err := m.reg.Register(col); err != nil {
			return fmt.Errorf("register cache %q metrics: %w", name, err)
		}
	}
	return nil
}
