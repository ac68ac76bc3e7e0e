//go:build pprof

package main

import (
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// A build with -tags pprof serves Go's profiles on PPROF_ADDR (default
// 127.0.0.1:6060), for bench/pgo.sh, which records the CPU profile the
// release build is optimized with (default.pgo). Release builds have no
// such listener: a profile endpoint shows the process's internals to
// whoever reaches it.
func init() {
	addr := os.Getenv("PPROF_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6060"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ListenAndServe() }() //nolint:gosec // a profiling build for the benchmark only, on loopback by default
}
