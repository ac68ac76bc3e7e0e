# Sourced by run.sh, slices.sh and pgo.sh, after they set root (the repository):
# a work directory removed at exit with every process listed in pids, the
# CPU each side runs on, the service and the helpers built into it, and
# start_fake_clerk. BUILD_TAGS, when set before, are the service build's
# tags (bench/pgo.sh's profiling build).
work=$(mktemp -d "/tmp/cfa-$(basename "$0" .sh).XXXXXX")
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# Server on CPU 0, load generator on CPU 1, when there are two CPUs and
# taskset: each side then has one core (GOMAXPROCS follows the affinity).
server_cpu=() load_cpu=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	server_cpu=(taskset -c 0) load_cpu=(taskset -c 1)
fi

echo "building…" >&2
(cd "$root" && go build -tags "${BUILD_TAGS:-}" -o "$work/clerk-forward-auth" . &&
	go build -o "$work/" ./bench/cmd/fakeclerk ./bench/cmd/bare ./bench/cmd/load)

# start_fake_clerk TOKENS APIKEYS: the fake Clerk with that many session
# tokens and API keys minted, its CLERK_* and BENCH_* variables exported.
start_fake_clerk() {
	"$work/fakeclerk" -out "$work" -tokens "$1" -apikeys "$2" &
	pids+=($!)
	for _ in $(seq 300); do [ -e "$work/ready" ] && break; sleep 0.2; done
	[ -e "$work/ready" ] || { echo "fakeclerk did not start" >&2; exit 1; }
	set -a
	# shellcheck disable=SC1091
	. "$work/env"
	set +a
}
