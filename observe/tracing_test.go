package observe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestNewTracingIsOffUnlessAnOTLPEndpointIsSet(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		enabled bool
		err     string
	}{
		{"nothing set", nil, false, ""},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true, ""},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true, ""},
		{"sdk disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, false, ""},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, false, ""},
		{"grpc protocol refused", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{"exporter otlp", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "otlp"}, true, ""},
		// An exporter the service does not have: refused, not silently OTLP (or off).
		{"zipkin exporter refused", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "zipkin"}, false, "OTEL_TRACES_EXPORTER"},
		{"console exporter refused", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, false, "OTEL_TRACES_EXPORTER"},
		{"two exporters refused", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "otlp,console"}, false, "OTEL_TRACES_EXPORTER"},
		{"any exporter with the SDK disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "zipkin"}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := NewTracing(context.Background(), TracingOptions{Version: "test", Getenv: env(tt.vars)})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one naming %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := tr.Shutdown(context.Background()); err != nil {
					t.Error(err)
				}
			}()
			if tr.Enabled() != tt.enabled {
				t.Errorf("enabled = %v, want %v", tr.Enabled(), tt.enabled)
			}
		})
	}
}

func TestStartServerContinuesTheProxysTraceparent(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tr := NewTracingWith(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)))
	h := http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	_, span := tr.StartServer(context.Background(), h, "decide forward-auth")
	span.End()
	got := sr.Ended()[0]
	if got.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || got.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("span %s parent %s: the proxy's trace was not continued", got.SpanContext().TraceID(), got.Parent().SpanID())
	}
	if got.SpanKind() != trace.SpanKindServer {
		t.Errorf("kind %v", got.SpanKind())
	}
}

func TestDisabledTracingStillReadsTraceparentForLogs(t *testing.T) {
	tr := NewTracingWith(nil)
	h := http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	ctx, span := tr.StartServer(context.Background(), h, "x")
	defer span.End()
	if got := trace.SpanContextFromContext(ctx).TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace id %q", got)
	}
	if tr.Transport(http.DefaultTransport, nil) != http.DefaultTransport {
		t.Error("disabled tracing should not wrap the transport")
	}
}

func TestTransportSpanNamesTheRouteAndKeepsSecretsOut(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "missing") {
			w.WriteHeader(404)
		}
	}))
	defer api.Close()
	sr := tracetest.NewSpanRecorder()
	tr := NewTracingWith(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)))
	route := func(r *http.Request) string { return "/v1/users/{id}" }
	client := &http.Client{Transport: tr.Transport(nil, route)}
	for _, path := range []string{"/v1/users/user_2secretish?limit=500", "/v1/users/missing"} {
		req, _ := http.NewRequest("GET", api.URL+path, nil)
		req.Header.Set("Authorization", "Bearer sk_test_topsecret")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	spans := sr.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	for i, wantStatus := range []int64{200, 404} {
		s := spans[i]
		if s.Name() != "GET /v1/users/{id}" || s.SpanKind() != trace.SpanKindClient {
			t.Errorf("span %q kind %v", s.Name(), s.SpanKind())
		}
		attrs := attribute.NewSet(s.Attributes()...)
		if v, _ := attrs.Value("http.response.status_code"); v.AsInt64() != wantStatus {
			t.Errorf("status %v, want %d", v, wantStatus)
		}
		for _, kv := range s.Attributes() {
			if v := kv.Value.String(); strings.Contains(v, "sk_test") || strings.Contains(v, "user_2secretish") || strings.Contains(v, "limit=") {
				t.Errorf("attribute %s = %q leaks", kv.Key, v)
			}
		}
	}
}
