package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/handlers"
	"github.com/clerk-forward-auth/clerk-forward-auth/observe"
	"github.com/clerk-forward-auth/clerk-forward-auth/webhooks"
)

// observability is the wired observe/ parts (issue #6).
type observability struct {
	metrics   *observe.Metrics
	tracing   *observe.Tracing
	apiHealth *observe.APIHealth
	accessLog *observe.AccessLog
	policy    *authz.PolicyFile // nil without POLICY_FILE
}

func newObservability(cfg *Config, logger *slog.Logger) (*observability, error) {
	tracing, err := observe.NewTracing(context.Background(), observe.TracingOptions{Version: version})
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	return &observability{
		metrics:   observe.NewMetrics(version),
		tracing:   tracing,
		apiHealth: observe.NewAPIHealth(nil),
		accessLog: observe.NewAccessLog(logger, observe.AccessLogOptions{AllowSample: cfg.allowSample}),
	}, nil
}

// namedCache is a Backend API cache and its metrics label. Each can
// also follow the other replicas' invalidations (with REDIS_URL).
type namedCache struct {
	name  string
	cache interface {
		observe.CacheStats
		Follow(ctx context.Context) error
	}
}

// watchParts exports the Backend API caches' counters and remembers the
// policy for /readyz. Parts that are off are left out of caches.
func (o *observability) watchParts(policy *authz.PolicyFile, caches ...namedCache) error {
	for _, c := range caches {
		if err := o.metrics.RegisterCache(c.name, c.cache); err != nil {
			return err
		}
	}
	o.policy = policy
	return nil
}

// webhookEvent counts a webhook (webhooks.Options.OnEvent). Types the
// service does not handle are counted as "other": the label set stays
// closed whatever a sender writes.
func (o *observability) webhookEvent(eventType, outcome string) {
	if !slices.Contains(webhooks.HandledEventTypes(), eventType) {
		eventType = "other"
	}
	o.metrics.Webhook(eventType, outcome)
}

// apiTransport traces Backend API calls (when tracing is on), each span
// named by its route template.
func (o *observability) apiTransport() http.RoundTripper {
	return o.tracing.Transport(nil, func(r *http.Request) string { return clerk.RouteTemplate(r.URL.Path) })
}

// onAPICall is clerk.API.OnCall: metrics and /readyz's Backend API line.
func (o *observability) onAPICall(route string, status int, err error, took time.Duration) {
	o.metrics.APICall(route, status, err, took)
	o.apiHealth.Observe(route, status, err, took)
}

// routerOptions fills the router's observability options. /metrics is on
// the main listener only when METRICS_ADDR does not give it its own.
func (o *observability) routerOptions(cfg *Config, opts handlers.Options) handlers.Options {
	opts.Metrics, opts.AccessLog, opts.Tracing = o.metrics, o.accessLog, o.tracing
	if cfg.MetricsAddr == "" {
		opts.MetricsHandler = o.metrics.Handler()
	}
	if o.policy != nil {
		// A bad file stops start-up and a bad reload keeps the rules in
		// force, so a loaded policy stays loaded: the line only shows
		// operators that POLICY_FILE is in use.
		opts.ReadyChecks = append(opts.ReadyChecks, handlers.ReadyCheck{Name: "policy", Fatal: true, Check: func(context.Context) error { return nil }})
	}
	if cfg.SecretKey != "" {
		// Not fatal: cached keys and memberships keep serving while Clerk
		// is away, and a 503 here would take every replica out at once.
		opts.ReadyChecks = append(opts.ReadyChecks, handlers.ReadyCheck{Name: "backend_api", Check: o.apiHealth.Check})
	}
	return opts
}

// serveMetrics serves /metrics (and /healthz) on METRICS_ADDR; it returns
// a shutdown function, a no-op when METRICS_ADDR is unset.
func (o *observability) serveMetrics(cfg *Config, logger *slog.Logger) (func(context.Context) error, error) {
	if cfg.MetricsAddr == "" {
		return func(context.Context) error { return nil }, nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (METRICS_ADDR): %w", cfg.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", o.metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	srv := newHTTPServer(mux, logger)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics listener stopped", "error", err.Error())
		}
	}()
	logger.Info("metrics listening", "addr", ln.Addr().String())
	return srv.Shutdown, nil
}

// shutdown flushes spans, giving up after a few seconds: a collector that
// is away must not hold the process.
func (o *observability) shutdown(ctx context.Context, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := o.tracing.Shutdown(ctx); err != nil {
		logger.Warn("tracing shutdown", "error", err.Error())
	}
}
