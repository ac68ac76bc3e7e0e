package main

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

const (
	testPK = "pk_live_Y2xlcmsuZXhhbXBsZS50ZXN0JA" // clerk.example.test
	testSK = "sk_live_secret"
)

// configVars lists every variable loadConfig reads (the envconfig tags of
// Config), cleared before each case so the caller's environment cannot
// leak in.
var configVars = func() []string {
	var names []string
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		if name := ct.Field(i).Tag.Get("envconfig"); name != "" {
			names = append(names, name)
		}
	}
	return names
}()

func setEnv(t *testing.T, kv map[string]string) {
	t.Helper()
	for _, k := range configVars {
		t.Setenv(k, "")
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range kv {
		t.Setenv(k, v)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	fake, err := clerktest.New(clerktest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	tests := []struct {
		name     string
		env      map[string]string
		variable string // "" = valid
	}{
		{"secret and publishable key", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK}, ""},
		{"networkless key only", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_JWT_KEY": fake.Key().PublicKeyPEM()}, ""},
		{"no publishable key", map[string]string{"CLERK_SECRET_KEY": testSK}, "CLERK_PUBLISHABLE_KEY"},
		{"publishable key that does not decode", map[string]string{"CLERK_PUBLISHABLE_KEY": "pk_live_!!!", "CLERK_SECRET_KEY": testSK}, "CLERK_PUBLISHABLE_KEY"},
		{"no key at all", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK}, "CLERK_SECRET_KEY"},
		{"secret key of the other instance type", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": "sk_test_x"}, "CLERK_SECRET_KEY"},
		{"PEM that is not a key", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_JWT_KEY": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}, "CLERK_JWT_KEY"},
		{"bad API URL", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_API_URL": "ftp://x"}, "CLERK_API_URL"},
		{"relative proxy URL", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_PROXY_URL": "/__clerk"}, ""},
		{"protocol-relative proxy URL", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_PROXY_URL": "//evil.test/__clerk"}, "CLERK_PROXY_URL"},
		{"satellite with its domain", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_IS_SATELLITE": "true", "CLERK_DOMAIN": "satellite.test"}, ""},
		{"satellite behind a proxy", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_IS_SATELLITE": "true", "CLERK_PROXY_URL": "/__clerk", "CLERK_SATELLITE_AUTO_SYNC": "true"}, ""},
		{"satellite without domain or proxy", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_IS_SATELLITE": "true"}, "CLERK_DOMAIN"},
		{"domain without satellite", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_DOMAIN": "satellite.test"}, "CLERK_DOMAIN"},
		{"domain with a scheme", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_IS_SATELLITE": "true", "CLERK_DOMAIN": "https://satellite.test"}, "CLERK_DOMAIN"},
		{"satellite and satellite list", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_IS_SATELLITE": "true", "CLERK_DOMAIN": "a.test", "CLERK_SATELLITE_DOMAINS": "b.test"}, "CLERK_SATELLITE_DOMAINS"},
		{"satellite list", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_SATELLITE_DOMAINS": "a.test,b.example.test", "CLERK_SIGN_IN_URL": "https://example.test/sign-in"}, ""},
		{"satellite list entry with a port", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_SATELLITE_DOMAINS": "a.test:8443"}, "CLERK_SATELLITE_DOMAINS"},
		{"satellite list with an absolute proxy", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_SATELLITE_DOMAINS": "a.test", "CLERK_PROXY_URL": "https://proxy.test/__clerk"}, "CLERK_PROXY_URL"},
		{"satellite signing in on itself", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_SATELLITE_DOMAINS": "a.test", "CLERK_SIGN_IN_URL": "https://app.a.test/sign-in"}, "CLERK_SIGN_IN_URL"},
		{"satellite with a relative sign-in URL", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_IS_SATELLITE": "true", "CLERK_DOMAIN": "a.test", "CLERK_SIGN_IN_URL": "/sign-in"}, "CLERK_SIGN_IN_URL"},
		{"development satellite without sign-in URL", map[string]string{"CLERK_PUBLISHABLE_KEY": "pk_test_Y2xlcmsuZXhhbXBsZS50ZXN0JA", "CLERK_SECRET_KEY": "sk_test_x", "CLERK_IS_SATELLITE": "true", "CLERK_DOMAIN": "a.test"}, "CLERK_SIGN_IN_URL"},
		{"unbounded nonce redemptions", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "HANDSHAKE_NONCE_REDEEM_RATE": "0"}, ""},
		{"negative nonce redemption rate", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "HANDSHAKE_NONCE_REDEEM_RATE": "-1"}, "HANDSHAKE_NONCE_REDEEM_RATE"},
		{"auto sync on a primary", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_SATELLITE_AUTO_SYNC": "true"}, "CLERK_SATELLITE_AUTO_SYNC"},
		{"relative sign-in URL is fine", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_SIGN_IN_URL": "/sign-in"}, ""},
		{"protocol-relative sign-in URL", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_SIGN_IN_URL": "//evil.test/x"}, "CLERK_SIGN_IN_URL"},
		{"authorized party that is not an origin", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_AUTHORIZED_PARTIES": "https://a.test,app.test"}, "CLERK_AUTHORIZED_PARTIES"},
		{"bad log level", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{"bad log format", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{"log lines written at once", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "LOG_FLUSH_INTERVAL": "0"}, ""},
		{"negative log flush interval", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "LOG_FLUSH_INTERVAL": "-1s"}, "LOG_FLUSH_INTERVAL"},
		{"log lines held for a minute", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "LOG_FLUSH_INTERVAL": "1m"}, "LOG_FLUSH_INTERVAL"},
		{"bad boolean", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "ALLOW_CORS_PREFLIGHT": "maybe"}, "ALLOW_CORS_PREFLIGHT"},
		{"bad duration", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "JWKS_CACHE_TTL": "forever"}, "JWKS_CACHE_TTL"},
		{"callback path not absolute", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CALLBACK_PATH": "cb"}, "CALLBACK_PATH"},
		{"callback path on a service route", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CALLBACK_PATH": "/healthz"}, "CALLBACK_PATH"},
		{"machine token settings", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "MACHINE_TOKEN_CACHE_TTL": "10s", "MACHINE_TOKEN_NEGATIVE_TTL": "2s", "MACHINE_TOKEN_STALE_WINDOW": "0", "MACHINE_TOKEN_VERIFY_RATE": "0"}, ""},
		{"machine negative TTL longer than the TTL", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "MACHINE_TOKEN_CACHE_TTL": "10s", "MACHINE_TOKEN_NEGATIVE_TTL": "20s"}, "MACHINE_TOKEN_NEGATIVE_TTL"},
		{"machine cache TTL of an hour", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "MACHINE_TOKEN_CACHE_TTL": "1h"}, "MACHINE_TOKEN_CACHE_TTL"},
		{"negative verify rate", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "MACHINE_TOKEN_VERIFY_RATE": "-1"}, "MACHINE_TOKEN_VERIFY_RATE"},
		{"audience and issuer lists", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_JWT_AUDIENCE": "https://api.example.com,api", "CLERK_JWT_ISSUER": "https://clerk.example.test"}, ""},
		{"an empty audience entry", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_JWT_AUDIENCE": "a,,b"}, "CLERK_JWT_AUDIENCE"},
		{"an issuer with a space", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_JWT_ISSUER": "https://a.test, https://b.test"}, "CLERK_JWT_ISSUER"},
		{"redis URL", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "REDIS_URL": "rediss://:pw@redis.internal:6380/2"}, ""},
		{"redis URL of another scheme", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "REDIS_URL": "http://redis:6379"}, "REDIS_URL"},
		{"redis CA file with rediss", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "REDIS_URL": "rediss://redis:6380", "REDIS_CA_FILE": "/etc/ca.pem"}, ""},
		{"redis CA file without TLS", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "REDIS_URL": "redis://redis:6379", "REDIS_CA_FILE": "/etc/ca.pem"}, "REDIS_CA_FILE"},
		{"redis CA file without Redis", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "REDIS_CA_FILE": "/etc/ca.pem"}, "REDIS_CA_FILE"},
		{"redis cluster", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "REDIS_URL": "redis://node-1:6379?addr=node-2:6379", "REDIS_CLUSTER": "true"}, ""},
		{"redis cluster without Redis", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "REDIS_CLUSTER": "true"}, "REDIS_CLUSTER"},
		{"redis cluster not a boolean", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "REDIS_URL": "redis://node-1:6379", "REDIS_CLUSTER": "sometimes"}, "REDIS_CLUSTER"},
		{"webhook secret without whsec_", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_WEBHOOK_SIGNING_SECRET": "c2VjcmV0"}, "CLERK_WEBHOOK_SIGNING_SECRET"},
		{"webhook path on the callback", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "WEBHOOK_PATH": "/_auth/callback"}, "WEBHOOK_PATH"},
		{"webhook path on an auth route", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "WEBHOOK_PATH": "/ext-authz/hook"}, "WEBHOOK_PATH"},
		{"session check", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "SESSION_CHECK": "always", "SESSION_CHECK_TTL": "2s"}, ""},
		{"session check without a secret key", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_JWT_KEY": fake.Key().PublicKeyPEM(), "SESSION_CHECK": "always"}, "SESSION_CHECK"},
		{"session check spelled otherwise", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "SESSION_CHECK": "sometimes"}, "SESSION_CHECK"},
		{"session check TTL past a token's life", map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "SESSION_CHECK": "always", "SESSION_CHECK_TTL": "2m"}, "SESSION_CHECK_TTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.env)
			_, err := loadConfig()
			wantConfigError(t, err, tt.variable)
		})
	}
}

// TestStartupErrorExitsWithStatus2 runs the binary's main with a bad
// environment: one line on stderr naming the variable, exit status 2, and
// no secret echoed.
func TestStartupErrorExitsWithStatus2(t *testing.T) {
	if os.Getenv("CFA_RUN_MAIN") == "1" {
		main()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStartupErrorExitsWithStatus2$") //nolint:gosec // re-runs this test binary
	cmd.Env = append(os.Environ(), "CFA_RUN_MAIN=1", "CLERK_PUBLISHABLE_KEY="+testPK, "CLERK_SECRET_KEY=sk_test_do_not_print_me")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit: %v, output %s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "CLERK_SECRET_KEY") {
		t.Fatalf("want one line naming CLERK_SECRET_KEY, got %q", out)
	}
	if strings.Contains(string(out), "do_not_print_me") {
		t.Fatal("the secret key was printed")
	}
}

// TestServeErrorIsLoggedBeforeExit runs main with a listen address that is
// taken: serve fails, and the "exit" line reaches stderr before exit status
// 1 although log lines are batched for up to LOG_FLUSH_INTERVAL (10s here,
// so only main's flush can have written it).
func TestServeErrorIsLoggedBeforeExit(t *testing.T) {
	if os.Getenv("CFA_RUN_MAIN") == "1" {
		main()
		return
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = taken.Close() }()
	fake, err := clerktest.New(clerktest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeErrorIsLoggedBeforeExit$") //nolint:gosec // re-runs this test binary
	cmd.Env = append(os.Environ(), "CFA_RUN_MAIN=1", "CLERK_PUBLISHABLE_KEY="+fake.PublishableKey,
		"CLERK_JWT_KEY="+fake.Key().PublicKeyPEM(), "LISTEN_ADDR="+taken.Addr().String(), "LOG_FLUSH_INTERVAL=10s")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, output %s", err, out)
	}
	if !strings.Contains(string(out), `"msg":"exit"`) || !strings.Contains(string(out), "address already in use") {
		t.Fatalf("no exit line naming the error in %q", out)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Fatalf("took %v: the line waited for the flush interval", took)
	}
}

func TestOrganizationSyncConfig(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		variable string // "" = valid
	}{
		{"both lists", map[string]string{"CLERK_ORGANIZATION_PATTERNS": "/orgs/:slug,/orgs/:slug/(.*)", "CLERK_PERSONAL_ACCOUNT_PATTERNS": "/me,/me/(.*)"}, ""},
		{"organization patterns only", map[string]string{"CLERK_ORGANIZATION_PATTERNS": "/o/:id"}, ""},
		{"a space after the comma", map[string]string{"CLERK_ORGANIZATION_PATTERNS": "/orgs/:slug, /orgs/:slug/(.*)"}, "CLERK_ORGANIZATION_PATTERNS"},
		{"an empty entry", map[string]string{"CLERK_PERSONAL_ACCOUNT_PATTERNS": "/me,,/me/(.*)"}, "CLERK_PERSONAL_ACCOUNT_PATTERNS"},
		{"an optional parameter", map[string]string{"CLERK_ORGANIZATION_PATTERNS": "/orgs/:slug?"}, "CLERK_ORGANIZATION_PATTERNS"},
		{"a bare wildcard", map[string]string{"CLERK_PERSONAL_ACCOUNT_PATTERNS": "/me/*"}, "CLERK_PERSONAL_ACCOUNT_PATTERNS"},
		{"a custom parameter pattern", map[string]string{"CLERK_ORGANIZATION_PATTERNS": "/orgs/:id(org_.*)"}, "CLERK_ORGANIZATION_PATTERNS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK}
			for k, v := range tt.env {
				env[k] = v
			}
			setEnv(t, env)
			cfg, err := loadConfig()
			if tt.variable == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if cfg.orgSync == nil {
					t.Fatal("patterns not compiled")
				}
				return
			}
			wantConfigError(t, err, tt.variable)
		})
	}
}

// The README's configuration table is what operators read: it names every
// variable Config reads, with the default Config applies, and no variable
// that does not exist (besides Go's and OpenTelemetry's own, which the
// service reads through them).
func TestTheREADMEConfigTableIsTheConfig(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start, end := strings.Index(text, "\n## Configuration\n"), strings.Index(text, "\n## Observability\n")
	if start < 0 || end < start {
		t.Fatal("README.md has no Configuration section before Observability")
	}
	documented := map[string]string{} // variable -> default column
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z0-9_]+)` \\| ([^|]*) \\|").FindAllStringSubmatch(text[start:end], -1) {
		documented[m[1]] = strings.Trim(strings.TrimSpace(m[2]), "`")
	}
	ct := reflect.TypeFor[Config]()
	inConfig := map[string]bool{}
	for i := range ct.NumField() {
		f := ct.Field(i)
		name := f.Tag.Get("envconfig")
		if name == "" {
			continue
		}
		inConfig[name] = true
		got, ok := documented[name]
		switch def := f.Tag.Get("default"); {
		case !ok:
			t.Errorf("README.md's configuration table has no row for %s", name)
		case def != "" && got != def:
			t.Errorf("README.md gives %s the default %q; Config's is %q", name, got, def)
		}
	}
	for name := range documented {
		if !inConfig[name] && name != "GOGC" && !strings.HasPrefix(name, "OTEL_") {
			t.Errorf("README.md documents %s, which Config does not read", name)
		}
	}
}

// A 0 in a setting whose zero value a Config built in code reads as "the
// default" is, from the environment, an operator asking for no cache or
// no wait. The service cannot do that; it must say so at start instead of
// silently running with the default (MACHINE_TOKEN_CACHE_TTL=0, meant to
// make a revoked API key stop at once, would keep it working 30s).
func TestZeroThatWouldBecomeTheDefaultIsRefused(t *testing.T) {
	tests := []struct {
		variable, value string
		env             map[string]string
	}{
		{"POLICY_POLL_INTERVAL", "0", nil},
		{"MEMBERSHIP_CACHE_SIZE", "0", nil},
		{"MEMBERSHIP_CACHE_TTL", "0s", nil},
		{"MEMBERSHIP_NEGATIVE_TTL", "0", nil},
		{"MACHINE_TOKEN_CACHE_SIZE", "0", nil},
		{"MACHINE_TOKEN_CACHE_TTL", "0", nil},
		{"MACHINE_TOKEN_NEGATIVE_TTL", "0ms", nil},
		{"SESSION_CHECK_TTL", "0", map[string]string{"SESSION_CHECK": "always"}},
	}
	for _, tt := range tests {
		t.Run(tt.variable, func(t *testing.T) {
			env := map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, tt.variable: tt.value}
			for k, v := range tt.env {
				env[k] = v
			}
			setEnv(t, env)
			_, err := loadConfig()
			wantConfigError(t, err, tt.variable)
		})
	}
}

// LISTEN_ADDR and METRICS_ADDR are checked like GRPC_LISTEN_ADDR: a value
// net.Listen cannot use stops start-up as a configuration error naming the
// variable (exit 2), not later as a listen failure (exit 1) whose line
// named neither variable for LISTEN_ADDR.
func TestListenAddressesMustBeHostPort(t *testing.T) {
	tests := []struct {
		listen, metrics string
		variable        string // "" = valid
	}{
		{":8080", "", ""},
		{"127.0.0.1:8080", ":9090", ""},
		{"[::1]:8080", "localhost:9090", ""},
		{"8080", "", "LISTEN_ADDR"},
		{"localhost", "", "LISTEN_ADDR"},
		{":8080", "9090", "METRICS_ADDR"},
		{":8080", "http://0.0.0.0:9090", "METRICS_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.listen+" "+tt.metrics, func(t *testing.T) {
			env := map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "LISTEN_ADDR": tt.listen}
			if tt.metrics != "" {
				env["METRICS_ADDR"] = tt.metrics
			}
			setEnv(t, env)
			_, err := loadConfig()
			wantConfigError(t, err, tt.variable)
		})
	}
}

// A key with a line break or a space (a Secret written with `echo`) was
// accepted, and then could not be used: a publishable key's base64
// ignores the newline but its cookie suffix does not (the service looked
// for __session_<another suffix>), and a secret key in an Authorization
// header makes every Backend API call fail before it is sent (so the JWKS
// never loads). Refused at start, without echoing the key.
func TestKeysWithWhitespaceAreRefused(t *testing.T) {
	tests := []struct {
		name, variable, value string
	}{
		{"publishable key with a trailing newline", "CLERK_PUBLISHABLE_KEY", testPK + "\n"},
		{"secret key with a trailing newline", "CLERK_SECRET_KEY", testSK + "\n"},
		{"secret key with a trailing CRLF", "CLERK_SECRET_KEY", testSK + "\r\n"},
		{"secret key with a space", "CLERK_SECRET_KEY", testSK + " "},
		{"machine secret key with a trailing newline", "CLERK_MACHINE_SECRET_KEY", "ak_machine_secret\n"},
		{"machine secret key with a tab", "CLERK_MACHINE_SECRET_KEY", "ak_machine\tsecret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, tt.variable: tt.value}
			setEnv(t, env)
			_, err := loadConfig()
			wantConfigError(t, err, tt.variable)
			if strings.Contains(err.Error(), strings.TrimSpace(tt.value)) {
				t.Fatalf("the error echoes the key: %v", err)
			}
		})
	}
}

// Some settings can only be judged while the parts are built (the webhook
// secret's base64, a Redis URL's options): a bad one is still a
// configuration error, with the same line and exit status 2 as those
// loadConfig finds, and no secret echoed.
func TestConfigErrorFoundWhileStartingExitsWithStatus2(t *testing.T) {
	if os.Getenv("CFA_RUN_MAIN") == "1" {
		main()
		return
	}
	tests := []struct {
		name     string
		env      []string
		variable string
		secret   string // must not be printed
	}{
		{"webhook secret that is not base64", []string{"CLERK_WEBHOOK_SIGNING_SECRET=whsec_not*base64*do_not_print_me"}, "CLERK_WEBHOOK_SIGNING_SECRET", "do_not_print_me"},
		{"redis cluster URL naming a sentinel master", []string{"REDIS_URL=redis://:do_not_print_me@node-1:6379?master_name=main", "REDIS_CLUSTER=true"}, "REDIS_URL", "do_not_print_me"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestConfigErrorFoundWhileStartingExitsWithStatus2$") //nolint:gosec // re-runs this test binary
			cmd.Env = append(os.Environ(), "CFA_RUN_MAIN=1", "CLERK_PUBLISHABLE_KEY="+testPK, "CLERK_SECRET_KEY="+testSK, "LISTEN_ADDR=127.0.0.1:0")
			cmd.Env = append(cmd.Env, tt.env...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("exit: %v, want status 2; output %s", err, out)
			}
			if !strings.Contains(string(out), "clerk-forward-auth: configuration error: "+tt.variable) {
				t.Fatalf("no configuration error line naming %s in %q", tt.variable, out)
			}
			if strings.Contains(string(out), tt.secret) {
				t.Fatalf("the secret was printed: %q", out)
			}
		})
	}
}

// A token's azp is the browser's Origin, compared exactly: an entry with a
// trailing slash, a path, capitals or the scheme's default port can never
// match, so a list of such entries refused every session token while the
// service had accepted it at start.
func TestAuthorizedPartiesMustBeOrigins(t *testing.T) {
	tests := []struct {
		parties string
		ok      bool
	}{
		{"https://app.example.com", true},
		{"http://localhost:3000,https://app.example.com", true},
		{"https://[::1]:8443", true},
		{"https://app.example.com/", false},
		{"https://app.example.com/dashboard", false},
		{"https://app.example.com?x=1", false},
		{"https://app.example.com#top", false},
		{"https://App.Example.com", false},
		{"HTTPS://app.example.com", false},
		{"https://app.example.com:443", false},
		{"http://app.example.com:80", false},
	}
	for _, tt := range tests {
		t.Run(tt.parties, func(t *testing.T) {
			setEnv(t, map[string]string{"CLERK_PUBLISHABLE_KEY": testPK, "CLERK_SECRET_KEY": testSK, "CLERK_AUTHORIZED_PARTIES": tt.parties})
			_, err := loadConfig()
			want := "CLERK_AUTHORIZED_PARTIES"
			if tt.ok {
				want = ""
			}
			wantConfigError(t, err, want)
		})
	}
}

// wantConfigError checks loadConfig's error: none when variable is "",
// else one naming variable.
func wantConfigError(t *testing.T, err error, variable string) {
	t.Helper()
	if variable == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var ce *configError
	if !errors.As(err, &ce) || ce.variable != variable {
		t.Fatalf("error %v, want one naming %s", err, variable)
	}
}
