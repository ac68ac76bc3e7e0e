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

// outcome is what an observed endpoint returns to the wrapper around it:
// the decision, or that the proxy's request was unreadable, and the
// status it answered.
type outcome struct {
	req     *authz.Request
	d       authz.Decision
	bad     error
	status  int  // 0: not HTTP (gRPC)
	decided bool // neither decided nor bad: refused before any decision
}

// observedFunc serves one auth request. ctx carries the decision span; hs
// sets reply headers from one backing array (the request id is in it).
type observedFunc func(ctx context.Context, w http.ResponseWriter, r *http.Request, hs *headerSetter) outcome

// observed wraps one auth endpoint: request id, the decision span (which
// continues the proxy's traceparent; nothing when tracing is off and the
// proxy sent none), then after the reply the access log line and metrics.
// The outcome is returned, not passed through the request's context, so
// a request costs no context or request copy.
func (s *server) observed(endpoint string, serve observedFunc) http.Handler {
	ob := s.obs
	spanName := "decide " + endpoint
	spanAttrs := []attribute.KeyValue{attribute.String("authz.endpoint", endpoint)}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		hs := newHeaderSetter(w.Header())
		requestID := observe.RequestID(header(r.Header, headerRequestID))
		hs.set(headerRequestID, requestID)
		ctx, span := ob.tracing.StartServer(r.Context(), r.Header, spanName, spanAttrs...)
		defer span.End()
		out := serve(ctx, w, r, hs)
		if !out.decided && out.bad == nil {
			return // refused before any decision (e.g. method not allowed)
		}
		now := time.Now()
		ob.record(ctx, endpoint, &out, requestID, now, now.Sub(start))
	})
}

// record logs and counts one outcome, and annotates the current span.
func (ob *observer) record(ctx context.Context, endpoint string, out *outcome, requestID string, now time.Time, took time.Duration) {
	lr := observe.Record{Endpoint: endpoint, Status: out.status, RequestID: requestID, Latency: took}
	if out.bad != nil {
		lr.Outcome, lr.Reason, lr.Detail = outcomeBadRequest, reasonBadRequest, out.bad.Error()
	} else {
		req, d := out.req, &out.d
		lr.Method, lr.Host, lr.Path, lr.ClientIP = req.Method, req.URL.Host, req.URL.Path, req.ClientIP
		lr.Outcome, lr.Reason, lr.Detail = d.Outcome.String(), string(d.Reason), d.Message
		lr.UserID, lr.OrgID = d.Identity.UserID, d.Identity.OrgID
	}
	if ob.metrics != nil {
		ob.metrics.Decision(endpoint, lr.Outcome, lr.Reason, took)
	}
	ob.log.LogAt(ctx, now, &lr)
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(
		attribute.String("authz.outcome", lr.Outcome),
		attribute.String("authz.reason", observe.ReasonLabel(lr.Reason)),
		attribute.String("http.request.method", lr.Method),
		attribute.String("server.address", lr.Host),
		attribute.Int("http.response.status_code", out.status),
	)
	if lr.UserID != "" {
		span.SetAttributes(attribute.String("enduser.id", lr.UserID))
	}
	if out.status >= 500 {
		span.SetStatus(codes.Error, lr.Outcome)
	}
}

// header is h.Get for a key already in canonical form: a map lookup,
// without canonicalising the key again.
func header(h http.Header, canonicalKey string) string {
	if v := h[canonicalKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}
