#!/usr/bin/env bash
# The p99 line judged without the drift between runs: the repeated-token
# scenario of bench/run.sh in short slices, the ceiling and the service in
# turn (ceiling, service, ceiling, …, ceiling). Each service slice is
# compared with the mean of the ceiling slices either side of it, and the
# script prints the median of those ratios (req/s, p50, p99, p99.9) and in
# how many slices the p99 line (at most 1.3x the ceiling's p99) was met.
# On a shared machine the speed moves from one minute to the next; slices
# of a second put both sides in the same minute. See README.md.
#
#   bench/slices.sh                          # 20 slices of 1 s each side, ~1 minute
#   SLICES=40 SLICE=2s bench/slices.sh
#   SERVICE_ENV="GOGC=800" bench/slices.sh   # the service with other settings
set -euo pipefail

SLICES=${SLICES:-20}
SLICE=${SLICE:-1s}
CONNS=${CONNS:-32}
SERVICE_ENV=${SERVICE_ENV:-}

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/setup.sh
. "$root/bench/setup.sh"
start_fake_clerk 20 2

# SERVICE_ENV is a list of NAME=value words for the service only.
# shellcheck disable=SC2086
env $SERVICE_ENV LISTEN_ADDR="$BENCH_SERVICE_ADDR" "${server_cpu[@]}" "$work/clerk-forward-auth" 2>/dev/null &
pids+=($!)
"${server_cpu[@]}" "$work/bare" -addr "$BENCH_BARE_ADDR" &
pids+=($!)
"$work/load" -wait "http://$BENCH_SERVICE_ADDR/readyz"
"$work/load" -wait "http://$BENCH_BARE_ADDR/"

# slice URL: one slice's "rps p50 p99 p99.9".
slice() {
	"${load_cpu[@]}" "$work/load" -url "$1" -c "$CONNS" -expect 200 -token-file "$work/tokens.txt" -tokens repeat -d "$SLICE" |
		awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		       if (v["unexpected"] + v["errors"] > 0) { print "unexpected statuses or errors: " $0 > "/dev/stderr"; exit 1 }
		       print v["rps"], v["p50_us"], v["p99_us"], v["p999_us"] }'
}
bare=http://$BENCH_BARE_ADDR/ service=http://$BENCH_SERVICE_ADDR/forward-auth
slice "$bare" >/dev/null # warm both up
slice "$service" >/dev/null
echo "running $SLICES slices of $SLICE each side at $CONNS connections…" >&2
# record SIDE URL: one slice appended to the list (a slice with an
# unexpected status ends the script).
record() { printf '%s ' "$1" >>"$work/slices"; slice "$2" >>"$work/slices"; }
record ceiling "$bare"
for _ in $(seq "$SLICES"); do
	record service "$service"
	record ceiling "$bare"
done

awk -v slice="$SLICE" -v conns="$CONNS" '
	{ side[NR] = $1; for (k = 2; k <= 5; k++) m[NR, k] = $k }
	END {
		n = 0
		for (i = 2; i < NR; i += 2) {
			n++
			for (k = 2; k <= 5; k++) r[k, n] = m[i, k] / ((m[i - 1, k] + m[i + 1, k]) / 2)
			if (m[i, 4] <= 1.3 * (m[i - 1, 4] + m[i + 1, 4]) / 2) met++
		}
		printf "%d slices of %s each side (service / mean of the ceiling slices either side), medians:\n", n, slice
		printf "  req/s %.2fx   p50 %.2fx   p99 %.2fx   p99.9 %.2fx\n", median(2, n), median(3, n), median(4, n), median(5, n)
		printf "target: p99 at %d connections <= 1.3x the ceiling p99: median %.2fx, met in %d of %d slices\n", conns, median(4, n), met, n
	}
	function median(k, n,    a, i, j, t) {
		for (i = 1; i <= n; i++) a[i] = r[k, i]
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}' "$work/slices"
