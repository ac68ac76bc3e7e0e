package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// Config is the service's configuration, read from the environment. Clerk's
// own variable names keep Clerk's meaning.
type Config struct {
	SecretKey          string        `envconfig:"CLERK_SECRET_KEY"`
	PublishableKey     string        `envconfig:"CLERK_PUBLISHABLE_KEY"`
	JWTKey             string        `envconfig:"CLERK_JWT_KEY"`
	APIURL             string        `envconfig:"CLERK_API_URL" default:"https://api.clerk.com"`
	APIVersion         string        `envconfig:"CLERK_API_VERSION" default:"v1"`
	ProxyURL           string        `envconfig:"CLERK_PROXY_URL"`
	SignInURL          string        `envconfig:"CLERK_SIGN_IN_URL"`
	AuthorizedParties  []string      `envconfig:"CLERK_AUTHORIZED_PARTIES"`
	ListenAddr         string        `envconfig:"LISTEN_ADDR" default:":8080"`
	AllowCORSPreflight bool          `envconfig:"ALLOW_CORS_PREFLIGHT" default:"false"`
	CallbackPath       string        `envconfig:"CALLBACK_PATH" default:"/_auth/callback"`
	LogLevel           string        `envconfig:"LOG_LEVEL" default:"info"`
	LogFormat          string        `envconfig:"LOG_FORMAT" default:"json"`
	JWKSCacheTTL       time.Duration `envconfig:"JWKS_CACHE_TTL" default:"5m"`
	JWKSMinRefetch     time.Duration `envconfig:"JWKS_MIN_REFETCH_INTERVAL" default:"5s"`
	APITimeout         time.Duration `envconfig:"CLERK_API_TIMEOUT" default:"5s"`
	ShutdownTimeout    time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"20s"`

	publishableKey clerk.PublishableKey
	staticKeys     *clerk.StaticKeys
	logLevel       slog.Level
}

// configError names the variable at fault; main prints it as one line and
// exits with status 2.
type configError struct {
	variable string
	problem  string
}

func (e *configError) Error() string { return e.variable + ": " + e.problem }

func bad(variable, format string, args ...any) error {
	return &configError{variable: variable, problem: fmt.Sprintf(format, args...)}
}

// loadConfig reads and validates the environment.
func loadConfig() (*Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return nil, bad(pe.KeyName, "cannot parse %q as %s", pe.Value, pe.TypeName)
		}
		return nil, err
	}
	return &c, c.validate()
}

func (c *Config) validate() error {
	if c.PublishableKey == "" {
		return bad("CLERK_PUBLISHABLE_KEY", "required (pk_test_… or pk_live_… from the Clerk dashboard)")
	}
	pk, err := clerk.ParsePublishableKey(c.PublishableKey)
	if err != nil {
		return bad("CLERK_PUBLISHABLE_KEY", "%v", err)
	}
	c.publishableKey = pk
	if c.SecretKey == "" && c.JWTKey == "" {
		return bad("CLERK_SECRET_KEY", "required unless CLERK_JWT_KEY is set: no key to verify sessions with")
	}
	if c.SecretKey != "" {
		want := "sk_test_"
		if pk.Production {
			want = "sk_live_"
		}
		if !strings.HasPrefix(c.SecretKey, want) {
			return bad("CLERK_SECRET_KEY", "must start with %s to match the publishable key's instance", want)
		}
	}
	if c.JWTKey != "" {
		keys, err := clerk.NewStaticKeys(c.JWTKey)
		if err != nil {
			return bad("CLERK_JWT_KEY", "%v", err)
		}
		c.staticKeys = keys
	}
	if err := checkURL(c.APIURL, false); err != nil {
		return bad("CLERK_API_URL", "%v", err)
	}
	if c.APIVersion == "" || strings.ContainsAny(c.APIVersion, "/?#") {
		return bad("CLERK_API_VERSION", "must be a path segment such as v1")
	}
	if c.ProxyURL != "" {
		if err := checkURL(c.ProxyURL, false); err != nil {
			return bad("CLERK_PROXY_URL", "%v", err)
		}
	}
	if c.SignInURL != "" {
		if err := checkURL(c.SignInURL, true); err != nil {
			return bad("CLERK_SIGN_IN_URL", "%v", err)
		}
	}
	for _, p := range c.AuthorizedParties {
		if err := checkURL(p, false); err != nil {
			return bad("CLERK_AUTHORIZED_PARTIES", "%q: %v (use origins such as https://app.example.com)", p, err)
		}
	}
	if c.ListenAddr == "" {
		return bad("LISTEN_ADDR", "must not be empty")
	}
	if !strings.HasPrefix(c.CallbackPath, "/") || strings.ContainsAny(c.CallbackPath, "?#") {
		return bad("CALLBACK_PATH", "must be an absolute path such as /_auth/callback")
	}
	if err := c.logLevel.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return bad("LOG_LEVEL", "must be debug, info, warn or error")
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return bad("LOG_FORMAT", "must be json or text")
	}
	for name, d := range map[string]time.Duration{"JWKS_CACHE_TTL": c.JWKSCacheTTL, "JWKS_MIN_REFETCH_INTERVAL": c.JWKSMinRefetch, "CLERK_API_TIMEOUT": c.APITimeout, "SHUTDOWN_TIMEOUT": c.ShutdownTimeout} {
		if d <= 0 {
			return bad(name, "must be a positive duration")
		}
	}
	return nil
}

// checkURL accepts an absolute http(s) URL, or with relativeOK a path.
func checkURL(s string, relativeOK bool) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	if relativeOK && u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/") && !strings.HasPrefix(s, "//") {
		return nil
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return errors.New("must be an absolute http(s) URL")
	}
	return nil
}
