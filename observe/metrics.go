package observe

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/cache"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// namespace prefixes every metric name.
const namespace = "clerk_forward_auth"

// Metrics are the service's Prometheus metrics, plus the Go runtime and
// process metrics, written in the text format by Handler. Every label
// value comes from a closed set.
type Metrics struct {
	decisions       *vec[counter]
	decisionSeconds *vec[histogram]
	jwksFetches     *vec[counter]
	jwksSeconds     *histogram
	jwksKeys        *gauge
	jwksLastSuccess *gauge
	apiRequests     *vec[counter]
	apiSeconds      *vec[histogram]
	webhooks        *vec[counter]
	handlerErrors   *vec[counter]

	// cacheFamilies hold the counters RegisterCache adds, by metric name.
	cacheFamilies map[string]*funcFamily

	runtime *runtimeCollector

	// families is every family, sorted by name once: the output order.
	families []*family

	// decisionSeries caches the series of decisions and decisionSeconds
	// by label set, so a decision takes no lock. The label sets are
	// closed, so the map stops growing after warm-up.
	decisionSeries *cache.ReadMostly[decisionLabels, decisionSeries]
}

// maxDecisionSeries bounds decisionSeries (endpoints × outcomes × reasons
// in use is a few hundred at most).
const maxDecisionSeries = 4096

type decisionLabels struct{ endpoint, outcome, reason string }

type decisionSeries struct {
	count   *counter
	seconds *histogram
}

// Causes of promhttp_metric_handler_errors_total, the name client_golang's
// handler used, kept for dashboards that watch it.
const (
	causeEncoding  = "encoding"  // writing the answer failed
	causeGathering = "gathering" // a process metric could not be read
)

// NewMetrics builds the metrics; version is the build's (main.version).
func NewMetrics(version string) *Metrics {
	m := &Metrics{
		decisionSeries: cache.NewReadMostly[decisionLabels, decisionSeries](maxDecisionSeries),
		cacheFamilies:  map[string]*funcFamily{},
	}
	// Buckets in seconds. A decision from cached keys takes well under a
	// millisecond; one that waits for Clerk takes a network round trip.
	decisionBuckets := []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
	apiBuckets := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	const ns = namespace + "_"
	m.decisions = newVec(ns+"decisions_total",
		"Decisions by endpoint, outcome (allow, unauthenticated, redirect, handshake, forbidden, unavailable, misconfigured, bad-request) and Clerk reason.",
		typeCounter, []string{"endpoint", "outcome", "reason"}, newCounter, writeCounterSeries)
	m.decisionSeconds = newVec(ns+"decision_duration_seconds",
		"Time to answer a proxy's auth request, by endpoint.",
		typeHistogram, []string{"endpoint"}, histogramMaker(decisionBuckets), writeHistogramSeries)
	m.jwksFetches = newVec(ns+"jwks_fetches_total",
		`JWKS fetches from the Backend API by result ("ok" or the Clerk reason of the failure).`,
		typeCounter, []string{"result"}, newCounter, writeCounterSeries)
	m.jwksSeconds = newHistogram(apiBuckets)
	m.jwksKeys = newGauge(0)
	m.jwksLastSuccess = newGauge(0)
	m.apiRequests = newVec(ns+"backend_api_requests_total",
		`Clerk Backend API calls by route template and status class (2xx, 4xx, 5xx; "error" when no answer came).`,
		typeCounter, []string{"route", "status_class"}, newCounter, writeCounterSeries)
	m.apiSeconds = newVec(ns+"backend_api_request_duration_seconds",
		"Clerk Backend API call latency by route template.",
		typeHistogram, []string{"route"}, histogramMaker(apiBuckets), writeHistogramSeries)
	m.webhooks = newVec(ns+"webhooks_total",
		`Clerk webhooks received, by event type ("other" for a type the service does not handle or could not read) and outcome (applied, ignored, duplicate, malformed, unauthorized, too_large, method_not_allowed, unavailable).`,
		typeCounter, []string{"type", "outcome"}, newCounter, writeCounterSeries)
	m.handlerErrors = newVec("promhttp_metric_handler_errors_total",
		"Total number of internal errors encountered by the promhttp metric handler.",
		typeCounter, []string{"cause"}, newCounter, writeCounterSeries)
	m.handlerErrors.with(causeEncoding)
	m.handlerErrors.with(causeGathering)

	build := &funcFamily{name: ns + "build_info", help: "Always 1; the labels name the build.", typ: typeGauge}
	// A fresh family cannot hold a duplicate.
	_ = build.add(labelSet{names: []string{"version", "goversion"}, values: []string{version, runtime.Version()}}, func() float64 { return 1 })

	jwksSeconds := &family{name: ns + "jwks_fetch_duration_seconds", help: "Time to fetch the JWKS.", typ: typeHistogram,
		write: func(e *encoder) { m.jwksSeconds.writeTo(e, ns+"jwks_fetch_duration_seconds", "") }}
	m.families = []*family{
		m.decisions.family(), m.decisionSeconds.family(), m.jwksFetches.family(), jwksSeconds,
		single(ns+"jwks_keys", "Signing keys in the last JWKS fetched successfully.", typeGauge, m.jwksKeys.value),
		single(ns+"jwks_last_success_timestamp_seconds", "Unix time of the last successful JWKS fetch (0: never).", typeGauge, m.jwksLastSuccess.value),
		m.apiRequests.family(), m.apiSeconds.family(), m.webhooks.family(), m.handlerErrors.family(), build.family(),
	}
	for _, c := range cacheCounters {
		f := &funcFamily{name: ns + c.name, help: c.help, typ: c.typ}
		m.cacheFamilies[c.name] = f
		m.families = append(m.families, f.family())
	}
	m.runtime = newRuntimeCollector()
	m.families = append(m.families, m.runtime.families()...)
	slices.SortFunc(m.families, func(a, b *family) int { return strings.Compare(a.name, b.name) })
	return m
}

// Webhook counts one webhook request. eventType must come from a bounded
// set (the caller maps the rest to "other"): it is a label.
func (m *Metrics) Webhook(eventType, outcome string) {
	m.webhooks.with(eventType, outcome).inc()
}

// Handler serves the metrics in the Prometheus text format, version 0.0.4.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", textContentType)
		if err := m.WriteText(w); err != nil {
			// The client went away or the connection broke; the
			// status is already sent, so counting is all that is left.
			m.handlerErrors.with(causeEncoding).inc()
		}
	})
}

// WriteText writes every metric in the Prometheus text format, version
// 0.0.4: families sorted by name, series by label values, no timestamps.
func (m *Metrics) WriteText(w io.Writer) error {
	// The runtime and process values are read once per scrape, so the
	// families that come from one reading agree with each other.
	if err := m.runtime.read(); err != nil {
		m.handlerErrors.with(causeGathering).inc()
	}
	var e encoder
	for _, f := range m.families {
		e.family(f)
	}
	if _, err := w.Write(e.buf); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}

// Decision counts one answered auth request. outcome is
// authz.Outcome.String() (or "bad-request"); reason is mapped by
// ReasonLabel.
func (m *Metrics) Decision(endpoint, outcome, reason string, took time.Duration) {
	s := m.decisionSeriesFor(decisionLabels{endpoint, outcome, ReasonLabel(reason)})
	s.count.inc()
	s.seconds.observe(took.Seconds())
}

func (m *Metrics) decisionSeriesFor(l decisionLabels) decisionSeries {
	if s, ok := m.decisionSeries.Get(l); ok {
		return s
	}
	// Past the bound (a caller passing open-ended labels) the series is
	// still counted, only not cached.
	s, _ := m.decisionSeries.Add(l, decisionSeries{
		count:   m.decisions.with(l.endpoint, l.outcome, l.reason),
		seconds: m.decisionSeconds.with(l.endpoint),
	})
	return s
}

// JWKSFetch observes one JWKS fetch; it has clerk.RemoteKeysOptions.OnFetch's
// signature.
func (m *Metrics) JWKSFetch(keys int, err error, took time.Duration) {
	m.jwksSeconds.observe(took.Seconds())
	if err != nil {
		m.jwksFetches.with(ReasonLabel(string(clerk.ReasonOf(err)))).inc()
		return
	}
	m.jwksFetches.with("ok").inc()
	m.jwksKeys.set(float64(keys))
	m.jwksLastSuccess.set(float64(time.Now().Unix()))
}

// APICall observes one Backend API call; it has clerk.API.OnCall's
// signature. route must be a template (clerk.RouteTemplate).
func (m *Metrics) APICall(route string, status int, _ error, took time.Duration) {
	m.apiRequests.with(route, StatusClass(status)).inc()
	m.apiSeconds.with(route).observe(took.Seconds())
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

// cacheCounters are the metrics RegisterCache exports for each cache.
var cacheCounters = []struct {
	name, help, typ string
	read            func(cache.Stats) uint64
}{
	{"cache_hits_total", "Lookups answered from a fresh entry.", typeCounter, func(s cache.Stats) uint64 { return s.Hits }},
	{"cache_misses_total", "Lookups that needed a load (own or joined).", typeCounter, func(s cache.Stats) uint64 { return s.Misses }},
	{"cache_stale_serves_total", "Expired entries served because the load failed or the API asked to back off.", typeCounter, func(s cache.Stats) uint64 { return s.StaleServes }},
	{"cache_evictions_total", "Entries dropped to respect the size bound.", typeCounter, func(s cache.Stats) uint64 { return s.Evictions }},
	{"cache_coalesced_waits_total", "Lookups that waited for another caller's load instead of calling the API.", typeCounter, func(s cache.Stats) uint64 { return s.CoalescedWaits }},
	{"cache_load_errors_total", "Loads that failed.", typeCounter, func(s cache.Stats) uint64 { return s.LoaderErrors }},
	{"rate_limit_backoffs_total", "Backend API rate limits (429 with Retry-After) that paused every load.", typeCounter, func(s cache.Stats) uint64 { return s.RateLimitBackoffs }},
	{"cache_shared_hits_total", "Misses answered by the level replicas share (Redis).", typeCounter, func(s cache.Stats) uint64 { return s.SharedHits }},
	{"cache_shared_waits_total", "Misses that waited for another replica's load of the same key.", typeCounter, func(s cache.Stats) uint64 { return s.SharedWaits }},
	{"cache_shared_errors_total", "Calls to the shared level (Redis) that failed or returned what does not decode; the miss was loaded locally.", typeCounter, func(s cache.Stats) uint64 { return s.SharedErrors }},
	{"cache_entries", "Entries held.", typeGauge, func(s cache.Stats) uint64 { return uint64(s.Entries) }},
}

// RegisterCache exports a cache's counters, labelled cache=name. The
// counters are read at scrape time, so the cache keeps no reference to
// the metrics. A name registered twice is an error.
func (m *Metrics) RegisterCache(name string, c CacheStats) error {
	labels := labelSet{names: []string{"cache"}, values: []string{name}}
	for _, cc := range cacheCounters {
		read := cc.read
		if err := m.cacheFamilies[cc.name].add(labels, func() float64 { return float64(read(c.Stats())) }); err != nil {
			return fmt.Errorf("register cache %q metrics: %w", name, err)
		}
	}
	return nil
}
