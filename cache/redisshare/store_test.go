package redisshare_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz/authztest"
	"github.com/clerk-forward-auth/clerk-forward-auth/cache"
	"github.com/clerk-forward-auth/clerk-forward-auth/cache/redisshare"
	"github.com/clerk-forward-auth/clerk-forward-auth/cache/redisshare/redistest"
)

var _ cache.Shared = (*redisshare.Store)(nil)

func open(t *testing.T, url string, opts redisshare.Options) *redisshare.Store {
	t.Helper()
	st, err := redisshare.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// raw is a plain client on srv's database db, to look behind the Store.
func raw(t *testing.T, srv *redistest.Server, password string, db int) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Password: password, DB: db, Protocol: 2})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestGetReturnsWhatSetStoredWithItsRemainingTTL(t *testing.T) {
	srv := redistest.Start(t)
	st := open(t, srv.URL(), redisshare.Options{})
	ctx := context.Background()
	if _, _, ok, err := st.Get(ctx, "m:user_1"); ok || err != nil {
		t.Fatalf("empty: ok %v err %v", ok, err)
	}
	if err := st.Set(ctx, "m:user_1", []byte("v1"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	v, ttl, ok, err := st.Get(ctx, "m:user_1")
	if err != nil || !ok || string(v) != "v1" || ttl <= 9*time.Second || ttl > 10*time.Second {
		t.Fatalf("Get = %q, %s, %v, %v; want v1 with ~10s left", v, ttl, ok, err)
	}
	// The layout the package comment documents.
	if got, _ := raw(t, srv, "", 0).Get(ctx, "cfa:v:m:user_1").Result(); got != "v1" {
		t.Fatalf("cfa:v:m:user_1 holds %q", got)
	}
	// A value without an expiry was not stored by a Store: an error.
	_ = raw(t, srv, "", 0).Set(ctx, "cfa:v:m:user_2", "x", 0).Err()
	if _, _, _, err := st.Get(ctx, "m:user_2"); err == nil {
		t.Fatal("a value without expiry was accepted")
	}
}

func TestPrefixesKeepDeploymentsApart(t *testing.T) {
	srv := redistest.Start(t)
	a := open(t, srv.URL(), redisshare.Options{Prefix: "a:"})
	b := open(t, srv.URL(), redisshare.Options{Prefix: "b:"})
	ctx := context.Background()
	if err := a.Set(ctx, "k", []byte("A"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := b.Get(ctx, "k"); ok {
		t.Fatal("prefix b: saw prefix a's key")
	}
}

func TestURLPasswordAndDatabaseNumberAreUsed(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret")
	ctx := context.Background()
	if _, err := redisshare.Open(ctx, srv.URL(), redisshare.Options{}); err == nil {
		t.Fatal("opened without the password")
	}
	st, err := redisshare.Open(ctx, "redis://:wrong@"+srv.Addr, redisshare.Options{})
	if err == nil {
		_ = st.Close()
		t.Fatal("opened with a wrong password")
	} else if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("the error shows the password: %v", err)
	}
	st = open(t, "redis://:s3cret@"+srv.Addr+"/3", redisshare.Options{})
	if err := st.Set(ctx, "k", []byte("in db 3"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, _ := raw(t, srv, "s3cret", 3).Get(ctx, "cfa:v:k").Result(); got != "in db 3" {
		t.Fatalf("db 3 holds %q", got)
	}
	if n, _ := raw(t, srv, "s3cret", 0).Exists(ctx, "cfa:v:k").Result(); n != 0 {
		t.Fatal("the key went to db 0")
	}
}

// leastPrivilegeACL is the Redis ACL README.md gives for the service's
// user (the default prefix): only its keys, its channel and the commands
// this package sends, its scripts' included.
const leastPrivilegeACL = "~cfa:* &cfa:* +ping +get +set +pttl +unlink +scan +publish +subscribe " +
	"+evalsha +eval +del +zadd +zremrangebyscore +zrange +zrevrangebyscore +pexpireat"

// clusterACL is what a Redis Cluster's nodes add to it: the client reads
// the slot map (CLUSTER SLOTS), and follows a key being moved (ASKING).
const clusterACL = " +cluster|slots +asking"

func TestTheDocumentedLeastPrivilegeACLIsEnough(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		acl     string
		cluster bool
	}{
		{"one server", leastPrivilegeACL, false},
		{"cluster", leastPrivilegeACL + clusterACL, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(readme), "ACL SETUSER clerk-forward-auth on >PASSWORD "+tc.acl+"\n") {
				t.Fatal("README.md does not give the ACL this test checks")
			}
			args := append([]string{"--user", "clerk-forward-auth", "on", ">s3cret"}, strings.Fields(tc.acl)...)
			var addr, url string
			if tc.cluster {
				nodes := redistest.StartCluster(t, 3, 0, args...)
				addr, url = nodes.Masters[0].Addr, strings.Replace(nodes.URL(), "redis://", "redis://clerk-forward-auth:s3cret@", 1)
			} else {
				addr = redistest.Start(t, args...).Addr
				url = "redis://clerk-forward-auth:s3cret@" + addr
			}
			// The user is really held to it.
			probe := redis.NewClient(&redis.Options{Addr: addr, Username: "clerk-forward-auth", Password: "s3cret", Protocol: 2})
			t.Cleanup(func() { _ = probe.Close() })
			ctx := t.Context()
			if err := probe.FlushDB(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
				t.Fatalf("FLUSHDB as the service's user: %v, want NOPERM", err)
			}
			if err := probe.Set(ctx, "other:k", "v", time.Minute).Err(); err == nil {
				t.Fatal("the service's user wrote a key outside cfa:")
			}
			everyCallWorks(t, url, redisshare.Options{Cluster: tc.cluster}, "as the least-privilege user")
		})
	}
}

// everyCallWorks runs each of the Store's calls once, in an order where
// each reads what the one before wrote, and checks that a second Store
// hears every announcement.
func everyCallWorks(t *testing.T, url string, opts redisshare.Options, as string) {
	t.Helper()
	ctx := t.Context()
	a, b := open(t, url, opts), open(t, url, opts)
	heard := &announcements{}
	go func() { _ = b.Subscribe(ctx, heard.add) }()
	heard.waitFor(t, "*")
	for _, step := range []struct {
		name string
		call func() error
	}{ // in order: each reads what the one before wrote
		{"Ping", func() error { return a.Ping(ctx) }},
		{"Set", func() error { return a.Set(ctx, "m:1", []byte("v"), time.Minute) }},
		{"Get", func() error {
			if _, _, ok, err := a.Get(ctx, "m:1"); !ok {
				return fmt.Errorf("not found (%v)", err)
			}
			return nil
		}},
		{"Claim", func() error {
			if ok, err := a.Claim(ctx, "m:2", time.Minute); !ok {
				return fmt.Errorf("not taken (%v)", err)
			}
			return nil
		}},
		{"Release", func() error { return a.Release(ctx, "m:2") }},
		{"Invalidate", func() error { return a.Invalidate(ctx, "m:1") }},
		{"Purge", func() error { return a.Purge(ctx, "m:") }},
		{"Remember", func() error { return a.Remember(ctx, "ended:", "sess_1", time.Now().Add(time.Minute)) }},
		{"Remembered", func() error {
			if got, err := a.Remembered(ctx, "ended:", 0); len(got) != 1 {
				return fmt.Errorf("remembered %v (%v)", got, err)
			}
			return nil
		}},
	} {
		if err := step.call(); err != nil {
			t.Errorf("%s %s: %v", step.name, as, err)
		}
	}
	heard.waitFor(t, "m:1")
	heard.waitFor(t, "m:*")
	heard.waitFor(t, "ended:sess_1")
}

func TestARefusedSubscriptionIsLoggedOnceAndRetriedUntilAllowed(t *testing.T) {
	// Every other call may work (and /readyz say so) while Redis refuses
	// the subscription: nothing but this line tells the operator that the
	// replica hears none of the other replicas' invalidations.
	for _, tc := range []struct {
		name    string
		acl     string
		refused bool
	}{
		{"the documented ACL", leastPrivilegeACL, false},
		{"an ACL without the channel", strings.Replace(leastPrivilegeACL, "&cfa:* ", "", 1), true},
		{"an ACL without SUBSCRIBE", strings.Replace(leastPrivilegeACL, "+subscribe ", "", 1), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t, append([]string{"--user", "clerk-forward-auth", "on", ">s3cret"}, strings.Fields(tc.acl)...)...)
			logs := &authztest.LogBuffer{}
			st := open(t, "redis://clerk-forward-auth:s3cret@"+srv.Addr, redisshare.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
			heard := &announcements{}
			go func() { _ = st.Subscribe(t.Context(), heard.add) }()
			if !tc.refused {
				heard.waitFor(t, "*")
				if logs.String() != "" {
					t.Fatalf("logged %q", logs.String())
				}
				return
			}
			time.Sleep(1500 * time.Millisecond) // several attempts
			if n := strings.Count(logs.String(), "refused the subscription"); n != 1 || strings.Contains(logs.String(), "s3cret") {
				t.Fatalf("%d lines about the refusal, want 1 without the password: %q", n, logs.String())
			}
			if err := st.Ping(t.Context()); err != nil {
				t.Fatalf("the other calls fail too (%v): not the case this test is about", err)
			}
			// Allowed, it subscribes: the attempts went on.
			grant := []any{"ACL", "SETUSER", "clerk-forward-auth"}
			for _, f := range strings.Fields(leastPrivilegeACL) {
				grant = append(grant, f)
			}
			if err := raw(t, srv, "", 0).Do(t.Context(), grant...).Err(); err != nil {
				t.Fatal(err)
			}
			heard.waitFor(t, "*")
		})
	}
}

func TestThroughSentinelTheStoreFollowsAFailover(t *testing.T) {
	oneSentinel := func(sentinel, _ string) string { // the master's password as a parameter; the sentinel has none
		return "redis://" + sentinel + "/0?master_name=mymaster&password=s3cret"
	}
	for _, tc := range []struct {
		name string
		url  func(sentinel, dead string) string
		// another sentinel, which the URL does not name, makes the
		// failover after the one it names has stopped
		unnamed bool
	}{
		{"one sentinel", oneSentinel, false},
		{"the first sentinel down", func(sentinel, dead string) string {
			return "redis://" + dead + "/0?master_name=mymaster&addr=" + sentinel + "&password=s3cret"
		}, false},
		{"the named sentinel gone, another failing over", oneSentinel, true},
	} {
		t.Run(tc.name, func(t *testing.T) { followsAFailover(t, tc.url, tc.unnamed) })
	}
}

// followsAFailover runs a master, its replica and a sentinel, and fails
// the master over to the replica under a Store whose URL is url(the
// sentinel's address, an address where nothing listens). With unnamed, a
// second sentinel watches too; the first stops before the second fails
// the master over.
func followsAFailover(t *testing.T, url func(sentinel, dead string) string, unnamed bool) {
	master := redistest.Start(t, "--requirepass", "s3cret", "--masterauth", "s3cret")
	replica := redistest.Start(t, "--requirepass", "s3cret", "--masterauth", "s3cret", "--replicaof", strings.Replace(master.Addr, ":", " ", 1))
	sentinel := redistest.StartSentinel(t, "mymaster", master.Addr, "s3cret")
	failingOver := sentinel
	ctx := t.Context()
	if unnamed {
		failingOver = redistest.StartSentinel(t, "mymaster", master.Addr, "s3cret")
		named := redis.NewSentinelClient(&redis.Options{Addr: sentinel.Addr, Protocol: 2})
		t.Cleanup(func() { _ = named.Close() })
		eventually(t, 10*time.Second, "the sentinels knowing each other", func() bool {
			others, _ := named.Sentinels(ctx, "mymaster").Result()
			return len(others) == 1
		})
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	_ = l.Close()
	st := open(t, url(sentinel.Addr, dead), redisshare.Options{Timeout: time.Second})
	heard := &announcements{}
	go func() { _ = st.Subscribe(ctx, heard.add) }()
	heard.waitFor(t, "*")
	if unnamed {
		sentinel.Kill()
	}
	if err := st.Set(ctx, "m:1", []byte("before"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, _ := raw(t, master, "s3cret", 0).Get(ctx, "cfa:v:m:1").Result(); got != "before" {
		t.Fatalf("the master holds %q", got)
	}
	sc := redis.NewSentinelClient(&redis.Options{Addr: failingOver.Addr, Protocol: 2})
	t.Cleanup(func() { _ = sc.Close() })
	// The replica must have caught up before it can be promoted.
	eventually(t, 10*time.Second, "the replica syncing", func() bool {
		info, _ := raw(t, replica, "s3cret", 0).Info(ctx, "replication").Result()
		return strings.Contains(info, "master_link_status:up")
	})
	heard.reset()
	eventually(t, 10*time.Second, "sentinel starting a failover", func() bool {
		return sc.Failover(ctx, "mymaster").Err() == nil
	})
	eventually(t, 15*time.Second, "the replica promoted", func() bool {
		addr, err := sc.GetMasterAddrByName(ctx, "mymaster").Result()
		return err == nil && strings.Join(addr, ":") == replica.Addr
	})
	// Calls reach the new master. While it switches a few fail, or land on
	// the old master before Sentinel demotes it (Sentinel does not make
	// Redis consistent; lost cache writes only cost a Backend API call).
	newMaster := raw(t, replica, "s3cret", 0)
	eventually(t, 10*time.Second, "a write through the new master", func() bool {
		if st.Set(ctx, "m:2", []byte("after"), time.Minute) != nil {
			return false
		}
		got, _ := newMaster.Get(ctx, "cfa:v:m:2").Result()
		return got == "after"
	})
	if v, _, ok, err := st.Get(ctx, "m:1"); !ok || string(v) != "before" {
		t.Fatalf("the value written before the failover: %q %v %v", v, ok, err)
	}
	heard.waitFor(t, "*")
	if err := st.Invalidate(ctx, "m:1"); err != nil {
		t.Fatal(err)
	}
	heard.waitFor(t, "m:1")
}

func TestASwitchOfMasterAsTheStoreSubscribesIsNotMissed(t *testing.T) {
	// The old master here stays one (cut off from the sentinels, say): a
	// subscription left on it hears nothing the new master announces.
	for _, tc := range []struct {
		name        string
		whenWatched bool // the switch is made as the Store's watcher subscribes, before it is told
	}{
		{"announced to the Store's watcher", false},
		{"just before the Store's watcher subscribed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, second := redistest.Start(t), redistest.Start(t)
			f := startFakeSentinel(t, "mymaster", first.Addr)
			if tc.whenWatched {
				f.setOnWatch(func() { f.setMaster(second.Addr) })
			}
			st := open(t, "redis://"+f.Addr+"/0?master_name=mymaster", redisshare.Options{})
			heard := &announcements{}
			go func() { _ = st.Subscribe(t.Context(), heard.add) }()
			if !tc.whenWatched {
				heard.waitFor(t, "*")
				heard.reset()
				f.switchMaster(second.Addr)
			}
			heard.waitFor(t, "*")
			if err := raw(t, second, "", 0).Publish(t.Context(), "cfa:invalidate", "k:m:1").Err(); err != nil {
				t.Fatal(err)
			}
			heard.waitFor(t, "m:1")
		})
	}
}

// TestSentinelAndClusterURLsAreCheckedAtStart: a URL the topology
// cannot use is an error from New, before anything is dialled.
func TestSentinelAndClusterURLsAreCheckedAtStart(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		cluster   bool
		want      string
	}{
		{"sentinel: an empty master name", "redis://127.0.0.1:26379?master_name=", false, "master_name is empty"},
		{"sentinel: an unknown parameter", "redis://127.0.0.1:26379?master_name=m&colour=red", false, "unexpected option"},
		{"sentinel: a bad sentinel address", "redis://127.0.0.1:26379?master_name=m&addr=nohost", false, "addr"},
		{"cluster: a Sentinel master name", "redis://127.0.0.1:7000?master_name=mymaster", true, "master_name"},
		{"cluster: a database other than 0", "redis://127.0.0.1:7000/3", true, "database"},
		{"cluster: an addr that is not host:port", "redis://127.0.0.1:7000?addr=nowhere", true, "addr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := redisshare.New(tc.url, redisshare.Options{Cluster: tc.cluster})
			if err == nil {
				_ = st.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
	st, err := redisshare.New("redis://127.0.0.1:7000/0?addr=127.0.0.1:7001", redisshare.Options{Cluster: true})
	if err != nil {
		t.Fatalf("database 0 is a cluster's: %v", err)
	}
	_ = st.Close()
}

// eventually polls cond every 50 ms until it holds, failing t after d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOpenRefusesWhatItCannotUse(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		url string
		ca  string
	}{
		"http scheme":          {url: "http://127.0.0.1:6379"},
		"no scheme":            {url: "127.0.0.1:6379"},
		"database not numeric": {url: "redis://127.0.0.1:6379/x"},
		"CA file without TLS":  {url: "redis://127.0.0.1:6379", ca: notPEM},
		"CA file missing":      {url: "rediss://127.0.0.1:6379", ca: filepath.Join(dir, "none.pem")},
		"CA file not PEM":      {url: "rediss://127.0.0.1:6379", ca: notPEM},
		"nothing listening":    {url: "redis://127.0.0.1:1"},
	} {
		start := time.Now()
		st, err := redisshare.Open(ctx, tc.url, redisshare.Options{CAFile: tc.ca})
		if err == nil {
			_ = st.Close()
			t.Errorf("%s: opened", name)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: took %s", name, d)
		}
	}
}

func TestAClaimIsExclusiveAndOnlyItsHolderReleasesIt(t *testing.T) {
	srv := redistest.Start(t)
	a, b := open(t, srv.URL(), redisshare.Options{}), open(t, srv.URL(), redisshare.Options{})
	ctx := context.Background()
	if ok, err := a.Claim(ctx, "k", time.Minute); !ok || err != nil {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if ok, _ := b.Claim(ctx, "k", time.Minute); ok {
		t.Fatal("second claim taken while held")
	}
	if err := b.Release(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Claim(ctx, "k", time.Minute); ok {
		t.Fatal("another Store's Release dropped the claim")
	}
	if err := a.Release(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Claim(ctx, "k", time.Minute); !ok {
		t.Fatal("claim not free after its holder released it")
	}
	if ok, _ := a.Claim(ctx, "short", 20*time.Millisecond); !ok {
		t.Fatal("claim")
	}
	time.Sleep(50 * time.Millisecond)
	if ok, _ := b.Claim(ctx, "short", time.Minute); !ok {
		t.Fatal("an expired claim still held")
	}
}

// announcements collects what Subscribe reports.
type announcements struct {
	mu  sync.Mutex
	got []string
}

func (a *announcements) add(key string, prefix bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if prefix {
		key += "*"
	}
	a.got = append(a.got, key)
}

// waitFor waits up to 2 s for want among the announcements.
func (a *announcements) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if a.has(want) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	t.Fatalf("no announcement %q in %q", want, a.got)
}

// has reports whether want was announced.
func (a *announcements) has(want string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Contains(a.got, want)
}

func (a *announcements) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = nil
}

func TestInvalidateAndPurgeDeleteAndAnnounce(t *testing.T) {
	srv := redistest.Start(t)
	a, b := open(t, srv.URL(), redisshare.Options{}), open(t, srv.URL(), redisshare.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var heard announcements
	done := make(chan error, 1)
	go func() { done <- b.Subscribe(ctx, heard.add) }()
	heard.waitFor(t, "*") // subscribed: "drop everything"
	for _, k := range []string{"m:1", "m:2", "m:[x]*", "p:1"} {
		if err := a.Set(ctx, k, []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Invalidate(ctx, "m:1"); err != nil {
		t.Fatal(err)
	}
	heard.waitFor(t, "m:1")
	if _, _, ok, _ := b.Get(ctx, "m:1"); ok {
		t.Fatal("invalidated key still stored")
	}
	if err := a.Purge(ctx, "m:"); err != nil {
		t.Fatal(err)
	}
	heard.waitFor(t, "m:*")
	for k, want := range map[string]bool{"m:2": false, "m:[x]*": false, "p:1": true} {
		if _, _, ok, _ := b.Get(ctx, k); ok != want {
			t.Errorf("after purging m:, %s stored: %v", k, ok)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Subscribe returned %v when its context ended", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Subscribe did not return when its context ended")
	}
}

// subscribed starts a Redis and two Stores on it, b subscribed (its
// first announcement heard) until the test ends.
func subscribed(t *testing.T) (*redistest.Server, *redisshare.Store, *redisshare.Store, *announcements) {
	t.Helper()
	srv := redistest.Start(t)
	a, b := open(t, srv.URL(), redisshare.Options{}), open(t, srv.URL(), redisshare.Options{})
	heard := &announcements{}
	go func() { _ = b.Subscribe(t.Context(), heard.add) }()
	heard.waitFor(t, "*")
	return srv, a, b, heard
}

func TestARememberedSetHoldsWhatIsInForceAndAnnouncesEachMember(t *testing.T) {
	srv, a, b, heard := subscribed(t)
	ctx := t.Context()
	now := time.Now().Truncate(time.Millisecond)
	for member, until := range map[string]time.Time{
		"sess_a": now.Add(time.Minute), "sess_b": now.Add(2 * time.Minute), "sess_c": now.Add(300 * time.Millisecond),
		"sess_over": now.Add(-time.Second), // already over: neither stored nor announced
	} {
		if err := a.Remember(ctx, "ended:", member, until); err != nil {
			t.Fatal(err)
		}
	}
	heard.waitFor(t, "ended:sess_a")
	heard.waitFor(t, "ended:sess_b")
	got, err := b.Remembered(ctx, "ended:", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{"sess_a": now.Add(time.Minute), "sess_b": now.Add(2 * time.Minute), "sess_c": now.Add(300 * time.Millisecond)}
	if len(got) != len(want) {
		t.Fatalf("Remembered = %v, want %v", got, want)
	}
	for m, until := range want {
		if !got[m].Equal(until) {
			t.Errorf("%s until %v, want %v", m, got[m], until)
		}
	}
	// A limit keeps the latest; a member past its time is not returned,
	// and the next Remember drops it from the set.
	if got, _ := b.Remembered(ctx, "ended:", 1); len(got) != 1 || got["sess_b"].IsZero() {
		t.Errorf("Remembered with limit 1 = %v, want sess_b", got)
	}
	time.Sleep(350 * time.Millisecond)
	if got, _ := b.Remembered(ctx, "ended:", 0); len(got) != 2 || !got["sess_c"].IsZero() {
		t.Errorf("after sess_c's time: %v", got)
	}
	if err := a.Remember(ctx, "ended:", "sess_d", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	r := raw(t, srv, "", 0)
	members, _ := r.ZRange(ctx, "cfa:s:ended:", 0, -1).Result()
	if strings.Join(members, ",") != "sess_a,sess_d,sess_b" {
		t.Errorf("cfa:s:ended: holds %v, want sess_a,sess_d,sess_b", members)
	}
	// The set expires with its latest member (sess_b), whichever came last.
	if ttl, _ := r.PTTL(ctx, "cfa:s:ended:").Result(); ttl <= 110*time.Second || ttl > 2*time.Minute {
		t.Errorf("the set's TTL is %s, want about two minutes", ttl)
	}
	// Another deployment's prefix sees none of it.
	other := open(t, srv.URL(), redisshare.Options{Prefix: "other:"})
	if got, err := other.Remembered(ctx, "ended:", 0); err != nil || len(got) != 0 {
		t.Errorf("another prefix remembers %v (%v)", got, err)
	}
}

func TestASubscriptionSurvivesARestartAndSaysSo(t *testing.T) {
	srv, a, _, heard := subscribed(t)
	ctx := t.Context()
	srv.Kill()
	heard.reset()
	srv.Restart()
	heard.waitFor(t, "*") // resubscribed: what was missed is reported as a purge of everything
	deadline := time.Now().Add(2 * time.Second)
	for a.Invalidate(ctx, "m:1") != nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the pool redials after its own back-off
	}
	heard.waitFor(t, "m:1")
}

func TestEveryCallIsBoundedByTheTimeoutWhenRedisStalls(t *testing.T) {
	srv := redistest.Start(t)
	st := open(t, srv.URL(), redisshare.Options{Timeout: 100 * time.Millisecond})
	ctx := context.Background()
	// CLIENT PAUSE holds every other client's commands: a stalled server.
	if err := raw(t, srv, "", 0).Do(ctx, "CLIENT", "PAUSE", "2000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"Get":        func() error { _, _, _, err := st.Get(ctx, "k"); return err },
		"Set":        func() error { return st.Set(ctx, "k", []byte("v"), time.Minute) },
		"Claim":      func() error { _, err := st.Claim(ctx, "k", time.Minute); return err },
		"Release":    func() error { return st.Release(ctx, "k") },
		"Invalidate": func() error { return st.Invalidate(ctx, "k") },
		"Ping":       func() error { return st.Ping(ctx) },
		"Remember":   func() error { return st.Remember(ctx, "s:", "m", time.Now().Add(time.Minute)) },
		"Remembered": func() error { _, err := st.Remembered(ctx, "s:", 0); return err },
	} {
		start := time.Now()
		err := call()
		if d := time.Since(start); d > 250*time.Millisecond {
			t.Errorf("%s took %s with Redis stalled", name, d)
		}
		if err == nil {
			t.Errorf("%s succeeded with Redis stalled", name)
		}
	}
}

func TestCallsFailFastWhenRedisIsGone(t *testing.T) {
	srv := redistest.Start(t)
	st := open(t, srv.URL(), redisshare.Options{})
	srv.Kill()
	start := time.Now()
	_, _, _, err := st.Get(context.Background(), "k")
	if err == nil || errors.Is(err, redis.Nil) {
		t.Fatalf("Get with Redis gone: %v", err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Fatalf("Get took %s with Redis gone", d)
	}
}

func TestSubscribeReturnsWhenTheStoreIsClosed(t *testing.T) {
	srv := redistest.Start(t)
	st, err := redisshare.Open(context.Background(), srv.URL(), redisshare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var heard announcements
	done := make(chan error, 1)
	go func() { done <- st.Subscribe(context.Background(), heard.add) }()
	heard.waitFor(t, "*")
	_ = st.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Subscribe returned nil after Close")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Subscribe still running after Close")
	}
}

// TestAcrossARedisClusterKeysSpreadAndPurgeReachesEveryNode: on a cluster
// the Store's keys land on the node of their slot (so on several nodes),
// Invalidate deletes keys of many slots at once, and Purge deletes what
// every master holds, not only the node a SCAN happens to reach.
func TestAcrossARedisClusterKeysSpreadAndPurgeReachesEveryNode(t *testing.T) {
	cluster := redistest.StartCluster(t, 3, 0)
	nodes, url := cluster.Masters, cluster.URL()
	everyCallWorks(t, url, redisshare.Options{Cluster: true}, "on a cluster")
	st := open(t, url, redisshare.Options{Cluster: true})
	ctx := t.Context()
	held := func() (total, nodesWithKeys int) {
		for _, node := range nodes {
			n := len(raw(t, node, "", 0).Keys(ctx, "cfa:v:*").Val())
			total += n
			if n > 0 {
				nodesWithKeys++
			}
		}
		return total, nodesWithKeys
	}
	var keys []string
	for i := range 60 {
		keys = append(keys, fmt.Sprintf("m:user_%d", i))
		if err := st.Set(ctx, keys[i], []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if total, spread := held(); total != 60 || spread != len(nodes) {
		t.Fatalf("60 keys: %d held, on %d of %d nodes", total, spread, len(nodes))
	}
	if err := st.Invalidate(ctx, keys[:30]...); err != nil {
		t.Fatalf("Invalidate of keys in many slots: %v", err)
	}
	if total, _ := held(); total != 30 {
		t.Fatalf("after invalidating 30 of 60 keys, %d held", total)
	}
	if err := st.Purge(ctx, "m:"); err != nil {
		t.Fatal(err)
	}
	if total, _ := held(); total != 0 {
		t.Fatalf("after Purge, %d keys left on the nodes", total)
	}
}

// TestOnAClusterTheStoreOutlivesAMasterFailingOver: the master serving
// the announcements' channel (and the keys of that slot) stops; its
// replica takes over. Writes to that slot work again, and the
// subscription comes back on the new master and says announcements may
// have been missed, then carries them again.
func TestOnAClusterTheStoreOutlivesAMasterFailingOver(t *testing.T) {
	cluster := redistest.StartCluster(t, 3, 1)
	url := cluster.URL()
	a, b := open(t, url, redisshare.Options{Cluster: true}), open(t, url, redisshare.Options{Cluster: true})
	ctx := t.Context()
	heard := &announcements{}
	go func() { _ = b.Subscribe(ctx, heard.add) }()
	heard.waitFor(t, "*")
	// The key "{cfa:invalidate}" hashes like the channel: the same slot.
	cluster.MasterOf(t, "cfa:invalidate").Kill()
	heard.reset()
	eventually(t, 15*time.Second, "writes to the failed master's slot", func() bool {
		return a.Set(ctx, "{cfa:invalidate}", []byte("after"), time.Minute) == nil
	})
	if v, _, ok, err := a.Get(ctx, "{cfa:invalidate}"); !ok || string(v) != "after" {
		t.Fatalf("read back after the failover: %q %v %v", v, ok, err)
	}
	heard.waitFor(t, "*")
	eventually(t, 5*time.Second, "an announcement after the failover", func() bool {
		if err := a.Invalidate(ctx, "m:after"); err != nil {
			return false
		}
		return heard.has("m:after")
	})
}

// TestASubscriptionDroppedAsSoonAsMadeBacksOff: a server (or a proxy in
// front of it) that confirms each subscription and then drops it would
// have each replica subscribe again every 50 ms, and purge its caches
// each time. The pause only starts over after a subscription that held.
func TestASubscriptionDroppedAsSoonAsMadeBacksOff(t *testing.T) {
	srv, _, _, heard := subscribed(t)
	ctx := t.Context()
	killer := raw(t, srv, "", 0)
	heard.reset()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		_ = killer.ClientKillByFilter(ctx, "TYPE", "pubsub").Err()
		time.Sleep(5 * time.Millisecond)
	}
	heard.mu.Lock()
	purges := len(heard.got)
	heard.mu.Unlock()
	// 50 ms, 100, 200, 400, 800, then 1 s: about 6 in 2 s, where a pause
	// starting over at each subscription would make about 35.
	if purges > 8 {
		t.Fatalf("%d resubscriptions (and cache purges) in 2 s of subscriptions dropped at once", purges)
	}
	heard.reset()
	heard.waitFor(t, "*") // and once the server lets it be, it is back within the pause
}
