package observe

import (
	"encoding/hex"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"
)

// JSONHandler is log/slog's JSONHandler (LOG_FORMAT=json) with one addition:
// an AccessLog over a logger with this handler writes its lines itself,
// appending each one into a pooled buffer, instead of going through slog's
// reflection and attribute machinery. The bytes are the same as slog's
// (a differential test pins them); the access log line is the one log
// line per request, so it is worth the special case.
//
// Loggers derived with With or WithGroup get slog's own handler back, so
// an access log over one of those keeps slog's path and its attributes.
type JSONHandler struct {
	*slog.JSONHandler
	w     *lockedWriter
	level slog.Leveler
	fast  bool // no ReplaceAttr or AddSource: the access log may bypass slog
}

// NewJSONHandler is slog.NewJSONHandler(w, opts) whose writes are
// serialised with the access log's.
func NewJSONHandler(w io.Writer, opts *slog.HandlerOptions) *JSONHandler {
	if opts == nil {
		opts = &slog.HandlerOptions{}
	}
	lw := &lockedWriter{w: w}
	h := &JSONHandler{JSONHandler: slog.NewJSONHandler(lw, opts), w: lw, level: opts.Level,
		fast: opts.ReplaceAttr == nil && !opts.AddSource}
	if h.level == nil {
		h.level = slog.LevelInfo
	}
	return h
}

// lockedWriter makes each Write whole with respect to the others: slog
// locks per handler, and the access log writes beside it.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// lineBuffers hold access log lines being built.
var lineBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledLine keeps a freak long line's buffer out of the pool.
const maxPooledLine = 16 << 10

// writeJSONLine writes r as slog's JSONHandler would write
// LogAttrs(ctx, level, "decision", accessLogAttrs(r, trace)...) at time t.
func (h *JSONHandler) writeJSONLine(t time.Time, level slog.Level, r *Record, sc trace.SpanContext) {
	bp := lineBuffers.Get().(*[]byte)
	b := appendAccessLine((*bp)[:0], t, level, r, sc)
	_, _ = h.w.Write(b) // as slog: a failed log write is not the request's failure
	if cap(b) <= maxPooledLine {
		*bp = b
		lineBuffers.Put(bp)
	}
}

// appendAccessLine appends the JSON line, with trace_id and span_id when sc
// is valid. t is the time of the line (its year within 0–9999, which
// time.Now's is). The field order and formatting are slog's JSONHandler's: time in
// RFC 3339 with nanoseconds, level name, msg, then the attributes.
func appendAccessLine(b []byte, t time.Time, level slog.Level, r *Record, sc trace.SpanContext) []byte {
	b = append(b, `{"time":"`...)
	b = t.Round(0).AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":`...)
	b = AppendJSONString(b, level.String())
	b = append(b, `,"msg":"decision","endpoint":`...)
	b = AppendJSONString(b, r.Endpoint)
	b = append(b, `,"method":`...)
	b = AppendJSONString(b, r.Method)
	b = append(b, `,"host":`...)
	b = AppendJSONString(b, r.Host)
	b = append(b, `,"path":`...)
	b = AppendJSONString(b, Redact(r.Path))
	if r.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(r.Status), 10)
	}
	b = append(b, `,"outcome":`...)
	b = AppendJSONString(b, r.Outcome)
	b = append(b, `,"reason":`...)
	b = AppendJSONString(b, r.Reason)
	if r.Detail != "" {
		b = append(b, `,"detail":`...)
		b = AppendJSONString(b, Redact(r.Detail))
	}
	b = append(b, `,"user_id":`...)
	b = AppendJSONString(b, r.UserID)
	b = append(b, `,"org_id":`...)
	b = AppendJSONString(b, r.OrgID)
	if r.TokenType != "" {
		b = append(b, `,"token_type":`...)
		b = AppendJSONString(b, r.TokenType)
	}
	if r.MachineID != "" {
		b = append(b, `,"machine_id":`...)
		b = AppendJSONString(b, r.MachineID)
	}
	if r.TokenID != "" {
		b = append(b, `,"token_id":`...)
		b = AppendJSONString(b, r.TokenID)
	}
	b = append(b, `,"client_ip":`...)
	b = AppendJSONString(b, r.ClientIP)
	b = append(b, `,"request_id":`...)
	b = AppendJSONString(b, r.RequestID)
	b = append(b, `,"latency_ms":`...)
	b = appendJSONFloat(b, latencyMillis(r.Latency))
	if sc.IsValid() {
		tid, sid := sc.TraceID(), sc.SpanID()
		b = append(b, `,"trace_id":"`...)
		b = hex.AppendEncode(b, tid[:])
		b = append(b, `","span_id":"`...)
		b = hex.AppendEncode(b, sid[:])
		b = append(b, '"')
	}
	return append(b, "}\n"...)
}

// latencyMillis is the logged latency: whole microseconds, in ms.
func latencyMillis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// AppendJSONString appends s quoted as log/slog's JSONHandler does:
// encoding/json's escaping without the HTML escapes, and \b and \f as
// \u0008 and \u000c; invalid UTF-8 becomes \ufffd; U+2028 and U+2029 are
// escaped.
func AppendJSONString(b []byte, s string) []byte { return appendJSONString(b, s, false) }

// AppendEncoderJSONString appends s quoted exactly as encoding/json's
// Encoder writes it: as AppendJSONString, but with <, > and & escaped
// (\u003c, \u003e, \u0026) and \b and \f by name.
func AppendEncoderJSONString(b []byte, s string) []byte { return appendJSONString(b, s, true) }

// jsonSafe and jsonEncoderSafe tell the ASCII bytes that AppendJSONString
// and AppendEncoderJSONString write as themselves.
var jsonSafe, jsonEncoderSafe = jsonSafeSets()

func jsonSafeSets() (plain, encoder [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		plain[c] = c != '"' && c != '\\'
		encoder[c] = plain[c] && c != '<' && c != '>' && c != '&'
	}
	return plain, encoder
}

// appendJSONString is AppendJSONString, or AppendEncoderJSONString if
// encoder is set: the two differ only in which bytes they escape and in
// the names of \b and \f.
func appendJSONString(b []byte, s string, encoder bool) []byte {
	const hexDigits = "0123456789abcdef"
	safe := &jsonSafe
	if encoder {
		safe = &jsonEncoderSafe
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch {
			case c == '\\' || c == '"':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b' && encoder:
				b = append(b, '\\', 'b')
			case c == '\f' && encoder:
				b = append(b, '\\', 'f')
			default: // other control characters, and the Encoder's <, > and &
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONFloat formats f as encoding/json does (slog marshals floats
// with it): ES6 number formatting, exponent form outside [1e-6, 1e21).
// f is finite (a latency).
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
