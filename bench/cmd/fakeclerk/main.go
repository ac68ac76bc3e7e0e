// Command fakeclerk starts the fake Clerk (clerk/clerktest) on loopback for
// the load benchmark, mints session tokens and writes, into -out:
//
//	env         CLERK_* variables for the service, BENCH_* addresses and values
//	tokens.txt  one valid session token per line (active org "acme", role admin)
//	apikeys.txt one valid API key per line (each a user's, scope "reports:read")
//
// then serves the Backend API (the service fetches its JWKS from it) until
// SIGTERM. The file "ready" appears last.
//
// RSA signing costs about a millisecond, so minting the 200,000 distinct
// tokens a never-seen-token run needs would take minutes. The load
// generator derives them instead: variant k of a minted token has k "="
// appended to its signature segment. Clerk's SDK and this service decode
// base64url loosely (trailing "=" dropped), so every variant is a distinct
// string, a distinct cache key and a full RSA verification, of a valid
// token. fakeclerk checks that the service's verifier accepts a variant
// before writing anything.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

func main() {
	out := flag.String("out", "", "directory to write env, tokens.txt and ready into")
	n := flag.Int("tokens", 4000, "distinct tokens to mint")
	apiKeys := flag.Int("apikeys", 20000, "distinct API keys to create")
	ttl := flag.Duration("ttl", time.Hour, "token lifetime (real ones live 60 s; the run is longer)")
	flag.Parse()
	if *out == "" {
		log.Fatal("fakeclerk: -out is required")
	}
	if err := run(*out, *n, *apiKeys, *ttl); err != nil {
		log.Fatalf("fakeclerk: %v", err)
	}
}

func run(out string, n, apiKeys int, ttl time.Duration) error {
	fake, err := clerktest.New(clerktest.Options{Production: true})
	if err != nil {
		return fmt.Errorf("start fake clerk: %w", err)
	}
	defer fake.Close()

	tokens := mint(fake, n, ttl)
	// The first token's user is also a member of a second organization,
	// which its token does not carry: a rule naming it is answered from the
	// Backend API's memberships through the service's membership cache.
	fake.AddMembership(benchUser(0), benchBetaOrgID, "beta", "org:member", "org:reports:read")
	if err := checkVariant(fake, tokens[0]); err != nil {
		return err
	}
	// Every never-seen API key is a Backend API call; Clerk's own rate
	// limit (1,000 per 10 s) would turn that run into a measure of 503s.
	fake.SetRateLimit(1 << 30)
	keys := make([]string, apiKeys)
	for i := range keys {
		keys[i], _ = fake.AddAPIKey(clerktest.APIKey{Subject: benchUser(i), Name: "bench", Scopes: []string{"reports:read"}})
	}
	serviceAddr, err := freeAddr()
	if err != nil {
		return err
	}
	bareAddr, err := freeAddr()
	if err != nil {
		return err
	}
	// A second service, with REDIS_URL, and its Redis.
	sharedAddr, err := freeAddr()
	if err != nil {
		return err
	}
	redisAddr, err := freeAddr()
	if err != nil {
		return err
	}
	iat := time.Now().Unix()
	env := strings.Join([]string{
		"CLERK_SECRET_KEY=" + fake.SecretKey,
		"CLERK_PUBLISHABLE_KEY=" + fake.PublishableKey,
		"CLERK_API_URL=" + fake.URL,
		// The never-seen API key run measures the service's cost of a
		// Backend API verify call, not the budget that protects Clerk's
		// rate limit from floods of new credentials (default 50/s).
		"MACHINE_TOKEN_VERIFY_RATE=0",
		"BENCH_SERVICE_ADDR=" + serviceAddr,
		"BENCH_BARE_ADDR=" + bareAddr,
		"BENCH_SHARED_ADDR=" + sharedAddr,
		"BENCH_REDIS_ADDR=" + redisAddr,
		"BENCH_COOKIE_SUFFIX=" + clerk.CookieSuffix(fake.PublishableKey),
		// __client_uat older than every token's iat, as after a sign-in.
		fmt.Sprintf("BENCH_CLIENT_UAT=%d", iat-120),
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(out, "env"), []byte(env), 0o600); err != nil {
		return fmt.Errorf("write env: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, "tokens.txt"), []byte(strings.Join(tokens, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("write tokens: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, "apikeys.txt"), []byte(strings.Join(keys, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("write API keys: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, "ready"), nil, 0o600); err != nil {
		return fmt.Errorf("write ready: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	<-ctx.Done()
	return nil
}

// benchBetaOrgID is the organization the first user belongs to through
// the Backend API only.
const benchBetaOrgID = "org_2benchbetaorganization000001"

// benchUser is the id of the i-th minted token's user.
func benchUser(i int) string { return fmt.Sprintf("user_bench%021d", i) }

// mint signs n tokens for distinct users and sessions, on every core.
func mint(fake *clerktest.Server, n int, ttl time.Duration) []string {
	tokens := make([]string, n)
	var wg sync.WaitGroup
	workers := runtime.NumCPU()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				c := fake.SessionClaims(benchUser(i))
				now := time.Now()
				c["iat"], c["nbf"], c["exp"] = now.Unix(), now.Unix()-5, now.Add(ttl).Unix()
				c.WithOrg("org_2benchacmeorganization00001", "acme", "admin", "o:invoices,o:reports,u:profile", "read,manage", "3,1")
				tokens[i] = fake.Sign(c)
			}
		}()
	}
	wg.Wait()
	return tokens
}

// checkVariant makes sure a padded variant is still a valid token for the
// service's verifier, so that the never-seen scenario measures what it
// claims.
func checkVariant(fake *clerktest.Server, token string) error {
	keys, err := clerk.NewStaticKeys(fake.Key().PublicKeyPEM())
	if err != nil {
		return fmt.Errorf("static keys: %w", err)
	}
	v := clerk.NewVerifier(keys, clerk.VerifyOptions{})
	if _, err := v.VerifyToken(context.Background(), token+"=="); err != nil {
		return fmt.Errorf("a token with a padded signature no longer verifies (%v): the load generator's variants would be invalid tokens", err)
	}
	return nil
}

// freeAddr picks a free loopback port for the service or the ceiling.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("free the picked port: %w", err)
	}
	return addr, nil
}
