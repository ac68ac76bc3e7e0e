package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/handlers"
)

// Config is the service's configuration, read from the environment. Clerk's
// own variable names keep Clerk's meaning.
type Config struct {
	SecretKey      string `envconfig:"CLERK_SECRET_KEY"`
	PublishableKey string `envconfig:"CLERK_PUBLISHABLE_KEY"`
	JWTKey         string `envconfig:"CLERK_JWT_KEY"`
	APIURL         string `envconfig:"CLERK_API_URL" default:"https://api.clerk.com"`
	APIVersion     string `envconfig:"CLERK_API_VERSION" default:"v1"`
	ProxyURL       string `envconfig:"CLERK_PROXY_URL"`
	SignInURL      string `envconfig:"CLERK_SIGN_IN_URL"`
	// Satellite domains (authz/site.go): checked by validateSatellites.
	IsSatellite        bool          `envconfig:"CLERK_IS_SATELLITE" default:"false"`
	Domain             string        `envconfig:"CLERK_DOMAIN"`
	SatelliteDomains   []string      `envconfig:"CLERK_SATELLITE_DOMAINS"`
	SatelliteAutoSync  bool          `envconfig:"CLERK_SATELLITE_AUTO_SYNC" default:"false"`
	AuthorizedParties  []string      `envconfig:"CLERK_AUTHORIZED_PARTIES"`
	JWTAudience        []string      `envconfig:"CLERK_JWT_AUDIENCE"`
	JWTIssuer          []string      `envconfig:"CLERK_JWT_ISSUER"`
	ListenAddr         string        `envconfig:"LISTEN_ADDR" default:":8080"`
	AllowCORSPreflight bool          `envconfig:"ALLOW_CORS_PREFLIGHT" default:"false"`
	CallbackPath       string        `envconfig:"CALLBACK_PATH" default:"/_auth/callback"`
	LogLevel           string        `envconfig:"LOG_LEVEL" default:"info"`
	LogFormat          string        `envconfig:"LOG_FORMAT" default:"json"`
	JWKSCacheTTL       time.Duration `envconfig:"JWKS_CACHE_TTL" default:"5m"`
	JWKSMinRefetch     time.Duration `envconfig:"JWKS_MIN_REFETCH_INTERVAL" default:"5s"`
	APITimeout         time.Duration `envconfig:"CLERK_API_TIMEOUT" default:"5s"`
	ShutdownTimeout    time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"20s"`
	TokenCacheSize     int           `envconfig:"TOKEN_CACHE_SIZE" default:"10000"` // verified-token cache entries; 0 disables
	MetricsAddr        string        `envconfig:"METRICS_ADDR"`
	GRPCListenAddr     string        `envconfig:"GRPC_LISTEN_ADDR"` // Envoy ext_authz over gRPC; off when unset
	LogAllowSample     string        `envconfig:"LOG_ALLOW_SAMPLE" default:"1"`
	LogFlushInterval   time.Duration `envconfig:"LOG_FLUSH_INTERVAL" default:"100ms"` // 0 writes each line at once
	TrustedProxies     string        `envconfig:"TRUSTED_PROXIES"`
	// ALLOWED_REDIRECT_HOSTS: comma list of hosts, exact or *.example.com,
	// that redirect targets may name besides the request's own host.
	AllowedRedirectHosts []string `envconfig:"ALLOWED_REDIRECT_HOSTS"`

	// Organization sync (authz/orgsync.go): comma lists of path patterns.
	OrganizationPatterns    []string `envconfig:"CLERK_ORGANIZATION_PATTERNS"`
	PersonalAccountPatterns []string `envconfig:"CLERK_PERSONAL_ACCOUNT_PATTERNS"`

	// Organization policy (authz/policyfile.go, authz/memberships.go).
	PolicyFile            string        `envconfig:"POLICY_FILE"`
	PolicyPollInterval    time.Duration `envconfig:"POLICY_POLL_INTERVAL" default:"2s"`
	MembershipCacheSize   int           `envconfig:"MEMBERSHIP_CACHE_SIZE" default:"10000"`
	MembershipCacheTTL    time.Duration `envconfig:"MEMBERSHIP_CACHE_TTL" default:"30s"`
	MembershipNegativeTTL time.Duration `envconfig:"MEMBERSHIP_NEGATIVE_TTL" default:"10s"`
	MembershipStaleWindow time.Duration `envconfig:"MEMBERSHIP_STALE_WINDOW" default:"2m"`
	UserProfileHeaders    bool          `envconfig:"USER_PROFILE_HEADERS" default:"false"`
	// Machine tokens (API keys, M2M and OAuth tokens) on routes that
	// accept them; checked by validateMachineTokens.
	MachineSecretKey        string        `envconfig:"CLERK_MACHINE_SECRET_KEY"`
	MachineTokenCacheSize   int           `envconfig:"MACHINE_TOKEN_CACHE_SIZE" default:"10000"`
	MachineTokenCacheTTL    time.Duration `envconfig:"MACHINE_TOKEN_CACHE_TTL" default:"30s"`
	MachineTokenNegativeTTL time.Duration `envconfig:"MACHINE_TOKEN_NEGATIVE_TTL" default:"5s"`
	MachineTokenStaleWindow time.Duration `envconfig:"MACHINE_TOKEN_STALE_WINDOW" default:"1m"`
	MachineTokenVerifyRate  int           `envconfig:"MACHINE_TOKEN_VERIFY_RATE" default:"50"`
	// Handshake nonces redeemed with the Backend API per second.
	NonceRedeemRate int `envconfig:"HANDSHAKE_NONCE_REDEEM_RATE" default:"20"`
	// Many replicas, one truth: checked by validateSharedState.
	RedisURL        string        `envconfig:"REDIS_URL"`
	RedisCAFile     string        `envconfig:"REDIS_CA_FILE"`
	RedisCluster    bool          `envconfig:"REDIS_CLUSTER" default:"false"`
	WebhookSecret   string        `envconfig:"CLERK_WEBHOOK_SIGNING_SECRET"`
	WebhookPath     string        `envconfig:"WEBHOOK_PATH" default:"/_auth/webhooks/clerk"`
	SessionCheck    string        `envconfig:"SESSION_CHECK" default:"never"`
	SessionCheckTTL time.Duration `envconfig:"SESSION_CHECK_TTL" default:"5s"`

	publishableKey clerk.PublishableKey
	orgSync        *authz.OrganizationSync
	staticKeys     *clerk.StaticKeys
	logLevel       slog.Level
	allowSample    float64 // LOG_ALLOW_SAMPLE; "" (a Config built in code) keeps all
	trustedProxies []netip.Prefix
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
	if err := c.refuseZeros(); err != nil {
		return nil, err
	}
	return &c, c.validate()
}

// refuseZeros refuses 0 in the settings whose zero value validate reads
// as "the default" (a Config built in code, tests and the demo, leaves
// them zero). Every one has a non-zero default, so from the environment a
// 0 was written by the operator, who means no cache or no wait: taken as
// the default instead, MACHINE_TOKEN_CACHE_TTL=0 set to make a revoked
// API key stop at once would keep it working for 30s.
func (c *Config) refuseZeros() error {
	for _, z := range []struct {
		variable string
		zero     bool
		want     string
	}{
		{"POLICY_POLL_INTERVAL", c.PolicyPollInterval == 0, "at least 100ms"},
		{"MEMBERSHIP_CACHE_SIZE", c.MembershipCacheSize == 0, "between 1 and 10000000"},
		{"MEMBERSHIP_CACHE_TTL", c.MembershipCacheTTL == 0, "a positive duration up to 10m"},
		{"MEMBERSHIP_NEGATIVE_TTL", c.MembershipNegativeTTL == 0, "a positive duration no longer than MEMBERSHIP_CACHE_TTL"},
		{"MACHINE_TOKEN_CACHE_SIZE", c.MachineTokenCacheSize == 0, "between 1 and 10000000"},
		{"MACHINE_TOKEN_CACHE_TTL", c.MachineTokenCacheTTL == 0, "a positive duration up to 10m"},
		{"MACHINE_TOKEN_NEGATIVE_TTL", c.MachineTokenNegativeTTL == 0, "a positive duration no longer than MACHINE_TOKEN_CACHE_TTL"},
		{"SESSION_CHECK_TTL", c.SessionCheckTTL == 0, "a positive duration up to 1m"},
	} {
		if z.zero {
			return bad(z.variable, "must be %s; 0 does not turn it off (unset it for the default)", z.want)
		}
	}
	return nil
}

func (c *Config) validate() error {
	if c.PublishableKey == "" {
		return bad("CLERK_PUBLISHABLE_KEY", "required (pk_test_… or pk_live_… from the Clerk dashboard)")
	}
	// A key pasted with a line break or a space (a Secret written with
	// echo) would be accepted and then fail: the publishable key's base64
	// ignores a newline but its cookie suffix does not, and a secret key in
	// an Authorization header fails every call before it is sent. The
	// value is not shown.
	for _, k := range []struct{ variable, key string }{
		{"CLERK_PUBLISHABLE_KEY", c.PublishableKey}, {"CLERK_SECRET_KEY", c.SecretKey}, {"CLERK_MACHINE_SECRET_KEY", c.MachineSecretKey},
	} {
		if strings.IndexFunc(k.key, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0 {
			return bad(k.variable, "contains a space, a line break or another character no Clerk key has (a trailing newline from the Secret?)")
		}
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
		// A path such as /__clerk is resolved against each request's
		// public origin, as the SDK does.
		if err := checkURL(c.ProxyURL, true); err != nil {
			return bad("CLERK_PROXY_URL", "%v (or a path such as /__clerk)", err)
		}
	}
	if c.SignInURL != "" {
		if err := checkURL(c.SignInURL, true); err != nil {
			return bad("CLERK_SIGN_IN_URL", "%v", err)
		}
	}
	if err := c.validateSatellites(); err != nil {
		return err
	}
	if c.NonceRedeemRate < 0 || c.NonceRedeemRate > 100_000 {
		return bad("HANDSHAKE_NONCE_REDEEM_RATE", "must be between 0 (unbounded) and 100000 redemptions a second")
	}
	if err := c.validateOrganizationSync(); err != nil {
		return err
	}
	for _, p := range c.AuthorizedParties {
		if err := checkOrigin(p); err != nil {
			return bad("CLERK_AUTHORIZED_PARTIES", "%q: %v (use origins such as https://app.example.com)", p, err)
		}
	}
	for name, list := range map[string][]string{"CLERK_JWT_AUDIENCE": c.JWTAudience, "CLERK_JWT_ISSUER": c.JWTIssuer} {
		for _, v := range list {
			if v == "" || strings.ContainsAny(v, " \t") {
				return bad(name, "%q: want a comma list of values without spaces", v)
			}
		}
	}
	if c.TokenCacheSize < 0 || c.TokenCacheSize > 10_000_000 {
		return bad("TOKEN_CACHE_SIZE", "must be between 0 (disabled) and 10000000")
	}
	// Checked here, as GRPC_LISTEN_ADDR is: net.Listen refusing it later
	// would be a listen failure (exit 1), not a configuration error.
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		return bad("LISTEN_ADDR", "must be host:port such as :8080")
	}
	if !strings.HasPrefix(c.CallbackPath, "/") || strings.ContainsAny(c.CallbackPath, "?#") {
		return bad("CALLBACK_PATH", "must be an absolute path such as /_auth/callback")
	}
	if isServiceRoute(c.CallbackPath) {
		return bad("CALLBACK_PATH", "%s is one of the service's own routes", c.CallbackPath)
	}
	if err := c.logLevel.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return bad("LOG_LEVEL", "must be debug, info, warn or error")
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return bad("LOG_FORMAT", "must be json or text")
	}
	c.allowSample = 1
	if c.LogAllowSample != "" {
		if c.allowSample, err = strconv.ParseFloat(c.LogAllowSample, 64); err != nil || !(c.allowSample >= 0 && c.allowSample <= 1) { // NaN too
			return bad("LOG_ALLOW_SAMPLE", "must be a fraction from 0 to 1 (1 logs every allowed request; denials are always logged)")
		}
	}
	if c.LogFlushInterval < 0 || c.LogFlushInterval > 10*time.Second {
		return bad("LOG_FLUSH_INTERVAL", "must be between 0 (write each line at once) and 10s")
	}
	if _, _, err := net.SplitHostPort(c.MetricsAddr); c.MetricsAddr != "" && err != nil {
		return bad("METRICS_ADDR", "must be host:port such as :9090")
	}
	if c.MetricsAddr != "" && c.MetricsAddr == c.ListenAddr {
		return bad("METRICS_ADDR", "must differ from LISTEN_ADDR; leave it unset to serve /metrics on LISTEN_ADDR")
	}
	if err := c.validateGRPCListenAddr(); err != nil {
		return err
	}
	if c.trustedProxies, err = handlers.ParseTrustedProxies(c.TrustedProxies); err != nil {
		return bad("TRUSTED_PROXIES", "%v", err)
	}
	if _, err := authz.ParseRedirectHosts(c.AllowedRedirectHosts); err != nil {
		return bad("ALLOWED_REDIRECT_HOSTS", "%v", err)
	}
	if err := c.validateOrgPolicy(); err != nil {
		return err
	}
	if err := c.validateSharedState(); err != nil {
		return err
	}
	for name, d := range map[string]time.Duration{"JWKS_CACHE_TTL": c.JWKSCacheTTL, "JWKS_MIN_REFETCH_INTERVAL": c.JWKSMinRefetch, "CLERK_API_TIMEOUT": c.APITimeout, "SHUTDOWN_TIMEOUT": c.ShutdownTimeout} {
		if d <= 0 {
			return bad(name, "must be a positive duration")
		}
	}
	return nil
}

// validateOrganizationSync compiles the organization sync patterns: syntax
// the service does not implement stops it at start-up, where the SDK
// would match it differently or throw on every request.
func (c *Config) validateOrganizationSync() error {
	if _, err := authz.NewOrganizationSync(c.OrganizationPatterns, nil); err != nil {
		return bad("CLERK_ORGANIZATION_PATTERNS", "%v", err)
	}
	if _, err := authz.NewOrganizationSync(nil, c.PersonalAccountPatterns); err != nil {
		return bad("CLERK_PERSONAL_ACCOUNT_PATTERNS", "%v", err)
	}
	sync, err := authz.NewOrganizationSync(c.OrganizationPatterns, c.PersonalAccountPatterns)
	c.orgSync = sync
	return err
}

// validateSatellites checks the satellite settings where the SDK checks
// them on every request (authenticateRequest's assertions), so that a
// mistake stops the service at start-up instead of failing each request.
func (c *Config) validateSatellites() error {
	for i, d := range append([]string{c.Domain}, c.SatelliteDomains...) {
		name := "CLERK_SATELLITE_DOMAINS"
		if i == 0 {
			name = "CLERK_DOMAIN"
			if d == "" {
				continue
			}
		}
		if !isDomainName(d) {
			return bad(name, "%q: want a domain name such as satellite.example.com, without scheme, port or path", d)
		}
	}
	satellite := c.IsSatellite || len(c.SatelliteDomains) > 0
	switch {
	case c.IsSatellite && len(c.SatelliteDomains) > 0:
		return bad("CLERK_SATELLITE_DOMAINS", "set either CLERK_IS_SATELLITE (every request is for CLERK_DOMAIN) or CLERK_SATELLITE_DOMAINS (satellites by host), not both")
	case c.Domain != "" && !c.IsSatellite:
		return bad("CLERK_DOMAIN", "names a satellite's domain: set CLERK_IS_SATELLITE=true too (or list it in CLERK_SATELLITE_DOMAINS)")
	case c.IsSatellite && c.Domain == "" && c.ProxyURL == "":
		return bad("CLERK_DOMAIN", "Missing domain and proxyUrl. A satellite application needs to specify a domain or a proxyUrl (CLERK_DOMAIN or CLERK_PROXY_URL)")
	case len(c.SatelliteDomains) > 0 && c.ProxyURL != "" && !strings.HasPrefix(c.ProxyURL, "/"):
		return bad("CLERK_PROXY_URL", "with CLERK_SATELLITE_DOMAINS each domain reaches Clerk through its own origin: use a path such as /__clerk")
	case !satellite && c.SatelliteAutoSync:
		return bad("CLERK_SATELLITE_AUTO_SYNC", "applies to satellites only: set CLERK_IS_SATELLITE or CLERK_SATELLITE_DOMAINS")
	case !satellite:
		return nil
	}
	if c.SignInURL == "" {
		if !c.publishableKey.Production {
			return bad("CLERK_SIGN_IN_URL", "Missing signInUrl. Pass a signInUrl for dev instances if an app is satellite (the primary's sign-in page)")
		}
		return nil
	}
	u, err := url.Parse(c.SignInURL)
	if err != nil || u.Host == "" {
		return bad("CLERK_SIGN_IN_URL", "The signInUrl needs to have a absolute url format (a satellite signs in on the primary)")
	}
	host := strings.ToLower(u.Hostname())
	for _, d := range append([]string{c.Domain}, c.SatelliteDomains...) {
		if d = strings.ToLower(d); d != "" && (host == d || strings.HasSuffix(host, "."+d)) {
			return bad("CLERK_SIGN_IN_URL", "The signInUrl needs to be on a different origin than your satellite application (%s is under %s)", host, d)
		}
	}
	return nil
}

// isDomainName accepts a DNS name with at least one dot: letters, digits,
// hyphens and dots, no empty label.
func isDomainName(s string) bool {
	if len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
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

// checkOrigin accepts an origin as a browser writes it in Origin, which
// is what a token's azp holds and is compared to exactly: any other
// spelling of it (a trailing slash or a path, capitals, the scheme's
// default port) would never match, refusing every token.
func checkOrigin(s string) error {
	if err := checkURL(s, false); err != nil {
		return err
	}
	u, _ := url.Parse(s) // checkURL parsed it: http or https, with a host
	defaultPort := map[string]string{"http": "80", "https": "443"}[u.Scheme]
	if s != u.Scheme+"://"+strings.ToLower(u.Host) || u.Port() == defaultPort {
		return errors.New("must be an origin: scheme and host in lower case, a port only when not the default, nothing after")
	}
	return nil
}

// validateOrgPolicy checks the policy file and the membership cache bounds.
// The TTL bounds how long a removed membership keeps working; the stale
// window how long past it during a Clerk outage: minutes, never hours.
func (c *Config) validateOrgPolicy() error {
	// A Config built in code (tests, demo) leaves these zero: defaults.
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&c.PolicyPollInterval, 2 * time.Second}, {&c.MembershipCacheTTL, 30 * time.Second}, {&c.MembershipNegativeTTL, 10 * time.Second}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.MembershipCacheSize == 0 {
		c.MembershipCacheSize = 10000
	}
	if c.PolicyFile != "" {
		if _, err := authz.LoadPolicyFile(c.PolicyFile, authz.PolicyFileOptions{}); err != nil {
			return bad("POLICY_FILE", "%v", err)
		}
	}
	if c.PolicyPollInterval < 100*time.Millisecond {
		return bad("POLICY_POLL_INTERVAL", "must be at least 100ms")
	}
	if c.MembershipCacheSize < 1 || c.MembershipCacheSize > 10_000_000 {
		return bad("MEMBERSHIP_CACHE_SIZE", "must be between 1 and 10000000")
	}
	if c.MembershipCacheTTL <= 0 || c.MembershipCacheTTL > 10*time.Minute {
		return bad("MEMBERSHIP_CACHE_TTL", "must be a positive duration up to 10m")
	}
	if c.MembershipNegativeTTL <= 0 || c.MembershipNegativeTTL > c.MembershipCacheTTL {
		return bad("MEMBERSHIP_NEGATIVE_TTL", "must be a positive duration no longer than MEMBERSHIP_CACHE_TTL")
	}
	if c.MembershipStaleWindow < 0 || c.MembershipStaleWindow > 15*time.Minute {
		return bad("MEMBERSHIP_STALE_WINDOW", "must be between 0 (never serve stale) and 15m")
	}
	if c.UserProfileHeaders && c.SecretKey == "" {
		return bad("USER_PROFILE_HEADERS", "needs CLERK_SECRET_KEY to read users from the Backend API")
	}
	return c.validateMachineTokens()
}

// validateMachineTokens checks the machine token cache bounds. The TTL
// bounds how long a revoked API key keeps working; the stale window how
// long past it during a Clerk outage.
func (c *Config) validateMachineTokens() error {
	// A Config built in code (tests, demo) leaves these zero: defaults.
	if c.MachineTokenCacheSize == 0 {
		c.MachineTokenCacheSize = 10000
	}
	if c.MachineTokenCacheTTL == 0 {
		c.MachineTokenCacheTTL = 30 * time.Second
	}
	if c.MachineTokenNegativeTTL == 0 {
		c.MachineTokenNegativeTTL = 5 * time.Second
	}
	if c.MachineTokenCacheSize < 1 || c.MachineTokenCacheSize > 10_000_000 {
		return bad("MACHINE_TOKEN_CACHE_SIZE", "must be between 1 and 10000000")
	}
	if c.MachineTokenCacheTTL < 0 || c.MachineTokenCacheTTL > 10*time.Minute {
		return bad("MACHINE_TOKEN_CACHE_TTL", "must be a positive duration up to 10m")
	}
	if c.MachineTokenNegativeTTL < 0 || c.MachineTokenNegativeTTL > c.MachineTokenCacheTTL {
		return bad("MACHINE_TOKEN_NEGATIVE_TTL", "must be a positive duration no longer than MACHINE_TOKEN_CACHE_TTL")
	}
	if c.MachineTokenVerifyRate < 0 || c.MachineTokenVerifyRate > 100_000 {
		return bad("MACHINE_TOKEN_VERIFY_RATE", "must be between 0 (unbounded) and 100000 calls a second")
	}
	if c.MachineTokenStaleWindow < 0 || c.MachineTokenStaleWindow > 15*time.Minute {
		return bad("MACHINE_TOKEN_STALE_WINDOW", "must be between 0 (never serve stale) and 15m")
	}
	return nil
}

// validateGRPCListenAddr checks GRPC_LISTEN_ADDR: unset (gRPC off), or a
// host:port of its own.
func (c *Config) validateGRPCListenAddr() error {
	if c.GRPCListenAddr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.GRPCListenAddr); err != nil {
		return bad("GRPC_LISTEN_ADDR", "must be host:port such as :9191")
	}
	if c.GRPCListenAddr == c.ListenAddr || c.GRPCListenAddr == c.MetricsAddr {
		return bad("GRPC_LISTEN_ADDR", "must differ from LISTEN_ADDR and METRICS_ADDR")
	}
	return nil
}

// isServiceRoute reports a path the router answers itself, which
// CALLBACK_PATH and WEBHOOK_PATH must not take over.
func isServiceRoute(p string) bool {
	switch p {
	case "/forward-auth", "/auth-request", "/healthz", "/readyz", "/metrics":
		return true
	}
	return p == "/ext-authz" || strings.HasPrefix(p, "/ext-authz/")
}

// validateSharedState checks what replicas share: Redis, Clerk's
// webhooks and the session check.
func (c *Config) validateSharedState() error {
	if c.RedisURL != "" {
		u, err := url.Parse(c.RedisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			return bad("REDIS_URL", "must be redis://[user:password@]host:port[/db] or rediss://… for TLS")
		}
	}
	if c.RedisCAFile != "" && !strings.HasPrefix(c.RedisURL, "rediss://") {
		return bad("REDIS_CA_FILE", "trusts a CA for TLS: it needs a rediss:// REDIS_URL")
	}
	if c.RedisCluster && c.RedisURL == "" {
		return bad("REDIS_CLUSTER", "reads REDIS_URL as a Redis Cluster's nodes: set REDIS_URL")
	}
	if c.WebhookPath == "" {
		c.WebhookPath = "/_auth/webhooks/clerk"
	}
	if !strings.HasPrefix(c.WebhookPath, "/") || strings.ContainsAny(c.WebhookPath, "?#") {
		return bad("WEBHOOK_PATH", "must be an absolute path such as /_auth/webhooks/clerk")
	}
	if isServiceRoute(c.WebhookPath) || c.WebhookPath == c.CallbackPath {
		return bad("WEBHOOK_PATH", "%s is taken by another of the service's routes", c.WebhookPath)
	}
	if c.WebhookSecret != "" && !strings.HasPrefix(c.WebhookSecret, "whsec_") {
		return bad("CLERK_WEBHOOK_SIGNING_SECRET", "must be the endpoint's signing secret from the Clerk dashboard (whsec_…)")
	}
	switch c.SessionCheck {
	case "", "never":
		c.SessionCheck = "never"
	case "always":
		if c.SecretKey == "" {
			return bad("SESSION_CHECK", "always needs CLERK_SECRET_KEY to ask the Backend API")
		}
	default:
		return bad("SESSION_CHECK", "must be never or always")
	}
	if c.SessionCheckTTL == 0 {
		c.SessionCheckTTL = 5 * time.Second
	}
	if c.SessionCheckTTL < 0 || c.SessionCheckTTL > time.Minute {
		return bad("SESSION_CHECK_TTL", "must be a positive duration up to 1m (a session token lives 60 s)")
	}
	return nil
}
