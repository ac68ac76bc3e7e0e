package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/observe"
)

// TestLoggerFormatsAndTheAccessLog: LOG_FORMAT=json builds the handler the
// access log writes through directly, LOG_FORMAT=text keeps slog's text
// handler; LOG_LEVEL filters access log lines either way.
func TestLoggerFormatsAndTheAccessLog(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			l := newLogger(&buf, &Config{LogFormat: format, logLevel: slog.LevelWarn})
			if _, direct := l.Handler().(*observe.JSONHandler); direct != (format == "json") {
				t.Fatalf("handler %T", l.Handler())
			}
			a := observe.NewAccessLog(l, observe.AccessLogOptions{AllowSample: 1})
			a.Log(context.Background(), observe.Record{Endpoint: "forward-auth", Outcome: "allow"})       // info: filtered
			a.Log(context.Background(), observe.Record{Endpoint: "forward-auth", Outcome: "unavailable"}) // error
			a.Log(context.Background(), observe.Record{Endpoint: "forward-auth", Outcome: "bad-request"}) // warn
			l.Info("not shown")
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != 2 || !strings.Contains(lines[0], "unavailable") || !strings.Contains(lines[1], "bad-request") {
				t.Fatalf("lines %q", lines)
			}
			if format == "json" && !strings.HasPrefix(lines[0], `{"time":"`) || format == "text" && !strings.HasPrefix(lines[0], "time=") {
				t.Fatalf("line %q is not %s", lines[0], format)
			}
		})
	}
}
