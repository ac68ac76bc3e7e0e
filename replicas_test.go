package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/cache/redisshare/redistest"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// cluster is three replicas of the service sharing one Redis and one
// fake Clerk, as a Deployment with REDIS_URL runs them.
type cluster struct {
	fake        *clerktest.Server
	redis       *redistest.Server // the server, or a node of a Redis Cluster
	redisConfig func(cfg *Config) // sets each replica's Redis settings
	secret      string
	replicas    []string // addresses
	ctx         context.Context
	done        []chan error
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	srv := redistest.Start(t)
	return newClusterOn(t, srv, srv.URL())
}

// newClusterOn is newCluster with the replicas' REDIS_URL given.
func newClusterOn(t *testing.T, srv *redistest.Server, redisURL string) *cluster {
	t.Helper()
	return newClusterWith(t, srv, func(cfg *Config) { cfg.RedisURL = redisURL })
}

// newClusterWith is newCluster with the replicas' Redis settings set by
// redisConfig.
func newClusterWith(t *testing.T, srv *redistest.Server, redisConfig func(*Config)) *cluster {
	t.Helper()
	c := &cluster{redis: srv, redisConfig: redisConfig, secret: clerktest.NewWebhookSecret()}
	fake, err := clerktest.New(clerktest.Options{Production: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	fake.SetRateLimit(1 << 20)
	c.fake = fake
	ctx, cancel := context.WithCancel(context.Background())
	c.ctx = ctx
	t.Cleanup(func() {
		// Connections the client dialled and never used count as active
		// for 5 s on the server's side: close them, so shutdown is quick.
		clusterClient.CloseIdleConnections()
		cancel()
		for _, d := range c.done {
			if err := <-d; err != nil {
				t.Errorf("replica stopped with %v", err)
			}
		}
	})
	for range 3 {
		c.start(t)
	}
	c.waitSubscribed(t)
	return c
}

// waitSubscribed waits until the replicas' followers have subscribed: a
// first invalidation announced before would reach no one, and a
// follower's first subscription drops the caches, lookups in flight
// included, as after any reconnection. Each replica runs several
// followers, so it waits for Redis's count of the channel's subscribers
// to stop growing (for 200 ms) with at least one per replica.
func (c *cluster) waitSubscribed(t *testing.T) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: c.redis.Addr, Protocol: 2})
	defer func() { _ = rdb.Close() }()
	const channel = "cfa:invalidate"
	var last int64
	since := time.Now()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := rdb.PubSubNumSub(t.Context(), channel).Val()[channel]
		if n != last {
			last, since = n, time.Now()
		}
		if n >= int64(len(c.replicas)) && time.Since(since) >= 200*time.Millisecond {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions to %s after 10 s, the count still changing", n, channel)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start runs one more replica and waits until it is ready.
func (c *cluster) start(t *testing.T) string {
	t.Helper()
	cfg := testConfig(t, c.fake, func(cfg *Config) {
		cfg.LogLevel = "error"
		c.redisConfig(cfg)
		cfg.WebhookSecret = c.secret
	})
	ready, d := make(chan string, 1), make(chan error, 1)
	c.done = append(c.done, d)
	go func() { d <- serve(c.ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
	select {
	case addr := <-ready:
		c.replicas = append(c.replicas, addr)
		waitReady(t, addr)
		return addr
	case err := <-d:
		t.Fatalf("replica: %v", err)
		return ""
	}
}

func waitReady(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("replica %s never ready", addr)
}

// clusterClient keeps connections to the replicas open between requests.
var clusterClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}

// ask sends a forward-auth request with a Bearer token and an auth query
// to one replica; it returns the status and the reason.
func ask(t *testing.T, addr, query, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/forward-auth"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Host", "app.example.test")
	req.Header.Set("X-Forwarded-Uri", "/dashboard")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := clusterClient.Do(req)
	if err != nil {
		t.Errorf("replica %s: %v", addr, err)
		return 0, ""
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Clerk-Auth-Reason")
}

// within polls every replica until each answers want, or fails after d.
func (c *cluster) within(t *testing.T, d time.Duration, query, token string, want int) {
	t.Helper()
	deadline := time.Now().Add(d)
	for _, addr := range c.replicas {
		for {
			status, reason := ask(t, addr, query, token)
			if status == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %s still answers %d (%s) %s after the event, want %d", addr, status, reason, d, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// everyone checks that every replica answers want now.
func (c *cluster) everyone(t *testing.T, query, token string, want int) {
	t.Helper()
	for _, addr := range c.replicas {
		if status, reason := ask(t, addr, query, token); status != want {
			t.Fatalf("replica %s answered %d (%s), want %d", addr, status, reason, want)
		}
	}
}

func (c *cluster) webhook(t *testing.T, replica int, eventType string, data any) {
	t.Helper()
	resp, err := c.fake.SendWebhook(context.Background(), "http://"+c.replicas[replica]+"/_auth/webhooks/clerk", c.secret, eventType, data)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook %s: %d", eventType, resp.StatusCode)
	}
}

// metric reads one sample of a replica's /metrics (0 when absent).
func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

// noOrgToken is a session token of userID whose session names no
// organization, valid for an hour.
func noOrgToken(fake *clerktest.Server, userID, sessionID string) string {
	c := fake.SessionClaims(userID)
	c["exp"] = time.Now().Add(time.Hour).Unix()
	if sessionID != "" {
		c["sid"] = sessionID
	}
	return fake.Sign(c)
}

// TestReplicasShareOneBackendAPICallPerUserPerTTL: 1000 concurrent
// requests of one user over three replicas make one Backend API call: one
// replica claims the load, the others find its value in Redis or wait for
// it. A Redis call that does not answer within its bound (100 ms) is, by
// design, a local load instead: a slow Redis must not hold decisions. On a
// loaded machine (the race detector, other packages' tests) that happens,
// so each extra call must be accounted for by a failed Redis call in the
// replicas' metrics, and every replica but the loader must have shared or
// failed.
func TestReplicasShareOneBackendAPICallPerUserPerTTL(t *testing.T) {
	c := newCluster(t)
	c.fake.AddMembership("user_many", "org_beta", "beta", "org:member")
	token := noOrgToken(c.fake, "user_many", "")
	var wg sync.WaitGroup
	var allowed atomic.Int32
	sem := make(chan struct{}, 48)
	for i := range 1000 {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if status, _ := ask(t, c.replicas[i%3], "?org=beta", token); status == http.StatusOK {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 1000 {
		t.Fatalf("%d of 1000 allowed", allowed.Load())
	}
	const series = `{cache="memberships"}`
	var shared, failed float64
	for _, addr := range c.replicas {
		shared += metric(t, addr, "clerk_forward_auth_cache_shared_hits_total"+series) +
			metric(t, addr, "clerk_forward_auth_cache_shared_waits_total"+series)
		failed += metric(t, addr, "clerk_forward_auth_cache_shared_errors_total"+series)
	}
	n := c.fake.Calls(clerktest.RouteUserMemberships)
	if n < 1 || float64(n) > 1+failed {
		t.Fatalf("%d membership calls for 1000 requests over 3 replicas, want 1 (plus one per failed Redis call: %v)", n, failed)
	}
	if shared+failed < 2 {
		t.Fatalf("%v replicas found the value in Redis or waited for it, %v failed to ask: want the two that did not load", shared, failed)
	}
}

func TestAMembershipWebhookReachesEveryReplicaWithinASecond(t *testing.T) {
	c := newCluster(t)
	c.fake.AddMembership("user_m", "org_beta", "beta", "org:member")
	token := noOrgToken(c.fake, "user_m", "")
	c.everyone(t, "?org=beta", token, http.StatusOK)
	c.fake.RemoveMembership("user_m", "org_beta")
	c.webhook(t, 0, "organizationMembership.deleted", clerktest.MembershipEventData("user_m", "org_beta", "org:member"))
	c.within(t, time.Second, "?org=beta", token, http.StatusForbidden)
}

func TestRedisCAFileTrustsAPrivateCA(t *testing.T) {
	caFile, certFile, keyFile := redistest.TLSFiles(t)
	srv := redistest.StartTLS(t, certFile, keyFile)
	logger := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name   string
		caFile string
		wantOK bool
	}{
		{"the system roots alone", "", false},
		{"REDIS_CA_FILE", caFile, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, err := openRedis(t.Context(), &Config{RedisURL: srv.URL(), RedisCAFile: tc.caFile}, logger)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = store.Close() }()
			if err := store.Ping(t.Context()); (err == nil) != tc.wantOK {
				t.Fatalf("Ping: %v, want success %v", err, tc.wantOK)
			}
		})
	}
	if _, err := openRedis(t.Context(), &Config{RedisURL: srv.URL(), RedisCAFile: "/nonexistent/ca.pem"}, logger); err == nil || !strings.Contains(err.Error(), "REDIS_CA_FILE") {
		t.Fatalf("a missing CA file: %v, want an error naming REDIS_CA_FILE", err)
	}
}

func TestReplicasShareThroughRedisSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, "mymaster", master.Addr, "")
	c := newClusterOn(t, master, "redis://"+sentinel.Addr+"/0?master_name=mymaster")
	token, other := c.revokeThrough(t, 2)
	c.revokedEverywhere(t, token, other)
	rdb := redis.NewClient(&redis.Options{Addr: master.Addr, Protocol: 2})
	t.Cleanup(func() { _ = rdb.Close() })
	if n, _ := rdb.Exists(t.Context(), "cfa:s:sessions_ended:").Result(); n != 1 {
		t.Fatal("the ended session is not remembered on the master the sentinel names")
	}
}

func TestReplicasShareThroughARedisCluster(t *testing.T) {
	nodes := redistest.StartCluster(t, 3, 0)
	// Subscriptions go to the master of the channel's slot.
	c := newClusterWith(t, nodes.MasterOf(t, "cfa:invalidate"), func(cfg *Config) {
		cfg.RedisURL, cfg.RedisCluster = nodes.URL(), true
	})
	token, other := c.revokeThrough(t, 2)
	c.revokedEverywhere(t, token, other)
	// A fourth replica, started now, reads the ended session back.
	c.start(t)
	c.revokedEverywhere(t, token, other)
}

func TestARevokedSessionIsDeniedByEveryReplicaWithinASecond(t *testing.T) {
	c := newCluster(t)
	token, other := c.revokeThrough(t, 1)
	c.revokedEverywhere(t, token, other)
}

// revokeThrough signs a user in on every replica, then has Clerk's
// session.revoked webhook for that session reach replica i. It returns
// the revoked session's token and another session's.
func (c *cluster) revokeThrough(t *testing.T, i int) (token, other string) {
	t.Helper()
	s := c.fake.NewSession("user_r")
	token = noOrgToken(c.fake, "user_r", s.SessionID)
	other = noOrgToken(c.fake, "user_o", c.fake.NewSession("user_o").SessionID)
	c.everyone(t, "", token, http.StatusOK)
	c.webhook(t, i, "session.revoked", clerktest.SessionEventData(s.SessionID, "user_r", "revoked"))
	return token, other
}

// revokedEverywhere checks that within a second every replica refuses
// token as session-revoked, and still lets other in.
func (c *cluster) revokedEverywhere(t *testing.T, token, other string) {
	t.Helper()
	c.within(t, time.Second, "", token, http.StatusUnauthorized)
	for _, addr := range c.replicas {
		if _, reason := ask(t, addr, "", token); reason != "session-revoked" {
			t.Fatalf("replica %s: reason %q, want session-revoked", addr, reason)
		}
	}
	c.everyone(t, "", other, http.StatusOK)
}

func TestAReplicaStartedAfterASessionEndedDeniesIt(t *testing.T) {
	// A rolling deploy: new replicas start after Clerk announced the end of
	// a session, so they never heard the announcement itself.
	c := newCluster(t)
	token, other := c.revokeThrough(t, 0)
	c.start(t)
	c.revokedEverywhere(t, token, other)
}

func TestCatchingUpOnEndedSessionsRetriesWhileRedisFails(t *testing.T) {
	until := time.Now().Add(time.Minute)
	for _, tc := range []struct {
		name        string
		failures    int // reads that fail before one succeeds
		giveUpAfter time.Duration
		wantReads   int
		wantDenied  bool
		wantLog     string
	}{
		{"the first read", 0, time.Minute, 1, true, ""},
		{"after two failures", 2, time.Minute, 3, true, ""},
		{"gives up after its time", 1 << 30, 250 * time.Millisecond, 3, false, "could not read the ended sessions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deny := authz.NewSessionDenyList(0, 0, nil)
			reads := 0
			read := func(context.Context) (map[string]time.Time, error) {
				reads++
				if reads <= tc.failures {
					return nil, errors.New("redis: connection refused")
				}
				return map[string]time.Time{"sess_gone": until}, nil
			}
			var logs strings.Builder
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			catchUpEndedSessions(context.Background(), read, deny, tc.giveUpAfter, logger)
			if reads != tc.wantReads || deny.Revoked("sess_gone") != tc.wantDenied {
				t.Fatalf("%d reads, denied %v; want %d, %v", reads, deny.Revoked("sess_gone"), tc.wantReads, tc.wantDenied)
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Fatalf("log %q does not say %q", logs.String(), tc.wantLog)
			}
		})
	}
	t.Run("stops when the service does", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			catchUpEndedSessions(ctx, func(context.Context) (map[string]time.Time, error) { return nil, errors.New("down") },
				authz.NewSessionDenyList(0, 0, nil), time.Hour, slog.New(slog.DiscardHandler))
		}()
		time.Sleep(50 * time.Millisecond)
		cancel()
		select {
		case <-done:
		case <-time.After(time.Second):
			t.Fatal("still retrying a second after its context ended")
		}
	})
}

func TestReplicasKeepDecidingWithoutRedisAndShareAgainWhenItReturns(t *testing.T) {
	c := newCluster(t)
	c.fake.AddMembership("user_k", "org_beta", "beta", "org:member")
	c.fake.AddMembership("user_n", "org_beta", "beta", "org:member")
	known, fresh := noOrgToken(c.fake, "user_k", ""), noOrgToken(c.fake, "user_n", "")
	c.everyone(t, "?org=beta", known, http.StatusOK)
	c.redis.Kill()
	// /readyz names Redis's failure and stays ready: replicas decide without it.
	for _, addr := range c.replicas {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"name":"redis","ok":false`) {
			t.Fatalf("/readyz with Redis down: %d %s", resp.StatusCode, body)
		}
	}
	// A webhook cannot be recorded: 503, so Svix delivers it again later.
	resp, err := c.fake.SendWebhook(context.Background(), "http://"+c.replicas[0]+"/_auth/webhooks/clerk", c.secret,
		"user.updated", clerktest.UserEventData("user_k"))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("webhook with Redis down: %d, want 503", resp.StatusCode)
	}
	// Local entries, and Clerk for what no replica holds.
	start := time.Now()
	c.everyone(t, "?org=beta", known, http.StatusOK)
	c.everyone(t, "?org=beta", fresh, http.StatusOK)
	c.everyone(t, "", known, http.StatusOK)
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("nine decisions without Redis took %s", took)
	}
	errors := 0.0
	for _, addr := range c.replicas {
		errors += metric(t, addr, `clerk_forward_auth_cache_shared_errors_total{cache="memberships"}`)
	}
	if errors == 0 {
		t.Fatal("the Redis outage was not counted")
	}
	c.redis.Restart()
	// Sharing resumes: one replica's answer is another's shared hit.
	c.fake.AddMembership("user_back", "org_beta", "beta", "org:member")
	back := noOrgToken(c.fake, "user_back", "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		before := c.fake.Calls(clerktest.RouteUserMemberships)
		status0, _ := ask(t, c.replicas[0], "?org=beta", back)
		status1, _ := ask(t, c.replicas[1], "?org=beta", back)
		if status0 != http.StatusOK || status1 != http.StatusOK {
			t.Fatalf("after Redis returned: %d, %d", status0, status1)
		}
		if c.fake.Calls(clerktest.RouteUserMemberships)-before <= 1 && metric(t, c.replicas[1], `clerk_forward_auth_cache_shared_hits_total{cache="memberships"}`) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replicas did not share again after Redis returned")
		}
		// A fresh user each round: the last one is cached everywhere now.
		c.fake.AddMembership("user_back2", "org_beta", "beta", "org:member")
		back = noOrgToken(c.fake, "user_back2", fmt.Sprint("sess_", time.Now().UnixNano()))
		time.Sleep(100 * time.Millisecond)
	}
	// And invalidations travel again.
	c.fake.RemoveMembership("user_k", "org_beta")
	c.webhook(t, 2, "organizationMembership.deleted", clerktest.MembershipEventData("user_k", "org_beta", "org:member"))
	c.within(t, time.Second, "?org=beta", known, http.StatusForbidden)
}

func TestForgedReplayedAndStaleWebhooksChangeNothing(t *testing.T) {
	c := newCluster(t)
	c.fake.AddMembership("user_f", "org_beta", "beta", "org:member")
	s := c.fake.NewSession("user_f")
	token := noOrgToken(c.fake, "user_f", s.SessionID)
	c.everyone(t, "?org=beta", token, http.StatusOK)
	url := "http://" + c.replicas[0] + "/_auth/webhooks/clerk"
	post := func(body []byte, h http.Header) int {
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	revoke := clerktest.SessionEventData(s.SessionID, "user_f", "revoked")
	body, h, err := c.fake.SignWebhook(clerktest.NewWebhookSecret(), "session.revoked", revoke) // another endpoint's secret
	if err != nil {
		t.Fatal(err)
	}
	if status := post(body, h); status != http.StatusUnauthorized {
		t.Fatalf("forged webhook: %d, want 401", status)
	}
	old := time.Now().Add(-6 * time.Minute)
	stale, err := c.fake.WebhookBody("session.revoked", revoke, old)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := clerktest.SvixHeaders(c.secret, clerktest.NewID("msg"), old, stale)
	if err != nil {
		t.Fatal(err)
	}
	if status := post(stale, sh); status != http.StatusUnauthorized {
		t.Fatalf("stale webhook: %d, want 401", status)
	}
	c.everyone(t, "?org=beta", token, http.StatusOK)

	// A delivery applied once, then replayed to another replica after
	// the membership came back: the replay changes nothing.
	c.fake.RemoveMembership("user_f", "org_beta")
	body, h, err = c.fake.SignWebhook(c.secret, "organizationMembership.deleted", clerktest.MembershipEventData("user_f", "org_beta", "org:member"))
	if err != nil {
		t.Fatal(err)
	}
	if status := post(body, h); status != http.StatusOK {
		t.Fatalf("genuine webhook: %d", status)
	}
	c.within(t, time.Second, "?org=beta", token, http.StatusForbidden)
	c.fake.AddMembership("user_f", "org_beta", "beta", "org:member")
	c.webhook(t, 1, "organizationMembership.created", clerktest.MembershipEventData("user_f", "org_beta", "org:member"))
	c.within(t, time.Second, "?org=beta", token, http.StatusOK)
	c.everyone(t, "?org=beta", token, http.StatusOK) // every replica holds the answer again
	calls := c.fake.Calls(clerktest.RouteUserMemberships)
	url = "http://" + c.replicas[2] + "/_auth/webhooks/clerk"
	if status := post(body, h); status != http.StatusOK { // Svix is told "delivered"
		t.Fatalf("replayed webhook: %d", status)
	}
	time.Sleep(300 * time.Millisecond)
	c.everyone(t, "?org=beta", token, http.StatusOK)
	// Applied, it would have dropped the answers and made a new call.
	if n := c.fake.Calls(clerktest.RouteUserMemberships); n != calls {
		t.Fatalf("the replay made %d membership calls: it was applied", n-calls)
	}
	if n := metric(t, c.replicas[2], `clerk_forward_auth_webhooks_total{outcome="duplicate",type="organizationMembership.deleted"}`); n != 1 {
		t.Fatalf("duplicate deliveries counted: %v, want 1", n)
	}
}
