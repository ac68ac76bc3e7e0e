package redisshare

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Options configure a Store; the zero value is the defaults.
type Options struct {
	// Prefix starts every key and the channel name; default "cfa:".
	Prefix string
	// Timeout bounds every call (dialling included); default 100 ms.
	Timeout time.Duration
	// CAFile is a PEM file of certificate authorities trusted for
	// rediss:// in addition to the system roots (optional).
	CAFile string
	// PoolSize bounds the connections kept (default go-redis's, 10 per CPU;
	// per node of a cluster).
	PoolSize int
	// Cluster reads the URL as a Redis Cluster's: the host and each addr
	// parameter are nodes to learn the cluster's layout from.
	Cluster bool
	// Logger is told what no caller can be: that Redis refuses the
	// subscription Subscribe keeps trying (default slog.Default()).
	Logger *slog.Logger
}

// clusterMapMaxAge is how old a cluster's slot map may get before a call
// has it read again: about one CLUSTER SLOTS a second while Redis is used.
const clusterMapMaxAge = time.Second

// Store is cache.Shared on one Redis server, a Sentinel-managed master or a
// Redis Cluster. It is safe for concurrent use.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	timeout time.Duration
	owner   string // this Store's claims hold it, so Release drops only its own
	channel string
	where   string // the server, or the master and sentinels, for errors
	closed  atomic.Bool
	logger  *slog.Logger

	// With Sentinel: the master's name, and the sentinels, which tell
	// Subscribe when another server becomes the master (any one of them:
	// the others may be down). nil otherwise.
	master    string
	sentinels *sentinelSet
}

// Open is New, then a PING within the timeout: an error means a URL or
// options it cannot use, or a server that did not answer.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	s, err := New(rawURL, opts)
	if err != nil {
		return nil, err
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.rdb.Close()
		return nil, fmt.Errorf("redis at %s: %w", s.where, err)
	}
	return s, nil
}

// New builds a Store for the Redis at rawURL,
// redis://[[user]:password@]host[:port][/db] or rediss://… (TLS verified
// against the system roots and Options.CAFile), without connecting: a
// service starts while Redis is down, and an outage, then or later, only
// makes calls fail (package cache then loads directly). An error means a
// URL or options it cannot use.
//
// A URL with master_name is Redis Sentinel's, in go-redis's form: the
// host and each addr parameter are sentinels, the user and password
// before the host are the sentinels' own, and the username and password
// parameters the master's:
// redis://sentinel-1:26379/0?master_name=mymaster&addr=sentinel-2:26379&password=….
// The Store then always talks to the master the sentinels name, and after
// a failover to the new one.
//
// With Options.Cluster the URL is a Redis Cluster's, in go-redis's form:
// the host and each addr parameter are nodes the client learns the slot
// map from (any one that answers will do), and the user and password are
// every node's: redis://node-1:6379?addr=node-2:6379&addr=node-3:6379.
// Each key goes to the node that serves its slot.
func New(rawURL string, opts Options) (*Store, error) {
	if opts.Prefix == "" {
		opts.Prefix = "cfa:"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 100 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("redis URL does not parse") // the error would echo the password
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("redis URL scheme %q: want redis or rediss", u.Scheme)
	}
	// One attempt per call, bounded by the timeout and the caller's
	// context; the cache above decides what to do about a failure. RESP2:
	// nothing here needs RESP3 (see the package comment).
	t := opts.Timeout
	var (
		rdb           redis.UniversalClient
		where, master string
		sentinels     *sentinelSet
	)
	switch {
	case opts.Cluster:
		if u.Query().Has("master_name") {
			return nil, errors.New("redis cluster URL: master_name is Sentinel's; a cluster needs none")
		}
		if p := strings.TrimPrefix(u.Path, "/"); p != "" && p != "0" {
			return nil, fmt.Errorf("redis cluster URL: database %q: a cluster has database 0 only", p)
		}
		u.Path = ""
		o, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("redis cluster URL: %w", err)
		}
		if err := trustCAFile(o.TLSConfig, opts.CAFile); err != nil {
			return nil, err
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = t, t, t, t
		o.ContextTimeoutEnabled, o.MaxRetries, o.DialerRetries, o.Protocol, o.DisableIdentity = true, -1, 1, 2, true
		o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
		// go-redis reloads the slot map on a MOVED reply, and otherwise
		// once it is older than this (in the background, on the next
		// call). A master that stops answering sends no MOVED: with
		// go-redis's default of a minute, every call to its slots (the
		// subscription's included) would fail for that long after its
		// replica took over.
		o.ClusterStateReloadInterval = clusterMapMaxAge
		if opts.PoolSize > 0 {
			o.PoolSize = opts.PoolSize
		}
		rdb, where = redis.NewClusterClient(o), "cluster "+strings.Join(o.Addrs, ",")
	case u.Query().Has("master_name"):
		o, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis sentinel URL: %w", err)
		}
		if o.MasterName == "" {
			return nil, errors.New("redis sentinel URL: master_name is empty")
		}
		if err := trustCAFile(o.TLSConfig, opts.CAFile); err != nil {
			return nil, err
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = t, t, t, t
		o.ContextTimeoutEnabled, o.MaxRetries, o.DialerRetries, o.Protocol, o.DisableIdentity = true, -1, 1, 2, true
		if opts.PoolSize > 0 {
			o.PoolSize = opts.PoolSize
		}
		rdb, where = redis.NewFailoverClient(o), fmt.Sprintf("master %s via sentinels %s", o.MasterName, strings.Join(o.SentinelAddrs, ","))
		master = o.MasterName
		sentinels = newSentinelSet(master, redis.Options{
			Username: o.SentinelUsername, Password: o.SentinelPassword, TLSConfig: o.TLSConfig,
			DialTimeout: t, Protocol: 2, DisableIdentity: true,
		}, o.SentinelAddrs)
	default:
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis URL: %w", err)
		}
		if err := trustCAFile(o.TLSConfig, opts.CAFile); err != nil {
			return nil, err
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = t, t, t, t
		o.ContextTimeoutEnabled, o.MaxRetries, o.DialerRetries, o.Protocol, o.DisableIdentity = true, -1, 1, 2, true
		o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
		if opts.PoolSize > 0 {
			o.PoolSize = opts.PoolSize
		}
		rdb, where = redis.NewClient(o), o.Addr
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	s := &Store{
		rdb: rdb, prefix: opts.Prefix, timeout: opts.Timeout, where: where, master: master, sentinels: sentinels,
		owner: hex.EncodeToString(id[:]), channel: opts.Prefix + "invalidate", logger: opts.Logger,
	}
	return s, nil
}

// trustCAFile adds the PEM certificates of caFile (if any) to what cfg
// trusts besides the system roots; cfg is nil for a redis:// URL.
func trustCAFile(cfg *tls.Config, caFile string) error {
	if caFile == "" {
		return nil
	}
	if cfg == nil {
		return errors.New("a CA file for a redis:// URL: TLS needs rediss://")
	}
	pem, err := os.ReadFile(caFile) //nolint:gosec // the file the operator named in the configuration
	if err != nil {
		return fmt.Errorf("redis CA file: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("redis CA file %s: no PEM certificate in it", caFile)
	}
	cfg.RootCAs = roots
	return nil
}

// Ping checks the server answers within the timeout. For a startup check
// or a health detail, not readiness: the service works without Redis, and
// failing readiness on a Redis outage would take every replica down at once.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.rdb.Ping(ctx).Err()
}

// Close closes the connections; Subscribe calls then return.
func (s *Store) Close() error {
	s.closed.Store(true)
	if s.sentinels != nil {
		s.sentinels.close()
	}
	return s.rdb.Close()
}

func (s *Store) valueKey(key string) string { return s.prefix + "v:" + key }
func (s *Store) claimKey(key string) string { return s.prefix + "c:" + key }
func (s *Store) setKey(set string) string   { return s.prefix + "s:" + set }

// Get returns key's value and its remaining TTL (GET and PTTL in one round
// trip); ok false when absent. A value without an expiry is not one this
// package stored: it is reported as an error.
func (s *Store) Get(ctx context.Context, key string) (val []byte, ttl time.Duration, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	k := s.valueKey(key)
	pipe := s.rdb.Pipeline()
	get := pipe.Get(ctx, k)
	pttl := pipe.PTTL(ctx, k)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, false, err
	}
	if errors.Is(get.Err(), redis.Nil) {
		return nil, 0, false, nil
	}
	val, err = get.Bytes()
	if err != nil {
		return nil, 0, false, err
	}
	switch ttl = pttl.Val(); {
	case ttl == -1:
		return nil, 0, false, fmt.Errorf("%s has no expiry", k)
	case ttl <= 0: // expired between the two commands
		return nil, 0, false, nil
	}
	return val, ttl, true, nil
}

// Set stores val under key for ttl (SET PX); a ttl under a millisecond
// stores nothing.
func (s *Store) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if ttl < time.Millisecond {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.rdb.Set(ctx, s.valueKey(key), val, ttl).Err()
}

// Claim takes key's claim for ttl (SET NX PX); false: another Store holds it.
func (s *Store) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ok, err := s.rdb.SetNX(ctx, s.claimKey(key), s.owner, max(ttl, time.Millisecond)).Result()
	return ok, err
}

// release deletes a claim only if this Store holds it: one that outlived
// its TTL may be another's by now.
var release = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// Release drops this Store's claim on key.
func (s *Store) Release(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return release.Run(ctx, s.rdb, []string{s.claimKey(key)}, s.owner).Err()
}

// Invalidate deletes keys, then announces them (one round trip).
func (s *Store) Invalidate(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	pipe := s.rdb.Pipeline()
	for _, k := range keys {
		// One UNLINK per key: in a cluster, keys of different slots
		// cannot share a command.
		pipe.Unlink(ctx, s.valueKey(k))
		pipe.Publish(ctx, s.channel, "k:"+k)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// Purge deletes every key starting with prefix (SCAN and UNLINK, each
// call bounded by the timeout; in a cluster, on every master), then
// announces the purge. Its cost grows with the number of keys under
// Prefix.
func (s *Store) Purge(ctx context.Context, prefix string) error {
	match := globEscape(s.valueKey(prefix)) + "*"
	var err error
	if c, ok := s.rdb.(*redis.ClusterClient); ok {
		// SCAN sees one node's keys: each master is scanned.
		err = c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return s.purgeNode(ctx, node, match) })
	} else {
		err = s.purgeNode(ctx, s.rdb, match)
	}
	if err != nil {
		return err
	}
	return s.bounded(ctx, func(ctx context.Context) error { return s.rdb.Publish(ctx, s.channel, "p:"+prefix).Err() })
}

// purgeNode deletes the keys matching match that node holds.
func (s *Store) purgeNode(ctx context.Context, node redis.Cmdable, match string) error {
	var cursor uint64
	for {
		var (
			keys []string
			err  error
		)
		if err := s.bounded(ctx, func(ctx context.Context) error {
			keys, cursor, err = node.Scan(ctx, cursor, match, 1000).Result()
			return err
		}); err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := s.bounded(ctx, func(ctx context.Context) error {
				// One UNLINK per key: a cluster node's keys are in many
				// slots, and a command's keys must share one.
				pipe := node.Pipeline()
				for _, k := range keys {
					pipe.Unlink(ctx, k)
				}
				_, err := pipe.Exec(ctx)
				return err
			}); err != nil {
				return err
			}
		}
		if cursor == 0 {
			return nil
		}
	}
}

// remember adds a member to a sorted set scored by its expiry, drops the
// members past theirs, makes the set expire with its latest member, and
// announces the member, atomically. KEYS[1] the set; ARGV: now and until
// in Unix milliseconds, the member, the channel, the announcement.
var remember = redis.NewScript(`
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])
redis.call("ZADD", KEYS[1], ARGV[2], ARGV[3])
local latest = redis.call("ZRANGE", KEYS[1], -1, -1, "WITHSCORES")
redis.call("PEXPIREAT", KEYS[1], latest[2])
return redis.call("PUBLISH", ARGV[4], ARGV[5])`)

// Remember records member in the set named set until the time given, and
// announces it as the key set+member (one round trip). Members whose time
// has passed are dropped as each is added, and the set expires with its
// latest member, so it holds only what is still in force. It is for facts
// a replica that was not listening must still learn (Remembered), such as
// a session Clerk ended: an announcement alone reaches only the replicas
// subscribed at that moment.
func (s *Store) Remember(ctx context.Context, set, member string, until time.Time) error {
	now := time.Now()
	if until.Sub(now) < time.Millisecond {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return remember.Run(ctx, s.rdb, []string{s.setKey(set)},
		now.UnixMilli(), until.UnixMilli(), member, s.channel, "k:"+set+member).Err()
}

// Remembered returns the members of the set named set whose time has not
// passed, each with its time: the limit with the latest times, or all when
// limit is 0.
func (s *Store) Remembered(ctx context.Context, set string, limit int) (map[string]time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	zs, err := s.rdb.ZRevRangeByScoreWithScores(ctx, s.setKey(set), &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(time.Now().UnixMilli(), 10), Max: "+inf", Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(zs))
	for _, z := range zs {
		if m, ok := z.Member.(string); ok {
			out[m] = time.UnixMilli(int64(z.Score))
		}
	}
	return out, nil
}

func (s *Store) bounded(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return f(ctx)
}

// globEscape quotes the characters SCAN MATCH treats specially.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// How Subscribe notices a dead connection and how fast it redials.
const (
	subscribeIdle    = 5 * time.Second // no traffic this long: PING; no answer by the next: reconnect
	subscribeBackoff = 50 * time.Millisecond
	subscribeMaxWait = time.Second
)

// Subscribe calls fn with every announcement until ctx ends (see
// cache.Shared). A lost connection is redialled (every 50 ms, backing off
// to 1 s, and back to 50 ms once a subscription held for a second) and
// each (re)subscription is reported as fn("", true), since what was
// announced meanwhile is lost. It returns nil when ctx ends and an
// error when the Store is closed. A subscription Redis refuses (an ACL
// without the channel or SUBSCRIBE) is tried again the same way, and
// logged once until one succeeds.
func (s *Store) Subscribe(ctx context.Context, fn func(key string, prefix bool)) error {
	wait, refused := subscribeBackoff, false
	for {
		var since time.Time
		err := s.subscribeOnce(ctx, fn, func() { since, refused = time.Now(), false })
		// The pause starts over only after a subscription that held: one
		// dropped as soon as it is made (a proxy that accepts SUBSCRIBE,
		// then closes) would otherwise be made again, and the caches purged
		// (fn("", true)), every 50 ms.
		if !since.IsZero() && time.Since(since) >= subscribeMaxWait {
			wait = subscribeBackoff
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case s.closed.Load():
			return fmt.Errorf("redis subscription: %w", redis.ErrClosed)
		}
		// A lost or refused connection: dial again, after a pause. A reply
		// refusing it is no outage: the other calls may all work, so
		// nothing else would tell that this replica hears no invalidations.
		if re := redis.Error(nil); errors.As(err, &re) && !refused {
			refused = true
			s.logger.Error("redis refused the subscription: other replicas' invalidations do not reach this one until it is allowed",
				"channel", s.channel, "redis", s.where, "error", err.Error())
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		wait = min(2*wait, subscribeMaxWait)
	}
}

// subscribeOnce holds one subscription until it fails or ctx ends;
// connected is called once it is established.
func (s *Store) subscribeOnce(ctx context.Context, fn func(string, bool), connected func()) error {
	ps := s.rdb.Subscribe(ctx)
	defer func() { _ = ps.Close() }()
	// A read in progress does not watch ctx; closing the connection ends it.
	defer context.AfterFunc(ctx, func() { _ = ps.Close() })()
	// After a failover the old master, now a replica, still relays what
	// is published, but not what was published while it switched (nothing
	// at all if it is cut off and still thinks it is the master): end this
	// subscription so the next one is on the new master and says that
	// announcements may have been missed. The sentinels are listened to
	// before the master is asked for: a switch made after the master was
	// named but before they listened would go unheard, and the
	// subscription stay on the old master.
	var sentinels []*redis.SentinelClient
	if s.sentinels != nil {
		s.sentinels.discover(ctx, s.bounded)
		sentinels = s.sentinels.list()
	}
	for _, sc := range sentinels {
		sw := s.watchSentinel(ctx, sc)
		defer func() { _ = sw.Close() }()
		go func() {
			for msg := range sw.Channel() {
				if name, _, _ := strings.Cut(msg.Payload, " "); name == s.master {
					_ = ps.Close()
					return
				}
			}
		}()
	}
	if err := s.bounded(ctx, func(ctx context.Context) error { return ps.Subscribe(ctx, s.channel) }); err != nil {
		return err
	}
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, subscribeIdle)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged && ctx.Err() == nil {
				// Quiet: check the connection is alive. The PONG (or
				// anything else) must come before the next timeout.
				pinged = true
				if err := s.bounded(ctx, func(ctx context.Context) error { return ps.Ping(ctx) }); err != nil {
					return err
				}
				continue
			}
			return err
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				connected()
				fn("", true)
			}
		case *redis.Message:
			switch {
			case strings.HasPrefix(m.Payload, "k:"):
				fn(m.Payload[2:], false)
			case strings.HasPrefix(m.Payload, "p:"):
				fn(m.Payload[2:], true)
			}
		}
	}
}

// watchSentinel subscribes to sc's +switch-master and waits (within the
// timeout) for sc to confirm it, so that a switch from then on is heard. A
// sentinel that does not answer is left to go-redis to reconnect: another
// may be up.
func (s *Store) watchSentinel(ctx context.Context, sc *redis.SentinelClient) *redis.PubSub {
	sw := sc.Subscribe(ctx)
	if sw.Subscribe(ctx, "+switch-master") == nil {
		_, _ = sw.ReceiveTimeout(ctx, s.timeout) // the subscription's confirmation
	}
	return sw
}

// LogTo sends the Redis client's own lines (a dial that failed while Redis
// is down, say) to l at debug level instead of the standard log package:
// the cache already counts and reports every failed call. The client's
// logger is process-wide, so this is too.
func LogTo(l *slog.Logger) { redis.SetLogger(slogPrinter{l}) }

type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(ctx context.Context, format string, v ...any) {
	p.l.DebugContext(ctx, "redis client", "message", fmt.Sprintf(format, v...))
}
