#!/usr/bin/env bash
# Records default.pgo, the CPU profile Go's compiler optimizes the service
# with (profile-guided optimization: `go build` of the main package reads
# default.pgo beside main.go). The profile is the running service's under
# a mix of bench/run.sh's scenarios, weighted towards the hot one (a
# repeated valid token), each bounded in time. The service is built with
# -tags pprof (pprof.go), which release builds never are.
#
#   bench/pgo.sh                              # ~1 minute; rewrites default.pgo
#   SMOKE=1 OUT=/tmp/x.pgo bench/pgo.sh       # every step, briefly (scripts/test.sh)
#
# Run it again when the request path changes much; an outdated profile
# still builds, it only optimizes less. See bench/README.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
BUILD_TAGS=pprof
# shellcheck source=bench/setup.sh
. "$root/bench/setup.sh"
mint=8000
[ "${SMOKE:-}" = 1 ] && mint=200
start_fake_clerk "$mint" 200

pprof_addr=127.0.0.1:18069
PPROF_ADDR=$pprof_addr LISTEN_ADDR=$BENCH_SERVICE_ADDR "${server_cpu[@]}" "$work/clerk-forward-auth" 2>/dev/null &
pids+=($!)
"$work/load" -wait "http://$BENCH_SERVICE_ADDR/readyz"

# load EXPECT PATH ARGS…: one scenario, its unexpected statuses an error.
load() {
	local expect=$1 path=$2
	shift 2
	"${load_cpu[@]}" "$work/load" -url "http://$BENCH_SERVICE_ADDR$path" -c 32 -expect "$expect" -token-file "$work/tokens.txt" "$@" |
		awk '{ print > "/dev/stderr" } / unexpected=[1-9]| errors=[1-9]/ { bad = 1 } END { exit bad }'
}
OUT=${OUT:-$root/default.pgo}
# d SECONDS: a scenario's duration (0.3 s each in a smoke run).
d() { if [ "${SMOKE:-}" = 1 ]; then echo 300ms; else echo "$1s"; fi; }
seconds=40
[ "${SMOKE:-}" = 1 ] && seconds=4
go tool pprof -proto -seconds "$seconds" -output "$work/cpu.pprof" "http://$pprof_addr/debug/pprof/profile" 2>/dev/null &
profile=$!
sleep 0.5
fa=/forward-auth
cookie=(-mode cookie -suffix "$BENCH_COOKIE_SUFFIX" -client-uat "$BENCH_CLIENT_UAT")
load 200 $fa -tokens repeat -d "$(d 14)"
load 200 $fa -tokens repeat "${cookie[@]}" -d "$(d 4)"
load 200 "$fa?org=acme&role=org:admin" -tokens repeat -d "$(d 4)"
load 200 "$fa?org=beta&role=org:member" -tokens repeat -d "$(d 4)"
load 200 $fa -tokens unique -n "$mint" -d "$(d 3)"
load 200 "$fa?token=api_key" -tokens repeat -token-file "$work/apikeys.txt" -d "$(d 3)"
load 401 $fa -tokens garbage -d "$(d 4)"
load 401 $fa -tokens badsig -d "$(d 3)"
wait "$profile"
# A profile go build cannot read would fail every build: check it first.
go tool pprof -top "$work/cpu.pprof" >/dev/null
cp "$work/cpu.pprof" "$OUT"
echo "wrote $OUT ($(wc -c <"$OUT") bytes)" >&2
