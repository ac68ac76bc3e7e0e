// Package bench holds the load benchmark of the service: run.sh builds the
// service and three helpers, starts them on 127.0.0.1 and prints requests/s,
// latency and peak RSS per scenario, next to a bare net/http handler that
// answers like the service without doing any work (the ceiling). slices.sh
// runs the repeated-token scenario in 1 s slices, the ceiling and the
// service in turn, and judges the p99 line on the slices' median ratio.
//
//	cmd/fakeclerk  starts clerktest (the fake Clerk), mints tokens, writes them to files
//	cmd/bare       the ceiling: 200 with the service's allow headers, nothing else
//	cmd/load       a small closed-loop HTTP/1.1 load generator with token rotation
//
// See README.md for the command and the results.
package bench
