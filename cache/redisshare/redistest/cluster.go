package redistest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// Cluster is a Redis Cluster of redis-server processes.
type Cluster struct {
	Masters   []*Server
	Replicas  []*Server   // Replicas[i] follows Masters[i % len(Masters)]
	tlsConfig *tls.Config // a TLS cluster's, for the setup's clients
}

// Nodes are the masters, then the replicas.
func (c *Cluster) Nodes() []*Server {
	return append(append([]*Server(nil), c.Masters...), c.Replicas...)
}

// URL is the cluster's URL in go-redis's form: the first node's address,
// and each other node as an addr parameter; rediss:// for a TLS cluster.
func (c *Cluster) URL() string {
	nodes := c.Nodes()
	u := nodes[0].URL()
	for i, node := range nodes[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + node.Addr
	}
	return u
}

// MasterOf is the master StartCluster gave key's hash slot (the masters
// share the slots in order), asked of the first master (CLUSTER KEYSLOT).
func (c *Cluster) MasterOf(t testing.TB, key string) *Server {
	t.Helper()
	node := c.Masters[0]
	rc := redis.NewClient(&redis.Options{Addr: node.Addr, Protocol: 2, DisableIdentity: true, TLSConfig: c.tlsConfig})
	defer func() { _ = rc.Close() }()
	slot, err := rc.ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("redistest: CLUSTER KEYSLOT %s: %v", key, err)
	}
	return c.Masters[int(slot)*len(c.Masters)/clusterSlots]
}

// StartCluster runs a Redis Cluster of masters masters with replicas
// replicas each, every node a redis-server with cluster mode on and extra
// arguments, the hash slots split evenly between the masters, and waits
// until every node reports the cluster ok and every replica follows its
// master; each is killed at t's cleanup. It is what `redis-cli --cluster
// create` builds, done with the cluster commands themselves. A master a
// replica follows is failed over to it within about two seconds of
// stopping (cluster-node-timeout 1 s).
func StartCluster(t testing.TB, masters, replicas int, args ...string) *Cluster {
	t.Helper()
	return startCluster(t, Start, nil, masters, replicas, args)
}

// StartTLSCluster is StartCluster over TLS only: clients, the cluster bus
// and replication, with TLSFiles' CA, certificate and key.
func StartTLSCluster(t testing.TB, caFile, certFile, keyFile string, masters, replicas int, args ...string) *Cluster {
	t.Helper()
	pem, err := os.ReadFile(caFile) //nolint:gosec // the test's own CA file (TLSFiles)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("redistest: no certificate in %s", caFile)
	}
	start := func(t testing.TB, args ...string) *Server { return StartTLS(t, certFile, keyFile, args...) }
	args = append([]string{"--tls-ca-cert-file", caFile, "--tls-cluster", "yes", "--tls-replication", "yes"}, args...)
	return startCluster(t, start, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, masters, replicas, args)
}

// startCluster is StartCluster with the nodes started by start, and the
// setup's clients speaking TLS with tlsConfig when it is not nil.
func startCluster(t testing.TB, start func(testing.TB, ...string) *Server, tlsConfig *tls.Config, masters, replicas int, args []string) *Cluster {
	t.Helper()
	// A replica's first sync starts at once, not after Redis's 5 s wait for others.
	args = append([]string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000",
		"--repl-diskless-sync-delay", "0"}, args...)
	c := &Cluster{tlsConfig: tlsConfig}
	for range masters {
		c.Masters = append(c.Masters, start(t, args...))
	}
	for range masters * replicas {
		c.Replicas = append(c.Replicas, start(t, args...))
	}
	ctx := context.Background()
	client := func(s *Server) *redis.Client {
		rc := redis.NewClient(&redis.Options{Addr: s.Addr, Protocol: 2, DisableIdentity: true, TLSConfig: tlsConfig})
		t.Cleanup(func() { _ = rc.Close() })
		return rc
	}
	firstHost, firstPort, err := net.SplitHostPort(c.Masters[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	for i, node := range c.Nodes() {
		rc := client(node)
		if i < masters {
			first, last := i*clusterSlots/masters, (i+1)*clusterSlots/masters-1
			if err := rc.ClusterAddSlotsRange(ctx, first, last).Err(); err != nil {
				t.Fatalf("redistest: slots %d-%d to %s: %v", first, last, node.Addr, err)
			}
		}
		if i > 0 {
			if err := rc.Do(ctx, "CLUSTER", "MEET", firstHost, firstPort).Err(); err != nil {
				t.Fatalf("redistest: %s meets %s: %v", node.Addr, c.Masters[0].Addr, err)
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	waitFor := func(what string, node *Server, ok func(*redis.Client) bool) {
		rc := client(node)
		for !ok(rc) {
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster node %s: %s", node.Addr, what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i, replica := range c.Replicas {
		master := c.Masters[i%masters]
		id := client(master).Do(ctx, "CLUSTER", "MYID").String()
		waitFor("knows its master", replica, func(rc *redis.Client) bool {
			id, err := client(master).Do(ctx, "CLUSTER", "MYID").Text()
			return err == nil && rc.Do(ctx, "CLUSTER", "REPLICATE", id).Err() == nil
		})
		waitFor("replicating "+id, replica, func(rc *redis.Client) bool {
			info, err := rc.Info(ctx, "replication").Result()
			return err == nil && strings.Contains(info, "master_link_status:up")
		})
	}
	for _, node := range c.Nodes() {
		waitFor("cluster ok with every master", node, func(rc *redis.Client) bool {
			info, err := rc.ClusterInfo(ctx).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok") && knowsNodes(ctx, rc, masters)
		})
	}
	return c
}

// knowsNodes reports whether c's view of the cluster has n shards, each
// with slots and an online master.
func knowsNodes(ctx context.Context, c *redis.Client, n int) bool {
	shards, err := c.ClusterShards(ctx).Result()
	if err != nil {
		return false
	}
	served := 0
	for _, shard := range shards {
		for _, node := range shard.Nodes {
			if node.Role == "master" && node.Health == "online" && len(shard.Slots) > 0 {
				served++
			}
		}
	}
	return served == n
}
