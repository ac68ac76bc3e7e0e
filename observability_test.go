package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// TestMetricsListenerAndOTLPExportEndToEnd runs serve with METRICS_ADDR
// and an OTLP endpoint: /metrics moves to its own listener, and the
// decision's spans reach the collector by shutdown.
func TestMetricsListenerAndOTLPExportEndToEnd(t *testing.T) {
	var exports atomic.Int32
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/v1/traces" && len(body) > 0 {
			exports.Add(1)
		}
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)

	fake, err := clerktest.New(clerktest.Options{Production: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	metricsAddr := freeAddr(t)
	cfg := testConfig(t, fake, func(c *Config) { c.MetricsAddr = metricsAddr })
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil)), ready) }()
	addr := <-ready

	req, _ := http.NewRequest("GET", "http://"+addr+"/forward-auth", nil)
	for k, v := range map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.test", "X-Forwarded-Uri": "/",
		"Authorization": "Bearer " + fake.Sign(fake.SessionClaims("user_1")), "Traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("decision %d", resp.StatusCode)
	}
	if body := get(t, "http://"+metricsAddr+"/metrics", 200); !strings.Contains(body, `clerk_forward_auth_decisions_total{endpoint="forward-auth",outcome="allow",reason="none"} 1`) ||
		!strings.Contains(body, `clerk_forward_auth_backend_api_requests_total{route="/jwks",status_class="2xx"}`) {
		t.Errorf("metrics listener:\n%.3000s", body)
	}
	get(t, "http://"+addr+"/metrics", 404)
	// Both listeners have the same bounds (newHTTPServer): an oversized
	// header block is refused on either.
	for _, u := range []string{"http://" + metricsAddr + "/metrics", "http://" + addr + "/healthz"} {
		huge, _ := http.NewRequest("GET", u, nil)
		huge.Header.Set("X-Padding", strings.Repeat("a", 80<<10))
		resp, err := http.DefaultClient.Do(huge)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("GET %s with an 80 KiB header: %d, want 431", u, resp.StatusCode)
		}
	}
	if body := get(t, "http://"+addr+"/readyz", 200); !strings.Contains(body, `"backend_api"`) {
		t.Errorf("readyz %s", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if exports.Load() == 0 {
		t.Error("no spans reached the OTLP collector by shutdown")
	}
	if !strings.Contains(logs.String(), `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`) {
		t.Errorf("access log does not carry the proxy's trace id:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), fake.SecretKey) {
		t.Error("the secret key was logged")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func get(t *testing.T, u string, want int) string {
	t.Helper()
	resp, err := http.Get(u) //nolint:gosec // a loopback URL the test built
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Errorf("GET %s: %d, want %d", u, resp.StatusCode, want)
	}
	return string(body)
}

func TestObservabilityConfig(t *testing.T) {
	base := map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK}
	tests := []struct {
		name     string
		env      map[string]string
		sample   float64
		variable string // "" = valid
	}{
		{"defaults keep every allow line", nil, 1, ""},
		{"a tenth", map[string]string{"LOG_ALLOW_SAMPLE": "0.1"}, 0.1, ""},
		{"none", map[string]string{"LOG_ALLOW_SAMPLE": "0"}, 0, ""},
		{"above one", map[string]string{"LOG_ALLOW_SAMPLE": "1.5"}, 0, "LOG_ALLOW_SAMPLE"},
		{"negative", map[string]string{"LOG_ALLOW_SAMPLE": "-0.1"}, 0, "LOG_ALLOW_SAMPLE"},
		{"NaN", map[string]string{"LOG_ALLOW_SAMPLE": "NaN"}, 0, "LOG_ALLOW_SAMPLE"},
		{"percent", map[string]string{"LOG_ALLOW_SAMPLE": "10%"}, 0, "LOG_ALLOW_SAMPLE"},
		{"metrics on their own port", map[string]string{"METRICS_ADDR": ":9090"}, 1, ""},
		{"metrics on the main port", map[string]string{"METRICS_ADDR": ":8080", "LISTEN_ADDR": ":8080"}, 0, "METRICS_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			setEnv(t, env)
			t.Setenv("LOG_ALLOW_SAMPLE", env["LOG_ALLOW_SAMPLE"])
			t.Setenv("METRICS_ADDR", env["METRICS_ADDR"])
			if env["LOG_ALLOW_SAMPLE"] == "" {
				if err := os.Unsetenv("LOG_ALLOW_SAMPLE"); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := loadConfig()
			var ce *configError
			if tt.variable != "" {
				if !errors.As(err, &ce) || ce.variable != tt.variable {
					t.Fatalf("err = %v, want one naming %s", err, tt.variable)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.allowSample != tt.sample {
				t.Errorf("allowSample = %v, want %v", cfg.allowSample, tt.sample)
			}
		})
	}
}
