package observe

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// logHandlers are the two ways a JSON access log line is written: through
// slog's JSONHandler, and encoded directly (observe.JSONHandler). Every
// access log test runs on both.
var logHandlers = []struct {
	name string
	new  func(io.Writer, *slog.HandlerOptions) slog.Handler
}{
	{"slog", func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewJSONHandler(w, o) }},
	{"direct", func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return NewJSONHandler(w, o) }},
}

func forEachHandler(t *testing.T, test func(t *testing.T, capture func(slog.Level) (*slog.Logger, func() []map[string]any))) {
	for _, h := range logHandlers {
		t.Run(h.name, func(t *testing.T) {
			test(t, func(level slog.Level) (*slog.Logger, func() []map[string]any) {
				return captureLog(t, h.new, level)
			})
		})
	}
}

func captureLog(t *testing.T, newHandler func(io.Writer, *slog.HandlerOptions) slog.Handler, level slog.Level) (*slog.Logger, func() []map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	l := slog.New(newHandler(&buf, &slog.HandlerOptions{Level: level}))
	return l, func() []map[string]any {
		var lines []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line is not JSON: %q", line)
			}
			lines = append(lines, m)
		}
		return lines
	}
}

func TestAccessLogLineHasEveryField(t *testing.T) {
	forEachHandler(t, func(t *testing.T, capture func(slog.Level) (*slog.Logger, func() []map[string]any)) {
		l, lines := capture(slog.LevelInfo)
		a := NewAccessLog(l, AccessLogOptions{AllowSample: 1})
		a.Log(context.Background(), Record{
			Endpoint: "forward-auth", Method: "GET", Host: "app.example.test", Path: "/dashboard",
			Status: 200, Outcome: "allow", UserID: "user_1", OrgID: "org_1", ClientIP: "203.0.113.7",
			RequestID: "req-1", Latency: 1500 * time.Microsecond,
		})
		got := lines()
		if len(got) != 1 {
			t.Fatalf("%d lines, want 1", len(got))
		}
		want := map[string]any{
			"level": "INFO", "msg": "decision", "endpoint": "forward-auth", "method": "GET", "host": "app.example.test",
			"path": "/dashboard", "status": 200.0, "outcome": "allow", "reason": "", "user_id": "user_1", "org_id": "org_1",
			"client_ip": "203.0.113.7", "request_id": "req-1", "latency_ms": 1.5,
		}
		for k, v := range want {
			if got[0][k] != v {
				t.Errorf("%s = %#v, want %#v", k, got[0][k], v)
			}
		}
		if _, ok := got[0]["time"]; !ok {
			t.Error("no time")
		}
		if _, ok := got[0]["detail"]; ok {
			t.Error("empty detail should be left out")
		}
		for _, k := range []string{"token_type", "machine_id", "token_id"} {
			if _, ok := got[0][k]; ok {
				t.Errorf("empty %s should be left out", k)
			}
		}
	})
}

func TestAccessLogNamesTheMachineCredential(t *testing.T) {
	forEachHandler(t, func(t *testing.T, capture func(slog.Level) (*slog.Logger, func() []map[string]any)) {
		l, lines := capture(slog.LevelInfo)
		a := NewAccessLog(l, AccessLogOptions{AllowSample: 1})
		a.Log(context.Background(), Record{
			Endpoint: "forward-auth", Status: 200, Outcome: "allow",
			TokenType: "m2m_token", MachineID: "mch_1", TokenID: "mt_1",
		})
		got := lines()
		if len(got) != 1 {
			t.Fatalf("%d lines, want 1", len(got))
		}
		for k, v := range map[string]any{"token_type": "m2m_token", "machine_id": "mch_1", "token_id": "mt_1"} {
			if got[0][k] != v {
				t.Errorf("%s = %#v, want %#v", k, got[0][k], v)
			}
		}
	})
}

func TestAccessLogSamplesAllowsButKeepsEveryDenial(t *testing.T) {
	forEachHandler(t, func(t *testing.T, capture func(slog.Level) (*slog.Logger, func() []map[string]any)) {
		l, lines := capture(slog.LevelInfo)
		rolls := []float64{0.05, 0.5, 0.95, 0.09}
		a := NewAccessLog(l, AccessLogOptions{AllowSample: 0.1, Rand: func() float64 {
			r := rolls[0]
			rolls = rolls[1:]
			return r
		}})
		for range 4 {
			a.Log(context.Background(), Record{Outcome: "allow"})
		}
		for _, o := range []string{"unauthenticated", "forbidden", "redirect", "handshake", "unavailable", "misconfigured", "bad-request"} {
			a.Log(context.Background(), Record{Outcome: o})
		}
		counts := map[string]int{}
		levels := map[string]string{}
		for _, line := range lines() {
			o := line["outcome"].(string)
			counts[o]++
			levels[o] = line["level"].(string)
		}
		if counts["allow"] != 2 {
			t.Errorf("kept %d of 4 allows with rolls 0.05, 0.5, 0.95, 0.09 at 0.1, want 2", counts["allow"])
		}
		for _, o := range []string{"unauthenticated", "forbidden", "redirect", "handshake", "unavailable", "misconfigured", "bad-request"} {
			if counts[o] != 1 {
				t.Errorf("%s logged %d times, want 1", o, counts[o])
			}
		}
		for o, want := range map[string]string{"forbidden": "INFO", "unavailable": "ERROR", "misconfigured": "ERROR", "bad-request": "WARN"} {
			if levels[o] != want {
				t.Errorf("%s at %s, want %s", o, levels[o], want)
			}
		}
	})
}

func TestAccessLogSampleZeroDropsAllowsAndLevelFilters(t *testing.T) {
	forEachHandler(t, func(t *testing.T, capture func(slog.Level) (*slog.Logger, func() []map[string]any)) {
		l, lines := capture(slog.LevelWarn)
		a := NewAccessLog(l, AccessLogOptions{AllowSample: 0})
		a.Log(context.Background(), Record{Outcome: "allow"})
		a.Log(context.Background(), Record{Outcome: "forbidden"})   // info: below warn
		a.Log(context.Background(), Record{Outcome: "unavailable"}) // error
		got := lines()
		if len(got) != 1 || got[0]["outcome"] != "unavailable" {
			t.Fatalf("got %v, want only the unavailable line", got)
		}
	})
}

func TestAccessLogRedactsTokensInFreeText(t *testing.T) {
	forEachHandler(t, func(t *testing.T, capture func(slog.Level) (*slog.Logger, func() []map[string]any)) {
		l, lines := capture(slog.LevelInfo)
		a := NewAccessLog(l, AccessLogOptions{AllowSample: 1})
		jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2lnbmF0dXJl"
		a.Log(context.Background(), Record{Outcome: "unauthenticated", Path: "/cb/" + jwt, Detail: "bad sk_live_abcDEF123 and " + jwt})
		line := lines()[0]
		for _, k := range []string{"path", "detail"} {
			s := line[k].(string)
			if strings.Contains(s, "eyJ") || strings.Contains(s, "sk_live_abc") || !strings.Contains(s, "[redacted]") {
				t.Errorf("%s = %q: not redacted", k, s)
			}
		}
	})
}

func TestAccessLogCarriesTheTraceID(t *testing.T) {
	forEachHandler(t, func(t *testing.T, capture func(slog.Level) (*slog.Logger, func() []map[string]any)) {
		l, lines := capture(slog.LevelInfo)
		a := NewAccessLog(l, AccessLogOptions{AllowSample: 1})
		tp := sdktrace.NewTracerProvider()
		ctx, span := tp.Tracer("t").Start(context.Background(), "s")
		a.Log(ctx, Record{Outcome: "forbidden"})
		span.End()
		if got := lines()[0]["trace_id"]; got != span.SpanContext().TraceID().String() {
			t.Errorf("trace_id = %v, want %s", got, span.SpanContext().TraceID())
		}
	})
}

func TestRequestIDPassesSaneTokensOnly(t *testing.T) {
	tests := []struct {
		name, in string
		kept     bool
	}{
		{"uuid", "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd", true},
		{"dotted and underscored", "req_1.a-B", true},
		{"128 chars", strings.Repeat("a", 128), true},
		{"empty", "", false},
		{"129 chars", strings.Repeat("a", 129), false},
		{"newline injection", "abc\n{\"level\":\"ERROR\"}", false},
		{"space", "a b", false},
		{"slash", "a/b", false},
		{"non-ASCII", "réq", false},
	}
	for _, tt := range tests {
		got := RequestID(tt.in)
		if tt.kept && got != tt.in {
			t.Errorf("%s: got %q, want it kept", tt.name, got)
		}
		if !tt.kept && (got == tt.in || len(got) != 32 || !saneRequestID(got)) {
			t.Errorf("%s: got %q, want a fresh 32-char id", tt.name, got)
		}
	}
	if a, b := RequestID(""), RequestID(""); a == b {
		t.Error("generated ids repeat")
	}
}
