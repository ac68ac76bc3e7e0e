package handlers

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/observe"
)

// Outcome and reason of a proxy request we could not read (400).
const (
	outcomeBadRequest = "bad-request"
	reasonBadRequest  = "bad-proxy-request"
)

// observer turns each answered auth request into one access-log line, the
// decision metrics and the decision span.
type observer struct {
	metrics *observe.Metrics // nil: none
	log     *observe.AccessLog
	tracing *observe.Tracing
}

func newObserver(o Options) *observer {
	ob := &observer{metrics: o.Metrics, log: o.AccessLog, tracing: o.Tracing}
	if ob.log == nil {
		ob.log = observe.NewAccessLog(o.Logger, observe.AccessLogOptions{AllowSample: 1})
	}
	if ob.tracing == nil {
		ob.tracing = observe.NewTracingWith(nil)
	}
	return ob
}

// newServer builds the state the HTTP and gRPC adapters share.
func newServer(o Options) *server {
	return &server{engine: o.Engine, log: o.Logger, obs: newObserver(o)}
}

// outcomeRecord is what an endpoint tells the observing wrapper around it:
// the decision, or that the proxy's request was unreadable.
type outcomeRecord struct {
	req     *authz.Request
	d       authz.Decision
	bad     error
	decided bool
}

type outcomeKey struct{}

// observed wraps one auth endpoint: request id, the decision span (which
// continues the proxy's traceparent), then after the reply the access
// log line and metrics. The endpoint reports through logDecision and
// logBadRequest.
func (s *server) observed(endpoint string, next http.Handler) http.Handler {
	ob := s.observer()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		requestID := observe.RequestID(r.Header.Get("X-Request-Id"))
		w.Header().Set("X-Request-Id", requestID)
		ctx, span := ob.tracing.StartServer(r.Context(), r.Header, "decide "+endpoint, attribute.String("authz.endpoint", endpoint))
		defer span.End()
		rec := &outcomeRecord{}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(ctx, outcomeKey{}, rec)))
		if !rec.decided && rec.bad == nil {
			return // refused before any decision (e.g. method not allowed)
		}
		ob.record(ctx, endpoint, rec, sw.code(), requestID, time.Since(start))
	})
}

// record logs and counts one outcome, and annotates the current span.
func (ob *observer) record(ctx context.Context, endpoint string, rec *outcomeRecord, status int, requestID string, took time.Duration) {
	lr := observe.Record{Endpoint: endpoint, Status: status, RequestID: requestID, Latency: took}
	if rec.bad != nil {
		lr.Outcome, lr.Reason, lr.Detail = outcomeBadRequest, reasonBadRequest, rec.bad.Error()
	} else {
		req, d := rec.req, rec.d
		lr.Method, lr.Host, lr.Path, lr.ClientIP = req.Method, req.URL.Host, req.URL.Path, req.ClientIP
		lr.Outcome, lr.Reason, lr.Detail = d.Outcome.String(), string(d.Reason), d.Message
		lr.UserID, lr.OrgID = d.Identity.UserID, d.Identity.OrgID
	}
	if ob.metrics != nil {
		ob.metrics.Decision(endpoint, lr.Outcome, lr.Reason, took)
	}
	ob.log.Log(ctx, lr)
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(
		attribute.String("authz.outcome", lr.Outcome),
		attribute.String("authz.reason", observe.ReasonLabel(lr.Reason)),
		attribute.String("http.request.method", lr.Method),
		attribute.String("server.address", lr.Host),
		attribute.Int("http.response.status_code", status),
	)
	if lr.UserID != "" {
		span.SetAttributes(attribute.String("enduser.id", lr.UserID))
	}
	if status >= 500 {
		span.SetStatus(codes.Error, lr.Outcome)
	}
}

// observer is the server's, or one that only logs (a server built
// without newServer).
func (s *server) observer() *observer {
	if s.obs != nil {
		return s.obs
	}
	return newObserver(Options{Logger: s.log})
}

// logDecision reports a decision: to the wrapper around an HTTP endpoint,
// or, for an adapter without one (gRPC), straight to the log and metrics.
func (s *server) logDecision(ctx context.Context, req *authz.Request, d authz.Decision, took time.Duration) {
	if rec, ok := ctx.Value(outcomeKey{}).(*outcomeRecord); ok {
		rec.req, rec.d, rec.decided = req, d, true
		return
	}
	status := 0 // not HTTP
	s.observer().record(ctx, req.Endpoint, &outcomeRecord{req: req, d: d, decided: true}, status, observe.RequestID(req.Header.Get("X-Request-Id")), took)
}

// logBadRequest reports a proxy request we could not read.
func (s *server) logBadRequest(ctx context.Context, err error) {
	if rec, ok := ctx.Value(outcomeKey{}).(*outcomeRecord); ok {
		rec.bad = err
		return
	}
	s.log.WarnContext(ctx, "bad proxy request", "error", observe.Redact(err.Error()))
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
