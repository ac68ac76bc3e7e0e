// Command bare is the benchmark's ceiling: a net/http server that answers
// every request 200 with the headers the service sends on allow (the twelve
// X-Auth-* headers, Cache-Control and an X-Request-Id of the same length),
// and does nothing else. Whatever the service adds on top of
// this is the cost of authentication.
//
// -busy makes each request first spin for that long, to see what latency a
// handler doing that much work gets on this machine (bench/README.md,
// "A bare handler doing as much work"); run.sh does not use it.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18081", "listen address (loopback only)")
	busy := flag.Duration("busy", 0, "spin this long in each request before answering (a stand-in for a handler's work)")
	flag.Parse()
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if *busy > 0 {
			for start := time.Now(); time.Since(start) < *busy; {
			}
		}
		hdr := w.Header()
		hdr.Set("Cache-Control", "no-store")
		hdr.Set("X-Auth-User-Id", "user_2abcdefghijklmnopqrstuvwxy")
		hdr.Set("X-Auth-Session-Id", "sess_2abcdefghijklmnopqrstuvwxy")
		hdr.Set("X-Auth-Org-Id", "org_2abcdefghijklmnopqrstuvwxyz")
		hdr.Set("X-Auth-Org-Slug", "acme")
		hdr.Set("X-Auth-Org-Role", "org:admin")
		hdr.Set("X-Auth-Org-Permissions", "org:invoices:read,org:invoices:manage,org:reports:read")
		hdr.Set("X-Auth-Actor-Id", "")
		hdr.Set("X-Auth-Token-Type", "session_token")
		hdr.Set("X-Auth-Machine-Id", "")
		hdr.Set("X-Auth-Token-Id", "")
		hdr.Set("X-Auth-Scopes", "")
		hdr.Set("X-Auth-Client-Id", "")
		hdr.Set("X-Request-Id", "7e9e713a12c7ebd31c144d434ffc7901")
		w.WriteHeader(http.StatusOK)
	})
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
