#!/usr/bin/env bash
# Runs every test of the project: formatting and vet, the unit tests, the
# Helm chart tests, short fuzz runs, a smoke run of the load benchmark, and
# the end-to-end tests against the real NGINX, Caddy and Traefik binaries
# (installed or built when missing).
#
#   scripts/test.sh            everything
#   SKIP_E2E=1 scripts/test.sh everything but the proxy end-to-end tests
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './helm/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...

step "installing @clerk/backend for the differential test"
CLERK_SDK_NODE_PATH=$(bash scripts/sdk-oracle.sh)
export CLERK_SDK_NODE_PATH

step "unit tests (with the differential test against @clerk/backend)"
go test -count=1 ./...

step "race detector on the concurrent parts"
go test -count=1 -race ./clerk/... ./cache/... ./authz/... ./observe/...

if [ -f helm/test.sh ]; then
  step "Helm chart tests"
  bash helm/test.sh
fi

if [ -f scripts/fuzz.sh ]; then
  step "fuzz targets (short, bounded)"
  bash scripts/fuzz.sh "${FUZZ_TIME:-5s}"
fi

step "load benchmark, smoke run (1 s scenarios; checks that it runs, not its numbers)"
# The one-command benchmark (bench/run.sh) is checked here so it cannot
# rot: every scenario row and every target line present, and no request
# answered with a status the scenario does not expect.
bench_out=$(DURATION=1s FLOOD_GARBAGE=5000 FLOOD_VALID=1000 MINT=200 bash bench/run.sh)
echo "$bench_out"
rows=$(grep -c '^| [a-z]' <<<"$bench_out" || true)
targets=$(grep -c '^target: ' <<<"$bench_out" || true)
if [ "$rows" -ne 12 ] || [ "$targets" -ne 6 ] || grep -q 'unexpected:' <<<"$bench_out"; then
  echo "bench/run.sh: expected 12 rows (the header, the ceiling and ten scenarios), 6 target lines and no unexpected statuses; got $rows rows, $targets target lines"
  exit 1
fi

if [ "${SKIP_E2E:-}" != "1" ] && [ -f integrations/run-e2e.sh ]; then
  step "end-to-end tests through real proxies"
  bash integrations/run-e2e.sh
fi

step "all tests passed"
