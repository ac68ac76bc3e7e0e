// Command clerk-forward-auth answers reverse proxies' auth subrequests
// (Traefik forwardAuth, NGINX auth_request, Envoy ext_authz, Caddy
// forward_auth) from the request's Clerk session. main.go is wiring only.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/cache"
	"github.com/clerk-forward-auth/clerk-forward-auth/cache/redisshare"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/handlers"
	"github.com/clerk-forward-auth/clerk-forward-auth/observe"
)

// version is stamped at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "demo" {
		os.Exit(runDemo(os.Stdout))
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "clerk-forward-auth: configuration error: %v\n", err)
		os.Exit(2)
	}
	logOut := observe.NewLogWriter(os.Stderr, cfg.LogFlushInterval)
	logger := newLogger(logOut, cfg)
	defaultGC(cfg, os.Getenv).apply(logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err = serve(ctx, cfg, logger, nil)
	stop()
	// A setting judged only while the parts are built (the webhook secret's
	// base64, a Redis URL's options) is as much a configuration error as
	// those loadConfig finds: the same line and exit status.
	var ce *configError
	if errors.As(err, &ce) {
		logOut.Flush()
		fmt.Fprintf(os.Stderr, "clerk-forward-auth: configuration error: %v\n", err)
		os.Exit(2)
	}
	if err != nil {
		logger.Error("exit", "error", err.Error())
	}
	logOut.Flush()
	if err != nil {
		os.Exit(1)
	}
}

func newLogger(w io.Writer, cfg *Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.logLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	// slog's JSON handler, marked so that the access log (one line per
	// request) encodes its lines directly, with the same bytes.
	return slog.New(observe.NewJSONHandler(w, opts))
}

// service is the wired application.
type service struct {
	handler http.Handler
	engine  *authz.Engine
	remote  *clerk.RemoteKeys    // nil with CLERK_JWT_KEY
	obs     *observability       // observability.go
	grpc    *handlers.GRPCServer // nil unless GRPC_LISTEN_ADDR (grpc.go)

	// Organization policy; nil when not configured. Their Stats() feed metrics.
	policy      *authz.PolicyFile
	memberships *authz.MembershipLookup // nil without CLERK_SECRET_KEY
	profiles    *authz.ProfileLookup    // nil unless USER_PROFILE_HEADERS
	machines    *authz.MachineLookup
	denyList    *authz.SessionDenyList
	sessions    *authz.SessionCheck // nil unless SESSION_CHECK=always
	redis       *redisshare.Store   // nil unless REDIS_URL
}

func newService(cfg *Config, logger *slog.Logger) (*service, error) {
	obs, err := newObservability(cfg, logger)
	if err != nil {
		return nil, err
	}
	httpClient := &http.Client{Timeout: cfg.APITimeout, Transport: obs.apiTransport()}
	api, err := clerk.NewAPI(cfg.APIURL, cfg.APIVersion, cfg.SecretKey, "clerk-forward-auth/"+version, httpClient)
	if err != nil {
		return nil, fmt.Errorf("backend api client: %w", err)
	}
	api.OnCall = obs.onAPICall
	s := &service{obs: obs}
	if s.redis, err = openRedis(context.Background(), cfg, logger); err != nil {
		return nil, err
	}
	var keys clerk.KeySource
	if cfg.staticKeys != nil {
		keys = cfg.staticKeys
	} else {
		s.remote = clerk.NewRemoteKeys(api, clerk.RemoteKeysOptions{
			TTL:                cfg.JWKSCacheTTL,
			MinRefetchInterval: cfg.JWKSMinRefetch,
			OnFetch: func(n int, err error, took time.Duration) {
				obs.metrics.JWKSFetch(n, err, took)
				if err != nil {
					logger.Warn("jwks fetch failed", "reason", string(clerk.ReasonOf(err)), "error", err.Error(), "took", took)
					return
				}
				logger.Info("jwks fetched", "keys", n, "took", took)
			},
		})
		keys = s.remote
	}
	verifier := clerk.NewVerifier(keys, clerk.VerifyOptions{
		AuthorizedParties: cfg.AuthorizedParties, Audience: cfg.JWTAudience, Issuers: cfg.JWTIssuer, TokenCacheSize: cfg.TokenCacheSize,
	})
	orgOpts, err := s.orgPolicy(cfg, api, logger)
	if err != nil {
		return nil, err
	}
	if err := s.machineTokens(cfg, api, verifier, logger); err != nil {
		return nil, err
	}
	s.denyList = authz.NewSessionDenyList(authz.DefaultDenyTTL, 0, nil)
	var sessionCheck authz.SessionChecker
	if cfg.SessionCheck == "always" {
		if s.sessions, err = authz.NewSessionCheck(api, authz.SessionCheckOptions{TTL: cfg.SessionCheckTTL, Logger: logger, Shared: s.shared()}); err != nil {
			return nil, err
		}
		sessionCheck = s.sessions
	}
	webhook, err := s.webhookHandler(cfg, logger)
	if err != nil {
		return nil, err
	}
	if err := obs.watchParts(s.policy, s.caches()...); err != nil {
		return nil, err
	}

	// Server-side session refresh needs the secret key (CLERK_JWT_KEY-only
	// deployments hand-shake instead, as the SDK does without an apiClient).
	var refresher authz.SessionRefresher
	if cfg.SecretKey != "" {
		refresher = api
	}
	s.engine = authz.NewEngine(authz.Config{
		PublishableKey:       cfg.publishableKey,
		ProxyURL:             cfg.ProxyURL,
		SignInURL:            cfg.SignInURL,
		IsSatellite:          cfg.IsSatellite,
		Domain:               cfg.Domain,
		SatelliteDomains:     cfg.SatelliteDomains,
		SatelliteAutoSync:    cfg.SatelliteAutoSync,
		OrganizationSync:     cfg.orgSync,
		AllowCORSPreflight:   cfg.AllowCORSPreflight,
		CallbackPath:         cfg.CallbackPath,
		AllowedRedirectHosts: cfg.AllowedRedirectHosts,
	}, verifier, authz.Options{Logger: logger, HandshakePayloads: api, Refresher: refresher, Memberships: orgOpts.Memberships, Policy: orgOpts.Policy, Profiles: orgOpts.Profiles, Machines: s.machines,
		Revoked: s.denyList, SessionCheck: sessionCheck, NonceRedeemRate: float64(cfg.NonceRedeemRate)})
	hopts := obs.routerOptions(cfg, handlers.Options{
		Engine: s.engine, Logger: logger, TrustedProxies: cfg.trustedProxies,
		Webhook: webhook, WebhookPath: cfg.WebhookPath, ReadyChecks: s.redisReadyCheck(),
	})
	s.handler = handlers.NewRouter(hopts)
	if cfg.GRPCListenAddr != "" {
		s.grpc = handlers.NewGRPCServer(hopts)
	}
	return s, nil
}

// loadKeys fetches the JWKS until it succeeds, backing off, so /readyz
// turns ready as soon as Clerk answers.
func (s *service) loadKeys(ctx context.Context) {
	if s.remote == nil {
		return
	}
	delay := 500 * time.Millisecond
	for {
		fetchCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.remote.Refresh(fetchCtx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

// serve runs until ctx ends, then drains in-flight requests. ready, when
// not nil, receives the bound address.
func serve(ctx context.Context, cfg *Config, logger *slog.Logger, ready chan<- string) error {
	svc, err := newService(cfg, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	srv := newHTTPServer(svc.handler, logger)
	stopMetrics, err := svc.obs.serveMetrics(cfg, logger)
	if err != nil {
		_ = ln.Close() // the metrics error is the one to report
		return err
	}
	defer svc.obs.shutdown(context.Background(), logger)
	go svc.loadKeys(ctx)
	svc.follow(ctx, logger)
	if svc.redis != nil {
		defer func() { _ = svc.redis.Close() }()
	}
	if svc.policy != nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go svc.policy.Watch(ctx, cfg.PolicyPollInterval, hup)
	}
	errc := make(chan error, 2) // HTTP and gRPC
	go func() { errc <- srv.Serve(ln) }()
	stopGRPC, err := svc.serveGRPC(cfg, logger, errc)
	if err != nil {
		_ = srv.Close()
		return err
	}
	if len(cfg.trustedProxies) == 0 {
		// docs/known-attacks.md O2: with no list every peer may write the proxy
		// headers; fine only when the network lets nothing else reach us.
		logger.Warn("TRUSTED_PROXIES is unset: the auth endpoints accept every caller; set it to your proxies' CIDRs")
	}
	logger.Info("listening", "addr", ln.Addr().String(), "version", version,
		"instance", map[bool]string{true: "production", false: "development"}[cfg.publishableKey.Production],
		"frontend_api", cfg.publishableKey.FAPIHost,
		// Derived from the publishable key, not secret; proxies that copy
		// cookies by exact name (Traefik addAuthCookiesToResponse) need it.
		"cookie_suffix", clerk.CookieSuffix(cfg.PublishableKey))
	if ready != nil {
		ready <- ln.Addr().String()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	_ = stopMetrics(shutdownCtx)
	grpcStopped := stopGRPC(shutdownCtx)
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-grpcStopped; err != nil {
		return fmt.Errorf("grpc shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// shared is the Redis level as the caches take it: a nil interface
// without REDIS_URL, never a typed nil.
func (s *service) shared() cache.Shared {
	if s.redis == nil {
		return nil
	}
	return s.redis
}

// caches are the Backend API caches that are on, for metrics and, with
// Redis, to follow the other replicas' invalidations.
func (s *service) caches() []namedCache {
	var c []namedCache
	if s.memberships != nil {
		c = append(c, namedCache{"memberships", s.memberships})
	}
	if s.profiles != nil {
		c = append(c, namedCache{"profiles", s.profiles})
	}
	if s.machines != nil {
		c = append(c, namedCache{"machine_tokens", s.machines})
	}
	if s.sessions != nil {
		c = append(c, namedCache{"session_status", s.sessions})
	}
	return c
}

// machineTokens builds the machine token verifier and its cache. Machine
// JWTs verify with the instance's keys alone; opaque credentials need the
// Backend API, so without a secret key they are refused
// (secret-key-invalid), as the SDK refuses them.
func (s *service) machineTokens(cfg *Config, api *clerk.API, verifier *clerk.Verifier, logger *slog.Logger) error {
	var machineAPI *clerk.API
	if cfg.SecretKey != "" || cfg.MachineSecretKey != "" {
		machineAPI = api
	}
	m, err := authz.NewMachineLookup(clerk.NewMachineVerifier(machineAPI, cfg.MachineSecretKey, verifier), authz.MachineLookupOptions{
		Size: cfg.MachineTokenCacheSize, TTL: cfg.MachineTokenCacheTTL, NegativeTTL: cfg.MachineTokenNegativeTTL,
		StaleWindow: cfg.MachineTokenStaleWindow, Logger: logger,
		VerifyRate: float64(cfg.MachineTokenVerifyRate), VerifyBurst: 2 * cfg.MachineTokenVerifyRate,
		Shared: s.shared(),
	})
	if err != nil {
		return err
	}
	s.machines = m
	return nil
}

// orgPolicy builds the policy file and the Backend API lookups. Options
// hold interfaces, so a part that is off stays a nil interface.
func (s *service) orgPolicy(cfg *Config, api *clerk.API, logger *slog.Logger) (authz.Options, error) {
	var o authz.Options
	if cfg.PolicyFile != "" {
		p, err := authz.LoadPolicyFile(cfg.PolicyFile, authz.PolicyFileOptions{Logger: logger})
		if err != nil {
			return o, fmt.Errorf("POLICY_FILE: %w", err)
		}
		s.policy, o.Policy = p, p
		logger.Info("policy file loaded", "path", cfg.PolicyFile, "rules", p.Len())
	}
	if cfg.SecretKey == "" {
		return o, nil // networkless (CLERK_JWT_KEY): only the active organization counts
	}
	lookup := authz.LookupOptions{
		Size: cfg.MembershipCacheSize, TTL: cfg.MembershipCacheTTL,
		NegativeTTL: cfg.MembershipNegativeTTL, StaleWindow: cfg.MembershipStaleWindow, Logger: logger,
		Shared: s.shared(),
	}
	m, err := authz.NewMembershipLookup(api, lookup)
	if err != nil {
		return o, err
	}
	s.memberships, o.Memberships = m, m
	if cfg.UserProfileHeaders {
		p, err := authz.NewProfileLookup(api, lookup)
		if err != nil {
			return o, err
		}
		s.profiles, o.Profiles = p, p
	}
	return o, nil
}

// newHTTPServer is an HTTP listener's server, with the bounds every one of
// them has (the service's and the metrics one): a client that sends its
// headers slowly, keeps a connection idle, or sends a huge header block
// cannot hold a goroutine and its buffers for long.
func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}
