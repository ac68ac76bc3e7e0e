// Package observe makes the service operable: Prometheus metrics in the
// text format, written by the package itself (metrics.go, exposition.go,
// runtimemetrics.go, process_linux.go), one structured access-log line per
// decision (accesslog.go), OpenTelemetry tracing that is off unless the
// standard OTEL_EXPORTER_OTLP_* variables are set (tracing.go; spans go
// out through our own OTLP/HTTP exporter, otlp.go), and the
// Backend API health that /readyz reports (health.go).
//
//	m := observe.NewMetrics("v1.2.3")
//	api.OnCall = m.APICall
//	log := observe.NewAccessLog(logger, observe.AccessLogOptions{AllowSample: 0.1})
//	tr, _ := observe.NewTracing(ctx, observe.TracingOptions{Version: "v1.2.3", Getenv: os.Getenv})
//	http.Handle("/metrics", m.Handler())
//
// Nothing here sees a token: callers hand over strings that are already
// safe (endpoint, outcome, Clerk reason, ids), and every label is from a
// bounded set (ReasonLabel, clerk.RouteTemplate), never a user id, path or
// host.
package observe
