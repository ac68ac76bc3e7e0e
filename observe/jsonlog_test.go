package observe

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// slogLine is the reference: the line log/slog's JSONHandler writes for
// the record at time t, as the access log wrote every line before the
// direct encoder.
func slogLine(t *testing.T, ctx context.Context, at time.Time, level slog.Level, r *Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	rec := slog.NewRecord(at, level, "decision", 0)
	rec.AddAttrs(accessLogAttrs(ctx, r)...)
	if err := slog.NewJSONHandler(&buf, nil).Handle(ctx, rec); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// randomText mixes what log escaping must get right: plain ASCII, quotes
// and backslashes, every control character, DEL, HTML characters (slog
// does not escape them), multi-byte UTF-8, U+2028/U+2029, invalid UTF-8
// (lone continuation bytes, truncated sequences, surrogates, overlongs),
// JWT- and secret-key-shaped text (redacted in path and detail) and
// strings long enough to be cut.
func randomText(rng *rand.Rand) string {
	pieces := []string{
		"a", "Z", "/dashboard", " ", "\"", "\\", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "<", ">", "&", "'",
		"é", "日本", "😀", "\u2028", "\u2029", "\u2027", "\u202a", "\ufffd", "\x80", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\xc0\xaf", "\xff",
		"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2ln", "sk_live_abcDEF123", "sk_test_", "eyJ", "%2F", "?q=1",
	}
	var sb strings.Builder
	switch rng.IntN(10) {
	case 0:
		return ""
	case 1: // long: Redact cuts at 512 bytes, possibly inside a rune
		for sb.Len() < 600 {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return sb.String()
	case 2: // arbitrary bytes
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.UintN(256)) //nolint:gosec // UintN(256) < 256 fits a byte
		}
		return string(b)
	}
	for range rng.IntN(12) {
		sb.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return sb.String()
}

func randomTime(rng *rand.Rand) time.Time {
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("", 0), time.FixedZone("x", 5*3600+30*60), time.FixedZone("y", -8*3600), time.FixedZone("z", 45)}
	var t time.Time
	switch rng.IntN(4) {
	case 0:
		t = time.Now() // carries a monotonic reading
	case 1:
		t = time.Unix(rng.Int64N(253402300799), 0) // whole seconds: no fraction printed
	case 2:
		t = time.Unix(rng.Int64N(253402300799), rng.Int64N(1000)*int64(time.Millisecond))
	default:
		t = time.Unix(rng.Int64N(253402300799), rng.Int64N(int64(time.Second)))
	}
	return t.In(zones[rng.IntN(len(zones))])
}

func randomLatency(rng *rand.Rand) time.Duration {
	switch rng.IntN(6) {
	case 0:
		return 0
	case 1:
		return time.Duration(rng.Int64N(1000)) // under a microsecond: 0
	case 2:
		return -time.Duration(rng.Int64N(int64(time.Hour)))
	case 3:
		return time.Duration(rng.Int64()) // up to ~292 years
	}
	return time.Duration(rng.Int64N(int64(10 * time.Second)))
}

func randomSpanContext(rng *rand.Rand) trace.SpanContext {
	if rng.IntN(3) == 0 {
		return trace.SpanContext{}
	}
	var tid trace.TraceID
	var sid trace.SpanID
	for i := range tid {
		tid[i] = byte(rng.UintN(256)) //nolint:gosec // UintN(256) < 256 fits a byte
	}
	for i := range sid {
		sid[i] = byte(rng.UintN(256)) //nolint:gosec // UintN(256) < 256 fits a byte
	}
	if rng.IntN(8) == 0 {
		sid = trace.SpanID{} // invalid: no trace fields
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: rng.IntN(2) == 0})
}

// TestDirectJSONLineIsByteForByteSlogs renders random records both ways
// and compares the bytes.
func TestDirectJSONLineIsByteForByteSlogs(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, uint64(time.Now().UnixNano()))) //nolint:gosec // random test inputs; not a secret
	levels := []slog.Level{slog.LevelInfo, slog.LevelWarn, slog.LevelError, slog.LevelDebug}
	statuses := []int{0, 200, 307, 400, 401, 403, 500, 503, -1, 99999}
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := range n {
		r := Record{
			Endpoint: randomText(rng), Method: randomText(rng), Host: randomText(rng), Path: randomText(rng),
			Status: statuses[rng.IntN(len(statuses))], Outcome: randomText(rng), Reason: randomText(rng),
			Detail: randomText(rng), UserID: randomText(rng), OrgID: randomText(rng), ClientIP: randomText(rng),
			RequestID: randomText(rng), Latency: randomLatency(rng),
			TokenType: randomText(rng), MachineID: randomText(rng), TokenID: randomText(rng),
		}
		ctx := trace.ContextWithSpanContext(context.Background(), randomSpanContext(rng))
		at := randomTime(rng)
		level := levels[rng.IntN(len(levels))]
		want := slogLine(t, ctx, at, level, &r)
		got := appendAccessLine(nil, at, level, &r, trace.SpanContextFromContext(ctx))
		if !bytes.Equal(got, want) {
			t.Fatalf("record %d (%#v at %v):\n got %q\nwant %q", i, r, at, got, want)
		}
	}
}

// TestAccessLogOverJSONHandlerWritesSlogsLine goes through AccessLog and
// JSONHandler: the same bytes as an AccessLog over slog's handler, one
// Write per line, and the handler still logs other lines as slog does.
func TestAccessLogOverJSONHandlerWritesSlogsLine(t *testing.T) {
	var direct, viaSlog writeCounter
	at := time.Date(2026, 11, 26, 2, 5, 46, 123456789, time.UTC)
	r := Record{
		Endpoint: "forward-auth", Method: "GET", Host: "app.example.test", Path: "/a\"b\n" + "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2ln",
		Status: 401, Outcome: "unauthenticated", Reason: "token-invalid", Detail: "bad\x00 \xff",
		ClientIP: "203.0.113.7", RequestID: "req-1", Latency: 1234567 * time.Nanosecond,
	}
	dl := NewAccessLog(slog.New(NewJSONHandler(&direct, nil)), AccessLogOptions{AllowSample: 1})
	if dl.json == nil {
		t.Fatal("AccessLog over a JSONHandler does not take the direct path")
	}
	dl.LogAt(context.Background(), at, &r)
	want := slogLine(t, context.Background(), at, slog.LevelInfo, &r)
	if direct.writes != 1 || !bytes.Equal(direct.buf.Bytes(), want) {
		t.Fatalf("%d writes of %q, want one of %q", direct.writes, direct.buf.Bytes(), want)
	}
	// Without a time, the line carries now, like slog's.
	sl := NewAccessLog(slog.New(slog.NewJSONHandler(&viaSlog, nil)), AccessLogOptions{AllowSample: 1})
	direct.buf.Reset()
	dl.Log(context.Background(), r)
	sl.Log(context.Background(), r)
	if a, b := stripTime(t, direct.buf.String()), stripTime(t, viaSlog.buf.String()); a != b {
		t.Fatalf("direct %q\n slog %q", a, b)
	}
	// Other lines still go through slog, to the same writer.
	direct.buf.Reset()
	l := slog.New(NewJSONHandler(&direct, nil))
	l.Info("hello", "k", 1)
	if !strings.Contains(direct.buf.String(), `"msg":"hello","k":1}`) {
		t.Fatalf("slog line %q", direct.buf.String())
	}
}

func stripTime(t *testing.T, line string) string {
	t.Helper()
	i := strings.Index(line, `","level"`)
	if !strings.HasPrefix(line, `{"time":"`) || i < 0 {
		t.Fatalf("line %q", line)
	}
	return line[i:]
}

type writeCounter struct {
	buf    bytes.Buffer
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.buf.Write(p)
}

// TestAccessLogKeepsSlogWhereItCannotMatchIt: a handler with ReplaceAttr
// or AddSource, or a logger derived with attributes, keeps slog's path,
// so the operator's options still apply.
func TestAccessLogKeepsSlogWhereItCannotMatchIt(t *testing.T) {
	replace := func(_ []string, a slog.Attr) slog.Attr { return a }
	for name, l := range map[string]*slog.Logger{
		"ReplaceAttr": slog.New(NewJSONHandler(io.Discard, &slog.HandlerOptions{ReplaceAttr: replace})),
		"AddSource":   slog.New(NewJSONHandler(io.Discard, &slog.HandlerOptions{AddSource: true})),
		"With":        slog.New(NewJSONHandler(io.Discard, nil)).With("service", "x"),
		"text":        slog.New(slog.NewTextHandler(io.Discard, nil)),
	} {
		if NewAccessLog(l, AccessLogOptions{}).json != nil {
			t.Errorf("%s: direct path taken", name)
		}
	}
	var buf bytes.Buffer
	l := slog.New(NewJSONHandler(&buf, nil)).With("service", "x")
	NewAccessLog(l, AccessLogOptions{AllowSample: 1}).Log(context.Background(), Record{Outcome: "allow"})
	if !strings.Contains(buf.String(), `"msg":"decision","service":"x","endpoint"`) {
		t.Fatalf("line %q lost the logger's attributes", buf.String())
	}
}

// TestAccessLogDirectLevelFollowsALevelVar: the level is read per line,
// as slog's handler reads it.
func TestAccessLogDirectLevelFollowsALevelVar(t *testing.T) {
	var lv slog.LevelVar
	lv.Set(slog.LevelWarn)
	var w writeCounter
	a := NewAccessLog(slog.New(NewJSONHandler(&w, &slog.HandlerOptions{Level: &lv})), AccessLogOptions{AllowSample: 1})
	a.Log(context.Background(), Record{Outcome: "forbidden"})   // info
	a.Log(context.Background(), Record{Outcome: "bad-request"}) // warn
	lv.Set(slog.LevelInfo)
	a.Log(context.Background(), Record{Outcome: "allow"})
	if w.writes != 2 || !strings.Contains(w.buf.String(), `"level":"WARN"`) || !strings.Contains(w.buf.String(), `"outcome":"allow"`) {
		t.Fatalf("%d lines: %s", w.writes, w.buf.String())
	}
}

func TestAccessLogDirectAllocatesNothing(t *testing.T) {
	a := NewAccessLog(slog.New(NewJSONHandler(io.Discard, nil)), AccessLogOptions{AllowSample: 1})
	r := Record{Endpoint: "forward-auth", Method: "GET", Host: "app.example.test", Path: "/dashboard", Status: 200,
		Outcome: "allow", UserID: "user_1", ClientIP: "203.0.113.7", RequestID: "0123456789abcdef0123456789abcdef", Latency: 42 * time.Microsecond}
	now := time.Now()
	if n := testing.AllocsPerRun(1000, func() { a.LogAt(context.Background(), now, &r) }); n != 0 {
		t.Errorf("%v allocations per line, want 0", n)
	}
}

func BenchmarkAccessLog(b *testing.B) {
	r := Record{Endpoint: "forward-auth", Method: "GET", Host: "app.example.test", Path: "/dashboard", Status: 200,
		Outcome: "allow", UserID: "user_2benchuser000000000000001", OrgID: "org_2benchacmeorganization00001", ClientIP: "203.0.113.7",
		RequestID: "0123456789abcdef0123456789abcdef", Latency: 42 * time.Microsecond}
	for _, h := range logHandlers {
		b.Run(h.name, func(b *testing.B) {
			a := NewAccessLog(slog.New(h.new(io.Discard, nil)), AccessLogOptions{AllowSample: 1})
			b.ReportAllocs()
			for b.Loop() {
				a.Log(context.Background(), r)
			}
		})
	}
}

// TestJSONFloatIsEncodingJSONs covers the float formatting beyond the
// range a latency reaches.
func TestJSONFloatIsEncodingJSONs(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, uint64(time.Now().UnixNano()))) //nolint:gosec // random test inputs; not a secret
	fixed := []float64{0, math.Copysign(0, -1), 1e-7, 1e-6, 9.99e-7, 1e20, 1e21, 1.5e21, -1e21, 123.456, 0.001, 1e-300, math.MaxFloat64, math.SmallestNonzeroFloat64}
	for i := range 20000 + len(fixed) {
		var f float64
		if i < len(fixed) {
			f = fixed[i]
		} else {
			f = math.Float64frombits(rng.Uint64())
			if math.IsNaN(f) || math.IsInf(f, 0) {
				continue
			}
		}
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONFloat(nil, f); !bytes.Equal(got, want) {
			t.Fatalf("%v: got %s, want %s", f, got, want)
		}
	}
}
