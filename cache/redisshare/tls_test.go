package redisshare_test

import (
	"context"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/cache/redisshare"
	"github.com/clerk-forward-auth/clerk-forward-auth/cache/redisshare/redistest"
)

func TestRedissVerifiesTheServerAgainstTheSystemRootsAndTheCAFile(t *testing.T) {
	caFile, certFile, keyFile := redistest.TLSFiles(t)
	srv := redistest.StartTLS(t, certFile, keyFile)
	ctx := context.Background()
	if st, err := redisshare.Open(ctx, srv.URL(), redisshare.Options{}); err == nil {
		_ = st.Close()
		t.Fatal("rediss:// trusted a certificate from an unknown CA")
	}
	if st, err := redisshare.Open(ctx, "redis://"+srv.Addr, redisshare.Options{}); err == nil {
		_ = st.Close()
		t.Fatal("redis:// (plain) opened a TLS-only server")
	}
	st := open(t, srv.URL(), redisshare.Options{CAFile: caFile})
	if err := st.Set(ctx, "k", []byte("over TLS"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, _, ok, err := st.Get(ctx, "k"); err != nil || !ok || string(v) != "over TLS" {
		t.Fatalf("Get = %q, %v, %v", v, ok, err)
	}
}

// TestARedisClusterOverTLSIsVerifiedAgainstTheCAFile: a cluster whose
// nodes speak TLS only (clients, cluster bus, replication) is reached
// with rediss:// and Options.Cluster, every node's certificate checked
// against the CA file, and every call works.
func TestARedisClusterOverTLSIsVerifiedAgainstTheCAFile(t *testing.T) {
	caFile, certFile, keyFile := redistest.TLSFiles(t)
	cluster := redistest.StartTLSCluster(t, caFile, certFile, keyFile, 3, 0)
	url := cluster.URL()
	if st, err := redisshare.Open(t.Context(), url, redisshare.Options{Cluster: true}); err == nil {
		_ = st.Close()
		t.Fatal("a cluster's certificate from an unknown CA was trusted")
	}
	everyCallWorks(t, url, redisshare.Options{Cluster: true, CAFile: caFile}, "on a TLS cluster")
}
