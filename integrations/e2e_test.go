//go:build e2e

package integrations

// The service under test: built once from the repository root, started per
// proxy test against an in-process fake Clerk.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// publicHost is the host name clients use; every config keeps it as written.
const publicHost = "app.example.com"

// publicOrigin is what the proxies report as the original scheme and host.
const publicOrigin = "http://" + publicHost

var (
	serviceBin      string // built in TestMain
	serviceBuildErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "clerk-forward-auth-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serviceBin, serviceBuildErr = buildService(dir)
	code := m.Run()
	// A leftover build directory does not change the verdict; say so.
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// buildService builds the repository root's main package, unless
// SERVICE_BIN names a binary to test instead (a release build, say).
func buildService(dir string) (string, error) {
	if bin := os.Getenv("SERVICE_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("SERVICE_BIN: %w", err)
		}
		return bin, nil
	}
	wd, err := os.Getwd() // the package directory, integrations/
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "clerk-forward-auth")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Dir(wd)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build of the service failed: %v\n%s", err, out)
	}
	return bin, nil
}

// service is one running clerk-forward-auth with its fake Clerk.
type service struct {
	URL  string // http://127.0.0.1:port
	Addr string // 127.0.0.1:port
	Fake *clerktest.Server
	// WebhookSecret is the endpoint signing secret (whsec_…) the service
	// verifies Clerk's webhooks with (CLERK_WEBHOOK_SIGNING_SECRET).
	WebhookSecret string
	proc          *process
}

// startService starts the service with extra environment (KEY=VALUE).
func startService(t *testing.T, extraEnv ...string) *service {
	t.Helper()
	if serviceBuildErr != nil {
		t.Fatal(serviceBuildErr)
	}
	fake := clerktest.Start(t, clerktest.Options{Production: true})
	secret := clerktest.NewWebhookSecret()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env := []string{
		"CLERK_API_URL=" + fake.URL,
		"CLERK_SECRET_KEY=" + fake.SecretKey,
		"CLERK_PUBLISHABLE_KEY=" + fake.PublishableKey,
		// The fake's Frontend API mints handshake sessions with
		// azp https://app.example.test (clerktest.SessionClaims).
		"CLERK_AUTHORIZED_PARTIES=" + publicOrigin + ",https://app.example.test",
		"LISTEN_ADDR=" + addr,
		// As we recommend deploying it: only the proxies may ask, and
		// redirects only go back to the app's host.
		"TRUSTED_PROXIES=127.0.0.1/32",
		"ALLOWED_REDIRECT_HOSTS=" + publicHost,
		// A machine credential's answer is believed for 300 ms (default
		// 30 s), so the revocation scenario waits that long, not 30 s.
		"MACHINE_TOKEN_CACHE_TTL=300ms",
		"MACHINE_TOKEN_NEGATIVE_TTL=100ms",
		// Clerk's webhooks, at WEBHOOK_PATH's default /_auth/webhooks/clerk,
		// which every config routes straight to the service.
		"CLERK_WEBHOOK_SIGNING_SECRET=" + secret,
		"LOG_FORMAT=text",
		"LOG_LEVEL=debug",
	}
	env = append(env, extraEnv...)
	p := startProcess(t, "clerk-forward-auth", env, serviceBin)
	s := &service{URL: "http://" + addr, Addr: addr, Fake: fake, WebhookSecret: secret, proc: p}
	client := &http.Client{Timeout: time.Second}
	err := waitFor(20*time.Second, func() error {
		if p.exited() {
			return errPermanent{fmt.Errorf("exited: %v", p.err)}
		}
		res, err := client.Get(s.URL + "/readyz")
		if err != nil {
			return err
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s", res.Status)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("service not ready: %v\n%s", err, p.out.String())
	}
	return s
}

// claims returns fresh session claims for user, as this deployment's
// frontend would mint them.
func (s *service) claims(user string) clerktest.Claims {
	c := s.Fake.SessionClaims(user)
	c["azp"] = publicOrigin
	return c
}

// token signs claims.
func (s *service) token(c clerktest.Claims) string { return s.Fake.Sign(c) }

// direct sends one request straight to the service (no proxy), as a proxy
// would send its auth subrequest.
func (s *service) direct(t *testing.T, method, path string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if h := hdr.Get("Host"); h != "" {
		req.Host = h
	}
	client := &http.Client{
		Timeout: 5 * time.Second,
		// Never follow: redirects point at Clerk's (fake, unresolvable) hosts.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = res.Body.Close() }()
	var b strings.Builder
	buf := make([]byte, 4096)
	n, _ := res.Body.Read(buf)
	b.Write(buf[:n])
	return res, b.String()
}
