#!/usr/bin/env bash
# Runs every Go fuzz target in the fuzzed packages, one after another, for
# a bounded time each (default 10s; CI passes a short one, e.g. 5s).
# Sequential on purpose: the fuzzer uses every core it is given, and the
# targets share the build cache. A failing input is written to the
# package's testdata/fuzz/<FuzzName>/; the script goes on with the
# other targets and exits 1.
#
#   scripts/fuzz.sh            # 10s per target
#   scripts/fuzz.sh 10m        # a longer local run
#   FUZZ_PARALLEL=2 scripts/fuzz.sh 30s
set -euo pipefail

fuzztime="${1:-10s}"
parallel="${FUZZ_PARALLEL:-2}"
cd "$(dirname "$0")/.."

packages=(./clerk/ ./authz/ ./handlers/)
failed=0
for pkg in "${packages[@]}"; do
	# Seed corpora (testdata/fuzz) also run as plain tests in `go test`.
	targets=$(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
	for target in $targets; do
		echo "=== fuzz $pkg $target ($fuzztime)"
		if ! go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel "$parallel"; then
			echo "--- FAIL $pkg $target: see $pkg/testdata/fuzz/$target/" >&2
			failed=1
		fi
	done
done
exit "$failed"
