package observe

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// traceparentHeader is the W3C trace context header in http.Header's
// canonical form.
const traceparentHeader = "Traceparent"

// instrumentationName names our tracer.
const instrumentationName = "github.com/clerk-forward-auth/clerk-forward-auth"

// TracingOptions configure NewTracing.
type TracingOptions struct {
	ServiceName string // default "clerk-forward-auth"; OTEL_SERVICE_NAME wins
	Version     string
	// Getenv reads the environment (tests); default os.Getenv. The
	// exporter's OTEL_EXPORTER_OTLP_* variables are read through it; the
	// SDK reads its own (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
	// OTEL_TRACES_SAMPLER, OTEL_BSP_*) from the process environment.
	Getenv func(string) string
}

// Tracing starts the service's spans. It never sets the OpenTelemetry
// globals: the provider is passed to what needs it.
type Tracing struct {
	enabled  bool
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	shutdown func(context.Context) error
}

// NewTracing exports spans over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT
// or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (and neither
// OTEL_SDK_DISABLED=true nor OTEL_TRACES_EXPORTER=none; another exporter
// is refused); otherwise tracing
// is off and costs nothing but reading an incoming traceparent, so that log
// lines still carry the proxy's trace id.
func NewTracing(ctx context.Context, o TracingOptions) (*Tracing, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.ServiceName == "" {
		o.ServiceName = "clerk-forward-auth"
	}
	env := o.Getenv
	if strings.EqualFold(env("OTEL_SDK_DISABLED"), "true") {
		return NewTracingWith(nil), nil
	}
	// Only OTLP is built in: another exporter asked for would otherwise be
	// OTLP (with an endpoint) or nothing at all, without a word.
	if e := env("OTEL_TRACES_EXPORTER"); e != "" && e != "otlp" && e != "none" {
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: only otlp (or none) is supported", e)
	}
	if env("OTEL_TRACES_EXPORTER") == "none" ||
		(env("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "") {
		return NewTracingWith(nil), nil
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := env(name); p != "" && p != "http/protobuf" {
			return nil, fmt.Errorf("%s=%q: only http/protobuf is supported (the collector's port 4318)", name, p)
		}
	}
	cfg, err := newOTLPConfig(env, nil)
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	userAgent := "clerk-forward-auth"
	if o.Version != "" {
		userAgent += "/" + o.Version
	}
	exp := newOTLPExporter(cfg, userAgent)
	// Later options win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override our defaults.
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", o.ServiceName), attribute.String("service.version", o.Version)),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("otel resource: %w", err)
	}
	// The sampler follows OTEL_TRACES_SAMPLER (default: parent-based,
	// always on), so the proxy's sampling decision is kept.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	t := NewTracingWith(tp)
	t.enabled, t.shutdown = true, tp.Shutdown
	return t, nil
}

// NewTracingWith traces to tp (nil: no spans are recorded, but incoming
// trace context is still read). Tests pass an SDK provider with an
// in-memory exporter.
func NewTracingWith(tp trace.TracerProvider) *Tracing {
	t := &Tracing{
		enabled:  tp != nil,
		prop:     propagation.TraceContext{},
		shutdown: func(context.Context) error { return nil },
	}
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	t.tracer = tp.Tracer(instrumentationName)
	return t
}

// Enabled reports whether spans are recorded.
func (t *Tracing) Enabled() bool { return t.enabled }

// Shutdown flushes buffered spans.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if err := t.shutdown(ctx); err != nil {
		return fmt.Errorf("flush spans: %w", err)
	}
	return nil
}

// StartServer starts a server span that continues the W3C traceparent in
// h (the proxy's), if any. attrs must not carry tokens. With tracing off
// and no traceparent, there is nothing to carry: ctx is returned as is
// with its (non-recording) span, at no cost.
func (t *Tracing) StartServer(ctx context.Context, h http.Header, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !t.enabled && len(h[traceparentHeader]) == 0 {
		return ctx, trace.SpanFromContext(ctx)
	}
	ctx = t.prop.Extract(ctx, propagation.HeaderCarrier(h))
	return t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
}

// Transport wraps base (nil: http.DefaultTransport) so that every Backend
// API call is a client span named "GET /v1/users/{id}": route maps a
// request to a bounded template (clerk.RouteTemplate of the URL path).
// The span carries method, host, template and status, never the URL's
// query or any header. With tracing off, base is returned as is.
func (t *Tracing) Transport(base http.RoundTripper, route func(*http.Request) string) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if !t.enabled {
		return base
	}
	return &tracingTransport{base: base, tracer: t.tracer, route: route}
}

type tracingTransport struct {
	base   http.RoundTripper
	tracer trace.Tracer
	route  func(*http.Request) string
}

func (t *tracingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	route := t.route(r)
	ctx, span := t.tracer.Start(r.Context(), r.Method+" "+route,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("server.address", r.URL.Hostname()),
			attribute.String("url.template", route),
		))
	defer span.End()
	resp, err := t.base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		// The error text may quote the URL; the type is enough.
		span.SetAttributes(attribute.String("error.type", fmt.Sprintf("%T", err)))
		span.SetStatus(codes.Error, "request failed")
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetStatus(codes.Error, StatusClass(resp.StatusCode))
	}
	return resp, nil
}
