package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

func TestGRPCListenAddrValidation(t *testing.T) {
	tests := []struct {
		grpc, metrics string
		problem       string // "" = valid
	}{
		{"", "", ""},
		{":9191", "", ""},
		{"127.0.0.1:9191", ":9090", ""},
		{"9191", "", "GRPC_LISTEN_ADDR: must be host:port"},
		{":8080", "", "GRPC_LISTEN_ADDR: must differ"},
		{":9090", ":9090", "GRPC_LISTEN_ADDR: must differ"},
	}
	for _, tt := range tests {
		c := &Config{GRPCListenAddr: tt.grpc, MetricsAddr: tt.metrics, ListenAddr: ":8080"}
		err := c.validateGRPCListenAddr()
		if (err == nil) != (tt.problem == "") || (err != nil && !strings.HasPrefix(err.Error(), tt.problem)) {
			t.Errorf("GRPC_LISTEN_ADDR=%q METRICS_ADDR=%q: %v, want %q", tt.grpc, tt.metrics, err, tt.problem)
		}
	}
}

// TestGRPCServesAndDrainsWithHTTP: with GRPC_LISTEN_ADDR set, Check
// answers next to HTTP, and SIGTERM (the context ending) lets an in-flight
// check finish before both listeners close.
func TestGRPCServesAndDrainsWithHTTP(t *testing.T) {
	fake, err := clerktest.New(clerktest.Options{Production: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	fake.SetLatency(700 * time.Millisecond) // the first decision waits for the JWKS
	cfg := testConfig(t, fake, func(c *Config) { c.GRPCListenAddr, c.LogLevel = grpcFreeAddr(t), "error" })
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
	httpAddr := <-ready

	conn, err := grpc.NewClient(cfg.GRPCListenAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	check := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/", Host: "app.example.test", Scheme: "https", Protocol: "HTTP/1.1",
			Headers: map[string]string{":method": "GET", ":path": "/", ":authority": "app.example.test", ":scheme": "https",
				"authorization": "Bearer " + fake.Sign(fake.SessionClaims("user_1"))},
		},
	}}}
	type result struct {
		resp *authv3.CheckResponse
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		r, err := authv3.NewAuthorizationClient(conn).Check(context.Background(), check)
		inflight <- result{r, err}
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	r := <-inflight
	if r.err != nil || r.resp.GetStatus() == nil || r.resp.GetStatus().GetCode() != 0 {
		t.Fatalf("in-flight check: %v, %v", r.resp, r.err)
	}
	if got := r.resp.GetOkResponse().GetHeaders(); len(got) == 0 || got[0].GetHeader().GetValue() != "user_1" {
		t.Fatalf("identity headers %v", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := http.Get("http://" + httpAddr + "/healthz"); err == nil {
		t.Fatal("HTTP still accepts connections after shutdown")
	}
	hctx, hcancel := context.WithTimeout(context.Background(), time.Second)
	defer hcancel()
	if _, err := healthpb.NewHealthClient(conn).Check(hctx, &healthpb.HealthCheckRequest{}); err == nil {
		t.Fatal("gRPC still answers after shutdown")
	}
}

// grpcFreeAddr is a loopback address nothing listens on (for a setting that
// cannot report the port it bound).
func grpcFreeAddr(t *testing.T) string {
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
