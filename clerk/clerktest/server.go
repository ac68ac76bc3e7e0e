package clerktest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a fake instance.
type Options struct {
	// Production makes a pk_live_ instance (rate limit 1000 / 10 s) instead
	// of a development one (pk_test_, 100 / 10 s).
	Production bool
	// FAPIHost is the Frontend API host encoded in the publishable key.
	// Default: "clerk.example.test" (production) or
	// "happy-hippo-1.clerk.accounts.dev" (development).
	FAPIHost string
	// Addr to listen on; default 127.0.0.1:0.
	Addr string
	// Now is the clock the fake mints tokens and __client_uat with
	// (default time.Now), so a test can let a session's token expire.
	Now func() time.Time
}

// Server is a running fake Clerk instance.
type Server struct {
	URL            string // Backend API base, for CLERK_API_URL
	PublishableKey string
	SecretKey      string
	FAPIHost       string
	Production     bool
	// MachineSecretKey is a machine's secret key (ak_…), accepted besides
	// SecretKey by the M2M token routes only (machines.go).
	MachineSecretKey string

	now      func() time.Time
	srv      *http.Server
	listener net.Listener
	mux      *http.ServeMux

	mu         sync.Mutex
	keys       []*SigningKey // keys[0] signs; all are published
	calls      map[string]int
	failStatus int           // answer every limited Backend API call with this status
	retryAfter time.Duration // with failStatus 429
	latency    time.Duration
	jwksStatus int // answer /v1/jwks with this status (0 = normal)
	jwksBody   string
	window     time.Time
	windowUsed int
	rateLimit  int          // per 10-second window; 0: Clerk's (100 dev, 1000 prod)
	directory  directory    // users and memberships (users.go)
	fapi       fapiState    // Frontend API handshake (fapi.go)
	refresh    refreshState // session refresh (refresh.go)
	machines   machineState // API keys, M2M and OAuth tokens (machines.go)
}

// SigningKey is an RSA key with its kid.
type SigningKey struct {
	Kid     string
	Private *rsa.PrivateKey
}

// NewSigningKey makes a 2048-bit RSA key.
func NewSigningKey(kid string) (*SigningKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate rsa key: %w", err)
	}
	return &SigningKey{Kid: kid, Private: k}, nil
}

// PublicKeyPEM is the PKIX PEM of the public half, as CLERK_JWT_KEY.
func (k *SigningKey) PublicKeyPEM() string {
	der, _ := x509.MarshalPKIXPublicKey(&k.Private.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// TB is the part of testing.TB that Start uses (this package is also
// built into the service's demo mode, which must not import testing).
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// Start is New for a test or benchmark: a failure to start fails it, and
// the server is closed when it ends.
func Start(t TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal("clerktest: ", err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts a fake instance on loopback.
func New(opts Options) (*Server, error) {
	host := opts.FAPIHost
	if host == "" {
		host = "happy-hippo-1.clerk.accounts.dev"
		if opts.Production {
			host = "clerk.example.test"
		}
	}
	prefix, skPrefix := "pk_test_", "sk_test_"
	if opts.Production {
		prefix, skPrefix = "pk_live_", "sk_live_"
	}
	key, err := NewSigningKey("ins_" + randomID(24))
	if err != nil {
		return nil, err
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := &Server{
		URL:              "http://" + ln.Addr().String(),
		PublishableKey:   prefix + base64.RawStdEncoding.EncodeToString([]byte(host+"$")),
		SecretKey:        skPrefix + randomID(40),
		MachineSecretKey: "ak_" + randomID(40),
		FAPIHost:         host,
		Production:       opts.Production,
		now:              opts.Now,
		listener:         ln,
		mux:              http.NewServeMux(),
		keys:             []*SigningKey{key},
		calls:            map[string]int{},
	}
	s.routes()
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}

// Handle registers a Backend API route (Go 1.22 pattern, e.g.
// "GET /v1/users/{id}"). It is authenticated with the secret key, counted,
// rate-limited and subject to failure injection like the built-in routes.
func (s *Server) Handle(pattern string, h http.HandlerFunc) {
	s.mux.Handle(pattern, s.backendAPI(pattern, true, secretKeyOnly, h))
}

func (s *Server) routes() {
	s.mux.Handle("GET /v1/jwks", s.backendAPI("GET /v1/jwks", false, secretKeyOnly, s.serveJWKS))
	s.userRoutes()
	s.machineRoutes()
	s.fapiRoutes()
	s.refreshRoutes()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "resource_not_found", "not found")
	})
}

// routeKeys says which keys a route accepts as Bearer.
type routeKeys int

const (
	secretKeyOnly      routeKeys = iota
	secretOrMachineKey           // the M2M token routes
)

// accepts reports whether bearer authenticates a route taking k.
func (s *Server) accepts(k routeKeys, bearer string) bool {
	switch k {
	case secretOrMachineKey:
		return bearer == s.SecretKey || bearer == s.MachineSecretKey
	case secretKeyOnly:
	}
	return bearer == s.SecretKey
}

// backendAPI wraps a route with Clerk's Backend API behaviour: the keys
// it accepts, call counting and, when limited, failure injection, latency
// and the rate limit.
func (s *Server) backendAPI(name string, limited bool, keys routeKeys, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls[name]++
		latency := s.latency
		failStatus, retryAfter := s.failStatus, s.retryAfter
		s.mu.Unlock()
		if latency > 0 {
			time.Sleep(latency)
		}
		auth := r.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "Bearer ") {
			WriteError(w, http.StatusUnauthorized, "authorization_header_format_invalid", "Invalid Authorization header format")
			return
		}
		if !s.accepts(keys, strings.TrimPrefix(auth, "Bearer ")) {
			WriteError(w, http.StatusUnauthorized, "clerk_key_invalid", "The provided Clerk Secret Key is invalid.")
			return
		}
		if !limited {
			h(w, r)
			return
		}
		if failStatus != 0 {
			if failStatus == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter.Seconds())))
				WriteError(w, failStatus, "too_many_requests", "Too many requests, retry later")
				return
			}
			WriteError(w, failStatus, "internal_clerk_error", "Oops, an unexpected error occurred")
			return
		}
		if wait, ok := s.takeRateLimit(); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			WriteError(w, http.StatusTooManyRequests, "too_many_requests", "Too many requests, retry later")
			return
		}
		h(w, r)
	})
}

// takeRateLimit applies Clerk's fixed 10-second window per instance.
func (s *Server) takeRateLimit() (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := 100
	if s.Production {
		limit = 1000
	}
	if s.rateLimit > 0 {
		limit = s.rateLimit
	}
	now := time.Now()
	if now.Sub(s.window) >= 10*time.Second {
		s.window, s.windowUsed = now, 0
	}
	if s.windowUsed >= limit {
		return 10*time.Second - now.Sub(s.window), false
	}
	s.windowUsed++
	return 0, true
}

func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	status, body := s.jwksStatus, s.jwksBody
	keys := append([]*SigningKey(nil), s.keys...)
	s.mu.Unlock()
	if status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
		return
	}
	type jwk struct {
		Use string `json:"use"`
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Alg string `json:"alg"`
		N   string `json:"n"`
		E   string `json:"e"`
	}
	out := struct {
		Keys []jwk `json:"keys"`
	}{}
	for _, k := range keys {
		pub := k.Private.PublicKey
		out.Keys = append(out.Keys, jwk{
			Use: "sig", Kty: "RSA", Kid: k.Kid, Alg: "RS256",
			N: base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		})
	}
	WriteJSON(w, http.StatusOK, out)
}

// WriteJSON writes v as a JSON response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes Clerk's error shape with a trace id.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	trace := randomID(32)
	w.Header().Set("Clerk-Trace-Id", trace)
	WriteJSON(w, status, map[string]any{
		"errors": []map[string]any{{
			"code": code, "message": message, "long_message": message, "meta": map[string]any{},
		}},
		"clerk_trace_id": trace,
	})
}

// Calls returns how often a route (its pattern, e.g. "GET /v1/jwks") was called.
func (s *Server) Calls(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[route]
}

// ResetCalls zeroes the call counters.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
}

// FailWith makes every rate-limited Backend API call answer status (0 to
// stop); with 429 it sends Retry-After.
func (s *Server) FailWith(status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failStatus, s.retryAfter = status, retryAfter
}

// SetRateLimit sets the calls allowed per 10-second window (0 restores
// Clerk's limit for the instance type).
func (s *Server) SetRateLimit(perWindow int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimit = perWindow
}

// SetLatency delays every Backend API answer.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetJWKSResponse makes /v1/jwks answer status with body (status 0 restores
// the real key set).
func (s *Server) SetJWKSResponse(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jwksStatus, s.jwksBody = status, body
}

// Key is the current signing key.
func (s *Server) Key() *SigningKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[0]
}

// RotateKey makes a new signing key current; old keys stay published.
func (s *Server) RotateKey() (*SigningKey, error) {
	k, err := NewSigningKey("ins_" + randomID(24))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append([]*SigningKey{k}, s.keys...)
	return k, nil
}

func randomID(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("crypto/rand failed"))
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// NewID makes a Clerk-style id with a prefix ("user", "sess", "org").
func NewID(prefix string) string { return prefix + "_" + randomID(27) }
