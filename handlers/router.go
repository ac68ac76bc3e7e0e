package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
)

// Options are the router's parts.
type Options struct {
	Engine *authz.Engine
	Logger *slog.Logger
}

// NewRouter builds the service's HTTP handler.
func NewRouter(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &server{engine: o.Engine, log: o.Logger}
	r := chi.NewRouter()
	r.Handle("/forward-auth", s.endpoint(readForwardAuth, dialect{redirects: true}, true))
	r.Handle("/auth-request", s.endpoint(readAuthRequest, dialect{}, true))
	r.Handle(extAuthzPrefix, s.endpoint(readExtAuthz, dialect{redirects: true, envoy: true}, false))
	r.Handle(extAuthzPrefix+"/*", s.endpoint(readExtAuthz, dialect{redirects: true, envoy: true}, false))
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.Get("/readyz", s.ready)
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, "not_found", "unknown endpoint")
	})
	return r
}

type server struct {
	engine *authz.Engine
	log    *slog.Logger
}

func (s *server) ready(w http.ResponseWriter, _ *http.Request) {
	if !s.engine.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, "not_ready", "keys not loaded")
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ready\n"))
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
			s.log.Warn("bad proxy request", "path", r.URL.Path, "error", err.Error())
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

func (s *server) logDecision(ctx context.Context, req *authz.Request, d authz.Decision, took time.Duration) {
	level := slog.LevelInfo
	if d.Outcome == authz.Unavailable || d.Outcome == authz.Misconfigured {
		level = slog.LevelError
	}
	s.log.LogAttrs(ctx, level, "decision",
		slog.String("endpoint", req.Endpoint),
		slog.String("method", req.Method),
		slog.String("host", req.URL.Host),
		slog.String("path", req.URL.Path),
		slog.String("outcome", d.Outcome.String()),
		slog.String("reason", string(d.Reason)),
		slog.String("detail", d.Message),
		slog.String("user_id", d.Identity.UserID),
		slog.String("org_id", d.Identity.OrgID),
		slog.String("client_ip", req.ClientIP),
		slog.Duration("latency", took),
	)
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
