package authztest

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// Options configure an Env. The zero value is a development instance
// verified through its JWKS (RemoteKeys over the Backend API), with every
// route requiring a signed-in session.
type Options struct {
	// Fake configures the fake Clerk instance.
	Fake clerktest.Options
	// StaticKeys verifies with the fake's PEM public key (CLERK_JWT_KEY):
	// no JWKS fetch, no Backend API call on the hot path.
	StaticKeys bool
	// Backend serves the Backend API (and so the JWKS) instead of the fake:
	// another instance means keys that do not match the fake's tokens.
	Backend *clerktest.Server
	// SecretKey overrides the Backend API secret key (default: Backend's).
	SecretKey string
	// UserAgent of the Backend API client (default "test").
	UserAgent string
	// HTTPClient of the Backend API client (default: the clerk package's).
	HTTPClient *http.Client
	// RemoteKeys configures the JWKS source (ignored with StaticKeys).
	RemoteKeys clerk.RemoteKeysOptions
	// PrefetchKeys loads the JWKS before New returns, as main's loadKeys does.
	PrefetchKeys bool
	// Verify configures the verifier.
	Verify clerk.VerifyOptions
	// Config configures the engine; PublishableKey is the fake's.
	Config authz.Config
	// Engine configures the engine.
	Engine authz.Options
	// Log makes the engine log to Env.Logger (when Engine.Logger is nil);
	// otherwise it logs nowhere, as benchmarks need.
	Log bool
	// Setup completes the engine's config and options from what New built
	// (every Env field but Engine is set): membership and profile lookups,
	// refresher and handshake payloads on e.API, ProxyURL at e.Fake.URL.
	Setup func(e *Env, cfg *authz.Config, o *authz.Options)
}

// Env is an engine wired to a fake Clerk instance.
type Env struct {
	Fake     *clerktest.Server
	API      *clerk.API
	Verifier *clerk.Verifier
	Engine   *authz.Engine
	// PublishableKey is the fake's, parsed.
	PublishableKey clerk.PublishableKey
	// Suffix is the instance's cookie suffix (__session_<suffix>).
	Suffix string
	// Logs captures Logger's lines: JSON, debug level.
	Logs   *LogBuffer
	Logger *slog.Logger
}

// New starts a fake Clerk (closed when the test ends) and wires a
// verifier and an engine to it. Any setup error fails the test.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	fake := clerktest.Start(t, o.Fake)
	pk, err := clerk.ParsePublishableKey(fake.PublishableKey)
	if err != nil {
		t.Fatal(err)
	}
	backend := fake
	if o.Backend != nil {
		backend = o.Backend
	}
	secret, agent := o.SecretKey, o.UserAgent
	if secret == "" {
		secret = backend.SecretKey
	}
	if agent == "" {
		agent = "test"
	}
	api, err := clerk.NewAPI(backend.URL, "v1", secret, agent, o.HTTPClient)
	if err != nil {
		t.Fatal(err)
	}
	var keys clerk.KeySource
	if o.StaticKeys {
		static, err := clerk.NewStaticKeys(backend.Key().PublicKeyPEM())
		if err != nil {
			t.Fatal(err)
		}
		keys = static
	} else {
		remote := clerk.NewRemoteKeys(api, o.RemoteKeys)
		if o.PrefetchKeys {
			if err := remote.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		keys = remote
	}
	e := &Env{Fake: fake, API: api, PublishableKey: pk, Suffix: clerk.CookieSuffix(fake.PublishableKey), Logs: &LogBuffer{}}
	e.Logger = slog.New(slog.NewJSONHandler(e.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.Verifier = clerk.NewVerifier(keys, o.Verify)
	cfg, opts := o.Config, o.Engine
	cfg.PublishableKey = pk
	if opts.Logger == nil && o.Log {
		opts.Logger = e.Logger
	}
	if o.Setup != nil {
		o.Setup(e, &cfg, &opts)
	}
	e.Engine = authz.NewEngine(cfg, e.Verifier, opts)
	return e
}

// Token is a session token the fake signs for userID; mod, when not nil,
// edits the claims first.
func (e *Env) Token(userID string, mod func(clerktest.Claims)) string {
	c := e.Fake.SessionClaims(userID)
	if mod != nil {
		mod(c)
	}
	return e.Fake.Sign(c)
}

// Request is a request for https://app.example.test/dashboard?tab=1 with
// headers given as name, value pairs.
func Request(method string, headers ...string) *authz.Request {
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Add(headers[i], headers[i+1])
	}
	u, _ := url.Parse("https://app.example.test/dashboard?tab=1")
	return &authz.Request{Method: method, URL: u, Header: h}
}

// LogBuffer is a log sink safe for the goroutines of the servers under
// test.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
