package observe

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// AccessLogOptions tune the access log.
type AccessLogOptions struct {
	// AllowSample is the fraction of "allow" lines kept: 1 keeps all, 0.1
	// one in ten, 0 none. Denials and errors are always logged.
	AllowSample float64
	// Rand returns a number in [0, 1) (tests); default math/rand/v2.
	Rand func() float64
}

// AccessLog writes one line per decision.
type AccessLog struct {
	log    *slog.Logger
	json   *JSONHandler // set when l's handler is one: lines bypass slog
	sample float64
	rand   func() float64
}

// NewAccessLog logs to l (nil: discard). When l's handler is a
// *JSONHandler (LOG_FORMAT=json in main), lines are encoded directly, with
// the same bytes as slog would write.
func NewAccessLog(l *slog.Logger, o AccessLogOptions) *AccessLog {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	a := &AccessLog{log: l, sample: min(max(o.AllowSample, 0), 1), rand: o.Rand}
	if h, ok := l.Handler().(*JSONHandler); ok && h.fast {
		a.json = h
	}
	return a
}

// Record is one decision as logged. Callers fill it with values that are
// safe to log; the free-text ones (Path, Detail) are still passed through
// Redact. There is no field for headers, cookies or the redirect target:
// a handshake Location carries the session token.
type Record struct {
	Endpoint string
	Method   string // the original request's
	Host     string
	Path     string // without the query string
	Status   int    // what we answered the proxy; 0 when not HTTP
	Outcome  string
	Reason   string
	Detail   string
	UserID   string
	OrgID    string
	// TokenType is the credential's Clerk type; MachineID and TokenID
	// (an API key's or token's id, never its secret) are logged only for
	// machine credentials.
	TokenType string
	MachineID string
	TokenID   string
	ClientIP  string
	RequestID string
	Latency   time.Duration
}

// Log writes r at info (warn for a bad proxy request, error when we could
// not decide), dropping a share of allow lines as configured.
func (a *AccessLog) Log(ctx context.Context, r Record) {
	a.LogAt(ctx, time.Time{}, &r)
}

// LogAt is Log with the line's time given (zero: now), so a caller that
// has just read the clock does not read it again.
func (a *AccessLog) LogAt(ctx context.Context, now time.Time, r *Record) {
	level := slog.LevelInfo
	switch r.Outcome {
	case "allow":
		if a.sample < 1 && a.rand() >= a.sample {
			return
		}
	case "unavailable", "misconfigured":
		level = slog.LevelError
	case "bad-request":
		level = slog.LevelWarn
	}
	if a.json != nil {
		if level < a.json.level.Level() {
			return
		}
		if now.IsZero() {
			now = time.Now()
		}
		a.json.writeJSONLine(now, level, r, trace.SpanContextFromContext(ctx))
		return
	}
	if !a.log.Enabled(ctx, level) {
		return
	}
	a.log.LogAttrs(ctx, level, "decision", accessLogAttrs(ctx, r)...)
}

// accessLogAttrs are the attributes of a line on slog's path (a text
// handler, or a logger derived with attributes).
func accessLogAttrs(ctx context.Context, r *Record) []slog.Attr {
	attrs := make([]slog.Attr, 0, 16)
	attrs = append(attrs,
		slog.String("endpoint", r.Endpoint),
		slog.String("method", r.Method),
		slog.String("host", r.Host),
		slog.String("path", Redact(r.Path)),
	)
	if r.Status != 0 { // 0: not HTTP (gRPC)
		attrs = append(attrs, slog.Int("status", r.Status))
	}
	attrs = append(attrs,
		slog.String("outcome", r.Outcome),
		slog.String("reason", r.Reason),
	)
	if r.Detail != "" {
		attrs = append(attrs, slog.String("detail", Redact(r.Detail)))
	}
	attrs = append(attrs,
		slog.String("user_id", r.UserID),
		slog.String("org_id", r.OrgID),
	)
	if r.TokenType != "" {
		attrs = append(attrs, slog.String("token_type", r.TokenType))
	}
	if r.MachineID != "" {
		attrs = append(attrs, slog.String("machine_id", r.MachineID))
	}
	if r.TokenID != "" {
		attrs = append(attrs, slog.String("token_id", r.TokenID))
	}
	attrs = append(attrs,
		slog.String("client_ip", r.ClientIP),
		slog.String("request_id", r.RequestID),
		slog.Float64("latency_ms", latencyMillis(r.Latency)),
	)
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return attrs
}
