// Package bench holds the load benchmark of the service: run.sh builds the
// service and three helpers, starts them on 127.0.0.1 and prints requests/s,
// latency and peak RSS per scenario, next to a bare net/http handler that
// answers like the service without doing any work (the ceiling).
//
//	cmd/fakeclerk  starts clerktest (the fake Clerk), mints tokens, writes them to files
//	cmd/bare       the ceiling: 200 with the seven X-Auth-* headers, nothing else
//	cmd/load       a small closed-loop HTTP/1.1 load generator with token rotation
//
// See README.md for the command and the results.
package bench
