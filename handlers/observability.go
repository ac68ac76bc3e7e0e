package handlers

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	grpccodes "google.golang.org/grpc/codes"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/observe"
)

// Outcome and reason of a proxy request we could not read (400).
const (
	outcomeBadRequest = "bad-request"
	reasonBadRequest  = string(authz.ReasonBadProxyRequest)
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
	return &server{engine: o.Engine, log: o.Logger, obs: newObserver(o), rules: newRuleCache()}
}

// outcome is what a decision returns to the observation around it: the
// decision, or that the proxy's request was unreadable, and what the
// caller was answered.
type outcome struct {
	req    *authz.Request // nil when bad
	d      authz.Decision
	bad    error          // the proxy's request could not be read
	status int            // HTTP: the reply's status
	code   grpccodes.Code // gRPC: the reply's status
}

// observation is what every auth decision runs inside, over HTTP and
// gRPC alike, so the two cannot drift: the decision span (continuing the
// proxy's traceparent; nothing when tracing is off and the proxy sent
// none), the decision, then the access log line, the metrics and the
// span's attributes. Built once per endpoint.
type observation struct {
	ob       *observer
	endpoint string // the endpoint label of logs, metrics and spans
	grpc     bool   // the reply's status is a gRPC code, not an HTTP status
	spanName string
	attrs    []attribute.KeyValue
}

func (ob *observer) observation(endpoint string, grpc bool) *observation {
	return &observation{
		ob: ob, endpoint: endpoint, grpc: grpc,
		spanName: "decide " + endpoint,
		attrs:    []attribute.KeyValue{attribute.String("authz.endpoint", endpoint)},
	}
}

// run observes one decision. traceHeaders carry the caller's trace
// context (nil: none); requestID names the decision in the log line.
// decide is called, not stored, so the closure callers pass stays on the
// stack: an observed request costs no allocation of its own.
func (o *observation) run(ctx context.Context, traceHeaders http.Header, requestID string, decide func(context.Context) outcome) {
	start := time.Now()
	ctx, span := o.ob.tracing.StartServer(ctx, traceHeaders, o.spanName, o.attrs...)
	defer span.End()
	out := decide(ctx)
	// One clock read for both: time.Since reads the monotonic clock only,
	// and the line's wall time follows from the start's.
	took := time.Since(start)
	o.record(ctx, &out, requestID, start.Add(took), took)
}

// observedFunc serves one auth request. ctx carries the decision span; hs
// sets reply headers from one backing array (the request id is in it).
type observedFunc func(ctx context.Context, w http.ResponseWriter, r *http.Request, hs *headerSetter) outcome

// observed wraps one HTTP auth endpoint in its observation, after setting
// the request id on the reply. The outcome is returned, not passed
// through the request's context, so a request costs no context or
// request copy.
func (s *server) observed(endpoint string, serve observedFunc) http.Handler {
	o := s.obs.observation(endpoint, false)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hs := newHeaderSetter(w.Header())
		requestID := observe.RequestID(header(r.Header, headerRequestID))
		hs.set(headerRequestID, requestID)
		o.run(r.Context(), r.Header, requestID, func(ctx context.Context) outcome { return serve(ctx, w, r, hs) })
	})
}

// record logs and counts one outcome, and annotates the decision span.
func (o *observation) record(ctx context.Context, out *outcome, requestID string, now time.Time, took time.Duration) {
	lr := observe.Record{Endpoint: o.endpoint, Status: out.status, RequestID: requestID, Latency: took}
	if out.bad != nil {
		lr.Outcome, lr.Reason, lr.Detail = outcomeBadRequest, reasonBadRequest, out.bad.Error()
	} else {
		req, d := out.req, &out.d
		lr.Method, lr.Host, lr.Path, lr.ClientIP = req.Method, req.URL.Host, req.URL.Path, req.ClientIP
		lr.Outcome, lr.Reason, lr.Detail = d.Outcome.String(), string(d.Reason), d.Message
		lr.UserID, lr.OrgID = d.Identity.UserID, d.Identity.OrgID
		lr.TokenType, lr.MachineID, lr.TokenID = string(d.Identity.TokenType), d.Identity.MachineID, d.Identity.TokenID
	}
	if o.ob.metrics != nil {
		o.ob.metrics.Decision(o.endpoint, lr.Outcome, lr.Reason, took)
	}
	o.ob.log.LogAt(ctx, now, &lr)
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(
		attribute.String("authz.outcome", lr.Outcome),
		attribute.String("authz.reason", observe.ReasonLabel(lr.Reason)),
		attribute.String("http.request.method", lr.Method),
		attribute.String("server.address", lr.Host),
	)
	if lr.UserID != "" {
		span.SetAttributes(attribute.String("enduser.id", lr.UserID))
	}
	failed := out.status >= 500
	if o.grpc {
		// An outage or a misconfiguration is a gRPC error (Envoy applies
		// status_on_error), as it is a 5xx over HTTP.
		span.SetAttributes(attribute.Int("rpc.grpc.status_code", int(out.code)))
		failed = out.code == grpccodes.Unavailable || out.code == grpccodes.Internal
	} else {
		span.SetAttributes(attribute.Int("http.response.status_code", out.status))
	}
	if failed {
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
