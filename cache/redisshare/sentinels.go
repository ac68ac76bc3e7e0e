package redisshare

import (
	"context"
	"net"
	"sync"

	"github.com/redis/go-redis/v9"
)

// maxSentinels bounds the sentinels a Store listens to: a sentinel's
// answer could otherwise grow the set without end.
const maxSentinels = 16

// sentinelSet is the sentinels a Store listens to for a switch of master:
// those the URL names, and those they name in turn (SENTINEL SENTINELS).
// Without the latter, a URL naming one sentinel, which then stops, would
// leave a failover the others make unheard.
type sentinelSet struct {
	master string
	opts   redis.Options // a sentinel's client: the URL's credentials, TLS, dial timeout

	mu      sync.Mutex
	clients []*redis.SentinelClient
	addrs   map[string]bool
	closed  bool
}

func newSentinelSet(master string, opts redis.Options, addrs []string) *sentinelSet {
	ss := &sentinelSet{master: master, opts: opts, addrs: map[string]bool{}}
	for _, addr := range addrs {
		ss.add(addr)
	}
	return ss
}

// add starts listening to the sentinel at addr, unless it is known, the
// set is full or closed.
func (ss *sentinelSet) add(addr string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed || ss.addrs[addr] || len(ss.clients) >= maxSentinels {
		return
	}
	o := ss.opts
	o.Addr = addr
	ss.addrs[addr] = true
	ss.clients = append(ss.clients, redis.NewSentinelClient(&o))
}

// list is the sentinels now.
func (ss *sentinelSet) list() []*redis.SentinelClient {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return append([]*redis.SentinelClient(nil), ss.clients...)
}

// discover adds the sentinels the first one to answer names for the
// master; call bounds each question.
func (ss *sentinelSet) discover(ctx context.Context, call func(context.Context, func(context.Context) error) error) {
	for _, sc := range ss.list() {
		var others []map[string]string
		if call(ctx, func(ctx context.Context) (err error) {
			others, err = sc.Sentinels(ctx, ss.master).Result()
			return err
		}) != nil {
			continue
		}
		for _, o := range others {
			if o["ip"] != "" && o["port"] != "" {
				ss.add(net.JoinHostPort(o["ip"], o["port"]))
			}
		}
		return
	}
}

// close closes every client; none is added after.
func (ss *sentinelSet) close() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.closed = true
	for _, sc := range ss.clients {
		_ = sc.Close()
	}
}
