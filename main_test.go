package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz/authztest"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// TestShutdownDrainsInFlightRequests: SIGTERM (here: the context ending)
// stops accepting, and a request already being decided still gets its answer.
func TestShutdownDrainsInFlightRequests(t *testing.T) {
	fake, err := clerktest.New(clerktest.Options{Production: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	fake.SetLatency(700 * time.Millisecond) // the first decision waits for the JWKS
	cfg := testConfig(t, fake, func(c *Config) { c.LogLevel = "error" })
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
	addr := <-ready

	req, _ := http.NewRequest("GET", "http://"+addr+"/forward-auth", nil)
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Host", "app.example.test")
	req.Header.Set("X-Forwarded-Uri", "/")
	req.Header.Set("Authorization", "Bearer "+fake.Sign(fake.SessionClaims("user_1")))
	status := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			status <- -1
			return
		}
		_ = resp.Body.Close()
		status <- resp.StatusCode
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	if got := <-status; got != http.StatusOK {
		t.Fatalf("in-flight request got %d, want 200", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Fatal("server still accepts connections after shutdown")
	}
}

// TestStartupLogNamesTheCookieSuffix: proxies that copy cookies by exact
// name (Traefik addAuthCookiesToResponse) need __session_<suffix>; the
// "listening" line tells operators the suffix.
func TestStartupLogNamesTheCookieSuffix(t *testing.T) {
	fake, err := clerktest.New(clerktest.Options{Production: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	cfg := testConfig(t, fake, nil)
	var logs authztest.LogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil)), ready) }()
	<-ready
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec struct {
			Msg          string `json:"msg"`
			CookieSuffix string `json:"cookie_suffix"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "listening" {
			continue
		}
		if want := clerk.CookieSuffix(fake.PublishableKey); rec.CookieSuffix != want || want == "" {
			t.Fatalf("cookie_suffix = %q, want %q", rec.CookieSuffix, want)
		}
		return
	}
	t.Fatalf("no listening line in:\n%s", logs.String())
}

// testConfig is a validated configuration for the fake instance, listening
// on a free loopback port, logging JSON at info; change adjusts it first.
func testConfig(t *testing.T, fake *clerktest.Server, change func(*Config)) *Config {
	t.Helper()
	cfg := &Config{
		SecretKey: fake.SecretKey, PublishableKey: fake.PublishableKey, APIURL: fake.URL, APIVersion: "v1",
		ListenAddr: "127.0.0.1:0", CallbackPath: "/_auth/callback", LogLevel: "info", LogFormat: "json",
		JWKSCacheTTL: time.Minute, JWKSMinRefetch: time.Second, APITimeout: 5 * time.Second, ShutdownTimeout: 5 * time.Second,
	}
	if change != nil {
		change(cfg)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}
