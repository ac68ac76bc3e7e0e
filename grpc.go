package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
)

// serveGRPC starts Envoy ext_authz over gRPC on GRPC_LISTEN_ADDR (when set),
// reporting a failure of its Serve on errc. The returned stop drains it in
// the background, so it runs alongside the HTTP server's Shutdown; its
// channel yields the result.
func (s *service) serveGRPC(cfg *Config, logger *slog.Logger, errc chan<- error) (stop func(context.Context) <-chan error, err error) {
	if s.grpc == nil {
		return func(context.Context) <-chan error {
			done := make(chan error, 1)
			done <- nil
			return done
		}, nil
	}
	ln, err := net.Listen("tcp", cfg.GRPCListenAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (GRPC_LISTEN_ADDR): %w", cfg.GRPCListenAddr, err)
	}
	go func() {
		if err := s.grpc.Serve(ln); err != nil {
			errc <- fmt.Errorf("grpc: %w", err)
		}
	}()
	logger.Info("listening", "addr", ln.Addr().String(), "protocol", "grpc", "service", "envoy.service.auth.v3.Authorization")
	return func(ctx context.Context) <-chan error {
		done := make(chan error, 1)
		go func() { done <- s.grpc.Shutdown(ctx) }()
		return done
	}, nil
}
