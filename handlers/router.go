package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/observe"
)

// Options are the router's parts.
type Options struct {
	Engine *authz.Engine
	Logger *slog.Logger
	// TrustedProxies (TRUSTED_PROXIES) are the only peers the auth
	// endpoints answer; nil accepts every peer. Health endpoints are exempt.
	TrustedProxies []netip.Prefix
	// Observability (observe/): nil Metrics and Tracing record nothing; a
	// nil AccessLog logs every decision to Logger. MetricsHandler, when
	// set, is served at /metrics (unset when METRICS_ADDR has its own
	// listener). ReadyChecks add to /readyz's "keys loaded".
	Metrics        *observe.Metrics
	AccessLog      *observe.AccessLog
	Tracing        *observe.Tracing
	MetricsHandler http.Handler
	ReadyChecks    []ReadyCheck
}

// NewRouter builds the service's HTTP handler.
func NewRouter(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := newServer(o)
	r := chi.NewRouter()
	trusted := guardAuthEndpoints(o.TrustedProxies, o.Logger)
	r.Handle("/forward-auth", trusted(s.observed("forward-auth", s.endpoint(readForwardAuth, dialect{redirects: true}, true))))
	r.Handle("/auth-request", trusted(s.observed("auth-request", s.endpoint(readAuthRequest, dialect{}, true))))
	r.Handle(extAuthzPrefix, trusted(s.observed("ext-authz", s.endpoint(readExtAuthz, dialect{redirects: true, envoy: true}, false))))
	r.Handle(extAuthzPrefix+"/*", trusted(s.observed("ext-authz", s.endpoint(readExtAuthz, dialect{redirects: true, envoy: true}, false))))
	r.Method(http.MethodGet, o.Engine.CallbackPath(), trusted(s.observed("callback", http.HandlerFunc(s.callback))))
	r.Get("/healthz", healthz)
	r.Get("/readyz", s.ready(o.ReadyChecks))
	if o.MetricsHandler != nil {
		r.Handle("/metrics", o.MetricsHandler)
	}
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, "not_found", "unknown endpoint")
	})
	return r
}

type server struct {
	engine *authz.Engine
	log    *slog.Logger
	obs    *observer // observability.go
}

type reader func(*http.Request) (*authz.Request, error)

// endpoint serves one proxy dialect. ruleInQuery: the auth URL's query
// string is the operator's per-route rule (not so for Envoy, whose query is
// the original request's).
func (s *server) endpoint(read reader, dl dialect, ruleInQuery bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		req, err := read(r)
		if err != nil {
			s.logBadRequest(r.Context(), err)
			writeJSON(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		var d authz.Decision
		if ruleInQuery {
			req.Rule, err = ruleFromQuery(r, req)
		}
		if err != nil {
			d = authz.Decision{Outcome: authz.Misconfigured, Reason: authz.ReasonInvalidRule, Message: err.Error()}
		} else {
			d = s.engine.Decide(r.Context(), req)
		}
		render(w, d, dl)
		s.logDecision(r.Context(), req, d, time.Since(start))
	})
}

// ruleFromQuery reads the operator's rule from the auth URL. Caddy appends
// the client's query to a uri without "?", which would let clients write
// policy: a rule query equal to the original query is refused.
func ruleFromQuery(r *http.Request, req *authz.Request) (*authz.Rule, error) {
	if r.URL.RawQuery == "" {
		return nil, nil
	}
	if r.URL.RawQuery == req.URL.RawQuery {
		return nil, errQueryIsClients
	}
	return authz.ParseRuleQuery(r.URL.Query())
}

var errQueryIsClients = errors.New("the auth URL's query equals the original request's query: write the proxy's auth URI with a '?' (e.g. uri /forward-auth?) so the client's query is not appended")
