package observe

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP receiver for tests: it decodes each request
// with the generated OTLP messages (an implementation independent of
// ours) and answers with the next of its replies (the last one repeats).
type collector struct {
	t       *testing.T
	mu      sync.Mutex
	got     []*coltracepb.ExportTraceServiceRequest
	headers []http.Header
	paths   []string
	replies []reply
}

type reply struct {
	status     int
	retryAfter string
	body       []byte // sent as application/x-protobuf
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		c.t.Errorf("read body: %v", err)
		return
	}
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			c.t.Errorf("gzip: %v", err)
			return
		}
		if body, err = io.ReadAll(zr); err != nil {
			c.t.Errorf("gunzip: %v", err)
			return
		}
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		c.t.Errorf("the request does not decode as an ExportTraceServiceRequest: %v", err)
	}
	c.mu.Lock()
	c.got = append(c.got, &req)
	c.headers = append(c.headers, r.Header.Clone())
	c.paths = append(c.paths, r.URL.Path)
	rep := reply{status: http.StatusOK}
	if n := len(c.got); len(c.replies) > 0 {
		rep = c.replies[min(n, len(c.replies))-1]
	}
	c.mu.Unlock()
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-protobuf" {
		c.t.Errorf("%s with Content-Type %q, want a POST of application/x-protobuf", r.Method, r.Header.Get("Content-Type"))
	}
	if rep.retryAfter != "" {
		w.Header().Set("Retry-After", rep.retryAfter)
	}
	if rep.body != nil {
		w.Header().Set("Content-Type", "application/x-protobuf")
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
}

func (c *collector) requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

// testExporter exports to url with the variables in vars.
func testExporter(t *testing.T, url string, vars map[string]string) *otlpExporter {
	t.Helper()
	all := map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": url}
	for k, v := range vars {
		all[k] = v
	}
	cfg, err := newOTLPConfig(env(all), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newOTLPExporter(cfg, "clerk-forward-auth/test")
	e.backoff, e.maxBackoff = 10*time.Millisecond, 20*time.Millisecond
	t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	return e
}

// testSpans are spans the SDK made: two resources, three scopes, a
// remote parent with a trace state, a local child, every attribute type,
// events and links past the limits.
func testSpans(t *testing.T) []sdktrace.ReadOnlySpan {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	limits := sdktrace.NewSpanLimits()
	limits.AttributeCountLimit = 10
	limits.EventCountLimit = 1
	limits.LinkCountLimit = 1
	limits.AttributePerEventCountLimit = 1
	limits.AttributePerLinkCountLimit = 1
	res := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0", attribute.String("service.name", "svc-a"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(res), sdktrace.WithRawSpanLimits(limits))
	other := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "svc-b"))))

	ts, _ := trace.ParseTraceState("vendor=opaque")
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true,
	})
	linkTS, _ := trace.ParseTraceState("other=1")
	linked := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceState: linkTS, Remote: true,
	})
	start := time.Unix(1_700_000_000, 123)
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), parent)
	a := tp.Tracer("scope-a", trace.WithInstrumentationVersion("1.2.3"), trace.WithSchemaURL("https://opentelemetry.io/schemas/1.24.0"),
		trace.WithInstrumentationAttributes(attribute.String("scope.attr", "x")))
	ctx, server := a.Start(ctx, "decide forward-auth", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start),
		trace.WithLinks(
			trace.Link{SpanContext: linked}, // past LinkCountLimit: dropped
			trace.Link{SpanContext: linked, Attributes: []attribute.KeyValue{attribute.String("link.kept", "k"), attribute.String("link.dropped", "d")}},
		),
		trace.WithAttributes(
			attribute.String("s", "v"), attribute.String("empty", ""),
			attribute.Bool("t", true), attribute.Bool("f", false),
			attribute.Int64("i", -42), attribute.Int64("zero", 0),
			attribute.Float64("d", 2.5),
			attribute.StringSlice("ss", []string{"a", ""}), attribute.BoolSlice("bs", []bool{true, false}),
			attribute.Int64Slice("is", []int64{1, -1}),
			attribute.Float64Slice("fs", []float64{0.5}), // the eleventh: dropped
		))
	server.AddEvent("first", trace.WithTimestamp(start.Add(time.Millisecond))) // past EventCountLimit: dropped
	server.AddEvent("cache miss", trace.WithTimestamp(start.Add(2*time.Millisecond)),
		trace.WithAttributes(attribute.String("cache", "memberships"), attribute.Int("dropped", 1)))
	server.SetStatus(codes.Error, "boom")
	_, client := tp.Tracer("scope-b").Start(ctx, "GET /v1/users/{id}", trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(start.Add(3*time.Millisecond)))
	client.SetStatus(codes.Ok, "")
	client.End(trace.WithTimestamp(start.Add(4 * time.Millisecond)))
	server.End(trace.WithTimestamp(start.Add(5 * time.Millisecond)))
	_, lone := other.Tracer("scope-a", trace.WithInstrumentationVersion("1.2.3")).Start(context.Background(), "lone")
	lone.End()
	return rec.Ended()
}

// find returns the span named name, with its scope and resource.
func find(t *testing.T, req *coltracepb.ExportTraceServiceRequest, name string) (*tracepb.Span, *tracepb.ScopeSpans, *tracepb.ResourceSpans) {
	t.Helper()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				if s.GetName() == name {
					return s, ss, rs
				}
			}
		}
	}
	t.Fatalf("no span %q in %v", name, req)
	return nil, nil, nil
}

func attrs(kvs []*commonpb.KeyValue) map[string]*commonpb.AnyValue {
	m := map[string]*commonpb.AnyValue{}
	for _, kv := range kvs {
		m[kv.GetKey()] = kv.GetValue()
	}
	return m
}

func str(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}

func boolean(b bool) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: b}}
}

func integer(i int64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
}

func array(vs ...*commonpb.AnyValue) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}}
}

func wantAttrs(t *testing.T, what string, got []*commonpb.KeyValue, want map[string]*commonpb.AnyValue) {
	t.Helper()
	m := attrs(got)
	if len(m) != len(want) {
		t.Errorf("%s: %d attributes %v, want %d", what, len(m), got, len(want))
	}
	for k, v := range want {
		if !proto.Equal(m[k], v) {
			t.Errorf("%s: attribute %s = %v, want %v", what, k, m[k], v)
		}
	}
}

func TestOTLPExportCarriesEverySpanField(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
	}{
		{"uncompressed", nil},
		{"gzip", map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}},
		{"gzip for traces only", map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "none", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			col := &collector{t: t}
			srv := httptest.NewServer(col)
			defer srv.Close()
			exp := testExporter(t, srv.URL+"/v1/traces", tt.vars)
			if err := exp.ExportSpans(context.Background(), testSpans(t)); err != nil {
				t.Fatal(err)
			}
			if col.requests() != 1 {
				t.Fatalf("%d requests, want 1", col.requests())
			}
			if got, want := col.headers[0].Get("Content-Encoding") == "gzip", tt.vars != nil; got != want {
				t.Errorf("gzip %v, want %v", got, want)
			}
			req := col.got[0]

			// Two resources; svc-a's spans under two scopes.
			if n := len(req.GetResourceSpans()); n != 2 {
				t.Fatalf("%d resource spans, want 2", n)
			}
			server, ssA, rsA := find(t, req, "decide forward-auth")
			client, ssB, rsB := find(t, req, "GET /v1/users/{id}")
			lone, ssLone, rsLone := find(t, req, "lone")
			if rsA != rsB || rsA == rsLone || len(rsA.GetScopeSpans()) != 2 {
				t.Error("spans are not grouped by resource")
			}
			if ssA == ssB || ssA == ssLone {
				t.Error("spans are not grouped by scope")
			}
			if rsA.GetSchemaUrl() != "https://opentelemetry.io/schemas/1.26.0" || rsLone.GetSchemaUrl() != "" {
				t.Errorf("resource schema URLs %q, %q", rsA.GetSchemaUrl(), rsLone.GetSchemaUrl())
			}
			wantAttrs(t, "resource", rsA.GetResource().GetAttributes(), map[string]*commonpb.AnyValue{"service.name": str("svc-a")})
			wantAttrs(t, "other resource", rsLone.GetResource().GetAttributes(), map[string]*commonpb.AnyValue{"service.name": str("svc-b")})
			if s := ssA.GetScope(); s.GetName() != "scope-a" || s.GetVersion() != "1.2.3" || ssA.GetSchemaUrl() != "https://opentelemetry.io/schemas/1.24.0" {
				t.Errorf("scope %v, schema URL %q", s, ssA.GetSchemaUrl())
			}
			wantAttrs(t, "scope", ssA.GetScope().GetAttributes(), map[string]*commonpb.AnyValue{"scope.attr": str("x")})
			if s := ssB.GetScope(); s.GetName() != "scope-b" || s.GetVersion() != "" || ssB.GetSchemaUrl() != "" {
				t.Errorf("scope %v, schema URL %q", s, ssB.GetSchemaUrl())
			}

			// The server span: a remote parent, everything set.
			traceID := []byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
			if !bytes.Equal(server.GetTraceId(), traceID) || len(server.GetSpanId()) != 8 {
				t.Errorf("trace id %x span id %x", server.GetTraceId(), server.GetSpanId())
			}
			if !bytes.Equal(server.GetParentSpanId(), []byte{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}) {
				t.Errorf("parent span id %x", server.GetParentSpanId())
			}
			if server.GetTraceState() != "vendor=opaque" {
				t.Errorf("trace state %q", server.GetTraceState())
			}
			wantFlags := uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK|tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK) | 1
			if server.GetFlags() != wantFlags {
				t.Errorf("flags %#x, want %#x", server.GetFlags(), wantFlags)
			}
			if server.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
				t.Errorf("kind %v", server.GetKind())
			}
			start := uint64(time.Unix(1_700_000_000, 123).UnixNano())
			if server.GetStartTimeUnixNano() != start || server.GetEndTimeUnixNano() != start+5_000_000 {
				t.Errorf("start %d end %d", server.GetStartTimeUnixNano(), server.GetEndTimeUnixNano())
			}
			wantAttrs(t, "server span", server.GetAttributes(), map[string]*commonpb.AnyValue{
				"s": str("v"), "empty": str(""),
				"t": boolean(true), "f": boolean(false),
				"i": integer(-42), "zero": integer(0),
				"d":  {Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 2.5}},
				"ss": array(str("a"), str("")), "bs": array(boolean(true), boolean(false)),
				"is": array(integer(1), integer(-1)),
			})
			if server.GetDroppedAttributesCount() != 1 || server.GetDroppedEventsCount() != 1 || server.GetDroppedLinksCount() != 1 {
				t.Errorf("dropped attributes %d events %d links %d, want 1 each",
					server.GetDroppedAttributesCount(), server.GetDroppedEventsCount(), server.GetDroppedLinksCount())
			}
			if evs := server.GetEvents(); len(evs) != 1 {
				t.Errorf("events %v", evs)
			} else {
				ev := evs[0]
				if ev.GetName() != "cache miss" || ev.GetTimeUnixNano() != start+2_000_000 || ev.GetDroppedAttributesCount() != 1 {
					t.Errorf("event %v", ev)
				}
				wantAttrs(t, "event", ev.GetAttributes(), map[string]*commonpb.AnyValue{"cache": str("memberships")})
			}
			if ls := server.GetLinks(); len(ls) != 1 {
				t.Errorf("links %v", ls)
			} else {
				l := ls[0]
				if !bytes.Equal(l.GetTraceId(), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}) ||
					!bytes.Equal(l.GetSpanId(), []byte{1, 2, 3, 4, 5, 6, 7, 8}) || l.GetTraceState() != "other=1" {
					t.Errorf("link %v", l)
				}
				if l.GetFlags() != uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK|tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK) ||
					l.GetDroppedAttributesCount() != 1 {
					t.Errorf("link flags %#x dropped %d", l.GetFlags(), l.GetDroppedAttributesCount())
				}
				wantAttrs(t, "link", l.GetAttributes(), map[string]*commonpb.AnyValue{"link.kept": str("k")})
			}
			if st := server.GetStatus(); st.GetCode() != tracepb.Status_STATUS_CODE_ERROR || st.GetMessage() != "boom" {
				t.Errorf("status %v", st)
			}

			// The client span: a local parent.
			if !bytes.Equal(client.GetTraceId(), traceID) || !bytes.Equal(client.GetParentSpanId(), server.GetSpanId()) {
				t.Errorf("client span trace %x parent %x", client.GetTraceId(), client.GetParentSpanId())
			}
			if client.GetFlags() != uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK)|1 || client.GetTraceState() != "vendor=opaque" {
				t.Errorf("client flags %#x trace state %q", client.GetFlags(), client.GetTraceState())
			}
			if client.GetKind() != tracepb.Span_SPAN_KIND_CLIENT || client.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_OK {
				t.Errorf("client kind %v status %v", client.GetKind(), client.GetStatus())
			}
			// A root span: no parent, internal.
			if len(lone.GetParentSpanId()) != 0 || lone.GetKind() != tracepb.Span_SPAN_KIND_INTERNAL || lone.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_UNSET {
				t.Errorf("lone span %v", lone)
			}
		})
	}
}

// Every attribute type the API has, nested ones included.
func TestOTLPExportEncodesEveryAttributeType(t *testing.T) {
	kvs := []attribute.KeyValue{
		attribute.Float64Slice("fs", []float64{0.5, -1}),
		attribute.ByteSlice("b", []byte{0, 1, 2}),
		attribute.Slice("mixed", attribute.StringValue("x"), attribute.IntValue(3)),
		attribute.Map("m", attribute.String("k", "v"), attribute.Bool("ok", true)),
		{Key: "nothing", Value: attribute.Value{}},
	}
	want := map[string]*commonpb.AnyValue{
		"fs":      array(&commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 0.5}}, &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: -1}}),
		"b":       {Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 1, 2}}},
		"mixed":   array(str("x"), integer(3)),
		"m":       {Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{{Key: "k", Value: str("v")}, {Key: "ok", Value: boolean(true)}}}}},
		"nothing": {},
	}
	rec := tracetest.NewSpanRecorder()
	_, span := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("t").Start(context.Background(), "s", trace.WithAttributes(kvs...))
	span.End()
	b := appendExportRequest(nil, rec.Ended())
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		t.Fatal(err)
	}
	s, _, _ := find(t, &req, "s")
	wantAttrs(t, "span", s.GetAttributes(), want)
}

// Through NewTracing and the SDK's batcher, as the service runs.
func TestNewTracingExportsToTheConfiguredCollector(t *testing.T) {
	col := &collector{t: t}
	srv := httptest.NewServer(col)
	defer srv.Close()
	tr, err := NewTracing(context.Background(), TracingOptions{Version: "v9", Getenv: env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":    srv.URL + "/otlp/",
		"OTEL_EXPORTER_OTLP_HEADERS":     "x-api-key=sk%20secret,x-tenant = acme",
		"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
	})})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.StartServer(context.Background(), http.Header{}, "decide forward-auth")
	span.End()
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if col.requests() != 1 {
		t.Fatalf("%d requests, want 1", col.requests())
	}
	h := col.headers[0]
	if col.paths[0] != "/otlp/v1/traces" || h.Get("X-Api-Key") != "sk secret" || h.Get("X-Tenant") != "acme" ||
		h.Get("Content-Encoding") != "gzip" || h.Get("User-Agent") != "clerk-forward-auth/v9" {
		t.Errorf("path %q headers %v", col.paths[0], h)
	}
	_, _, rs := find(t, col.got[0], "decide forward-auth")
	res := attrs(rs.GetResource().GetAttributes())
	if !proto.Equal(res["service.name"], str("clerk-forward-auth")) || !proto.Equal(res["service.version"], str("v9")) {
		t.Errorf("resource %v", rs.GetResource())
	}
}

func TestOTLPConfigFromTheEnvironment(t *testing.T) {
	tests := []struct {
		name     string
		vars     map[string]string
		url      string
		headers  http.Header
		timeout  time.Duration
		gzip     bool
		errNames string // the variable an error must name
	}{
		{name: "base endpoint", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, url: "http://collector:4318/v1/traces", timeout: 10 * time.Second},
		{name: "base endpoint with a trailing slash", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}, url: "http://collector:4318/v1/traces", timeout: 10 * time.Second},
		{name: "base endpoint with a path", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otlp.example.com/prefix/"}, url: "https://otlp.example.com/prefix/v1/traces", timeout: 10 * time.Second},
		{name: "traces endpoint as it is", vars: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://otlp.example.com/custom/path"}, url: "https://otlp.example.com/custom/path", timeout: 10 * time.Second},
		{name: "traces endpoint without a path", vars: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318"}, url: "http://collector:4318/", timeout: 10 * time.Second},
		{name: "traces endpoint wins", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4318/t"}, url: "http://b:4318/t", timeout: 10 * time.Second},
		{name: "query and user left out", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://u:p@collector/?x=1"}, url: "https://collector/v1/traces", timeout: 10 * time.Second},
		{name: "insecure makes https plain", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318", "OTEL_EXPORTER_OTLP_INSECURE": "true"}, url: "http://collector:4318/v1/traces", timeout: 10 * time.Second},
		{name: "traces insecure wins", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_INSECURE": "true", "OTEL_EXPORTER_OTLP_TRACES_INSECURE": "false"}, url: "https://collector:4318/v1/traces", timeout: 10 * time.Second},
		{
			name:    "headers, decoded",
			vars:    map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_HEADERS": "api-key=a%3Db%2Cc, x-scope = team ,"},
			url:     "http://c/v1/traces",
			headers: http.Header{"Api-Key": {"a=b,c"}, "X-Scope": {"team"}},
			timeout: 10 * time.Second,
		},
		{
			name:    "traces headers win",
			vars:    map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_HEADERS": "a=1", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "b=2"},
			url:     "http://c/v1/traces",
			headers: http.Header{"B": {"2"}},
			timeout: 10 * time.Second,
		},
		{name: "timeout", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_TIMEOUT": "2500"}, url: "http://c/v1/traces", timeout: 2500 * time.Millisecond},
		{name: "traces timeout wins", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "100"}, url: "http://c/v1/traces", timeout: 100 * time.Millisecond},
		{name: "gzip", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}, url: "http://c/v1/traces", timeout: 10 * time.Second, gzip: true},
		{name: "traces compression wins", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "none"}, url: "http://c/v1/traces", timeout: 10 * time.Second},

		{name: "not a URL", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://[::1"}, errNames: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{name: "no scheme", vars: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "collector:4318"}, errNames: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{name: "no host", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http:///v1"}, errNames: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{name: "bad timeout", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, errNames: "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{name: "negative traces timeout", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "-1"}, errNames: "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"},
		{name: "unknown compression", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "zstd"}, errNames: "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"},
		{name: "header without =", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_HEADERS": "Bearer sk_live_secret"}, errNames: "OTEL_EXPORTER_OTLP_HEADERS"},
		{name: "header name not a token", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x:sk_live_secret=1"}, errNames: "OTEL_EXPORTER_OTLP_TRACES_HEADERS"},
		{name: "header value badly encoded", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_HEADERS": "k=sk_live_secret%zz"}, errNames: "OTEL_EXPORTER_OTLP_HEADERS"},
		{name: "header value with a line break", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_HEADERS": "k=sk_live_secret%0D%0AX: y"}, errNames: "OTEL_EXPORTER_OTLP_HEADERS"},
		{name: "insecure not a boolean", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_INSECURE": "yes please"}, errNames: "OTEL_EXPORTER_OTLP_INSECURE"},
		{name: "missing CA file", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": "/nonexistent/ca.pem"}, errNames: "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"},
		{name: "CA file without certificates", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c", "OTEL_EXPORTER_OTLP_CERTIFICATE": "otlp_test.go"}, errNames: "OTEL_EXPORTER_OTLP_CERTIFICATE"},
		{name: "CA with a plain endpoint", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_CERTIFICATE": "otlp_test.go"}, errNames: "OTEL_EXPORTER_OTLP_CERTIFICATE"},
		{name: "client certificate without key", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "otlp_test.go"}, errNames: "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"},
		{name: "client key without certificate", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY": "otlp_test.go"}, errNames: "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY"},
		{name: "client pair unreadable", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "otlp_test.go", "OTEL_EXPORTER_OTLP_CLIENT_KEY": "otlp_test.go"}, errNames: "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newOTLPConfig(env(tt.vars), nil)
			if tt.errNames != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errNames) {
					t.Fatalf("err = %v, want one naming %s", err, tt.errNames)
				}
				if strings.Contains(err.Error(), "sk_live_secret") {
					t.Errorf("the error %q quotes a header value", err)
				}
				// And NewTracing refuses to start with it.
				vars := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}
				for k, v := range tt.vars {
					vars[k] = v
				}
				if _, err := NewTracing(context.Background(), TracingOptions{Getenv: env(vars)}); err == nil || !strings.Contains(err.Error(), tt.errNames) {
					t.Errorf("NewTracing: err = %v, want one naming %s", err, tt.errNames)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.url != tt.url || c.timeout != tt.timeout || c.gzip != tt.gzip {
				t.Errorf("url %q timeout %v gzip %v, want %q %v %v", c.url, c.timeout, c.gzip, tt.url, tt.timeout, tt.gzip)
			}
			if tt.headers == nil {
				tt.headers = http.Header{}
			}
			if c.headers == nil {
				c.headers = http.Header{}
			}
			if len(c.headers) != len(tt.headers) {
				t.Errorf("headers %v, want %v", c.headers, tt.headers)
			}
			for k := range tt.headers {
				if c.headers.Get(k) != tt.headers.Get(k) {
					t.Errorf("header %s = %q, want %q", k, c.headers.Get(k), tt.headers.Get(k))
				}
			}
		})
	}
}

func TestOTLPExportRetriesOnlyWhatMaySucceedLater(t *testing.T) {
	partial, err := proto.Marshal(&coltracepb.ExportTraceServiceResponse{PartialSuccess: &coltracepb.ExportTracePartialSuccess{RejectedSpans: 3, ErrorMessage: "too old"}})
	if err != nil {
		t.Fatal(err)
	}
	empty, err := proto.Marshal(&coltracepb.ExportTraceServiceResponse{PartialSuccess: &coltracepb.ExportTracePartialSuccess{}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		replies  []reply
		timeout  string
		requests int
		minWait  time.Duration
		err      string // "" for success
	}{
		{name: "503 with Retry-After, then success", replies: []reply{{status: 503, retryAfter: "1"}, {status: 200}}, requests: 2, minWait: time.Second},
		{name: "429, 502, 504 then success", replies: []reply{{status: 429}, {status: 502}, {status: 504}, {status: 200}}, requests: 4},
		{name: "400 is final", replies: []reply{{status: 400}, {status: 200}}, requests: 1, err: "400 Bad Request"},
		{name: "500 is final", replies: []reply{{status: 500}, {status: 200}}, requests: 1, err: "500 Internal Server Error"},
		{name: "a redirect is not followed", replies: []reply{{status: 307}, {status: 200}}, requests: 1, err: "307"},
		{name: "503 until the timeout", replies: []reply{{status: 503}}, timeout: "300", err: "503 Service Unavailable"},
		{name: "Retry-After past the timeout", replies: []reply{{status: 429, retryAfter: "30"}}, timeout: "1000", requests: 1, err: "429 Too Many Requests"},
		{name: "partial success", replies: []reply{{status: 200, body: partial}}, requests: 1, err: `rejected 3 spans: "too old"`},
		{name: "empty partial success is success", replies: []reply{{status: 200, body: empty}}, requests: 1},
		{name: "malformed answer", replies: []reply{{status: 200, body: []byte{0x0a, 0x05, 0x08}}}, requests: 1, err: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			col := &collector{t: t, replies: tt.replies}
			srv := httptest.NewServer(col)
			defer srv.Close()
			vars := map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20sk_live_secret"}
			if tt.timeout != "" {
				vars["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"] = tt.timeout
			}
			exp := testExporter(t, srv.URL, vars)
			began := time.Now()
			err := exp.ExportSpans(context.Background(), testSpans(t))
			took := time.Since(began)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("err = %v, want one with %q", err, tt.err)
			case err != nil && strings.Contains(err.Error(), "sk_live_secret"):
				t.Errorf("the error %q quotes a header", err)
			}
			if tt.requests > 0 && col.requests() != tt.requests {
				t.Errorf("%d requests, want %d", col.requests(), tt.requests)
			}
			if tt.timeout != "" && took > 2*time.Second {
				t.Errorf("took %v, past the %sms timeout", took, tt.timeout)
			}
			if took < tt.minWait {
				t.Errorf("took %v: Retry-After %v not honoured", took, tt.minWait)
			}
		})
	}
}

func TestOTLPExportStopsAtItsTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	exp := testExporter(t, srv.URL, map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "200"})
	began := time.Now()
	err := exp.ExportSpans(context.Background(), testSpans(t))
	if err == nil {
		t.Fatal("an export to a collector that never answers succeeded")
	}
	if took := time.Since(began); took < 200*time.Millisecond || took > 3*time.Second {
		t.Errorf("gave up after %v, want about 200ms", took)
	}
}

func TestOTLPShutdownFailsLaterExports(t *testing.T) {
	col := &collector{t: t}
	srv := httptest.NewServer(col)
	defer srv.Close()
	exp := testExporter(t, srv.URL, nil)
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := exp.ExportSpans(context.Background(), testSpans(t)); err == nil {
		t.Error("an export after Shutdown succeeded")
	}
	if col.requests() != 0 {
		t.Errorf("%d requests after Shutdown", col.requests())
	}
}

// writePEM writes blocks to a file in a temporary directory.
func writePEM(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// clientCertificate makes a self-signed client certificate and its key.
func clientCertificate(t *testing.T) (cert *x509.Certificate, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "clerk-forward-auth"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return cert, writePEM(t, "client.pem", "CERTIFICATE", der), writePEM(t, "client-key.pem", "PRIVATE KEY", keyDER)
}

func TestOTLPExportOverTLS(t *testing.T) {
	clientCert, certFile, keyFile := clientCertificate(t)
	tests := []struct {
		name         string
		trustCA      bool
		requireCert  bool
		sendCert     bool
		wantExported bool
	}{
		{name: "the collector's CA trusted", trustCA: true, wantExported: true},
		{name: "an unknown CA refused", trustCA: false},
		{name: "client certificate sent", trustCA: true, requireCert: true, sendCert: true, wantExported: true},
		{name: "client certificate required but not set", trustCA: true, requireCert: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			col := &collector{t: t}
			srv := httptest.NewUnstartedServer(col)
			if tt.requireCert {
				pool := x509.NewCertPool()
				pool.AddCert(clientCert)
				srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
			}
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
			srv.StartTLS()
			defer srv.Close()
			vars := map[string]string{}
			if tt.trustCA {
				vars["OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"] = writePEM(t, "ca.pem", "CERTIFICATE", srv.Certificate().Raw)
			}
			if tt.sendCert {
				vars["OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"] = certFile
				vars["OTEL_EXPORTER_OTLP_CLIENT_KEY"] = keyFile
			}
			vars["OTEL_EXPORTER_OTLP_TIMEOUT"] = "500"
			exp := testExporter(t, srv.URL+"/v1/traces", vars)
			err := exp.ExportSpans(context.Background(), testSpans(t))
			if tt.wantExported && (err != nil || col.requests() != 1) {
				t.Fatalf("err = %v, %d requests", err, col.requests())
			}
			if !tt.wantExported && (err == nil || col.requests() != 0) {
				t.Fatalf("err = %v, %d requests: exported without a trusted TLS connection", err, col.requests())
			}
		})
	}
}

// A collector that is down is retried until the timeout, then reported.
func TestOTLPExportToACollectorThatIsDownFailsAtItsTimeout(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	exp := testExporter(t, url, map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "300"})
	began := time.Now()
	err := exp.ExportSpans(context.Background(), testSpans(t))
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want connection refused", err)
	}
	if took := time.Since(began); took < 100*time.Millisecond || took > 3*time.Second {
		t.Errorf("gave up after %v: not retried until the 300ms timeout", took)
	}
}

// parsePartialSuccess reads any collector's answer without a panic, and
// as the generated message does whenever that accepts it.
func FuzzParsePartialSuccess(f *testing.F) {
	for _, m := range []*coltracepb.ExportTraceServiceResponse{
		{},
		{PartialSuccess: &coltracepb.ExportTracePartialSuccess{}},
		{PartialSuccess: &coltracepb.ExportTracePartialSuccess{RejectedSpans: 3, ErrorMessage: "too old"}},
		{PartialSuccess: &coltracepb.ExportTracePartialSuccess{RejectedSpans: -1}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0x05, 0x08})
	f.Add([]byte{0x12, 0x00, 0x0a, 0x02, 0x10, 0x07})
	f.Fuzz(func(t *testing.T, b []byte) {
		rejected, msg, err := parsePartialSuccess(b)
		var want coltracepb.ExportTraceServiceResponse
		if proto.Unmarshal(b, &want) != nil {
			return // ours may be laxer (it does not check UTF-8)
		}
		if err != nil {
			t.Fatalf("%x: %v, where the generated message reads %v", b, err, &want)
		}
		if rejected != want.GetPartialSuccess().GetRejectedSpans() || msg != want.GetPartialSuccess().GetErrorMessage() {
			t.Fatalf("%x: %d %q, want %v", b, rejected, msg, &want)
		}
	})
}
