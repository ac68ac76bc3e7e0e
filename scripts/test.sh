#!/usr/bin/env bash
# Runs every test of the project: formatting, vet and golangci-lint, the
# unit tests under the race detector (with a real redis-server, installed
# from Debian when missing), the Helm chart tests, short fuzz
# runs, smoke runs of the load benchmark and of the profile recorder
# (bench/pgo.sh), and the end-to-end tests against
# the real NGINX, Caddy and Traefik binaries (installed or built when
# missing).
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
# pprof.go is built only with -tags pprof (bench/pgo.sh's profiling build).
go vet -tags pprof .

step "golangci-lint (.golangci.yml)"
# Installed from the Go module proxy into a cache outside the repository,
# keyed by version, so a clean clone does not rebuild it each run.
lint_version=v2.15.0
lint_cache=${XDG_CACHE_HOME:-$HOME/.cache}/clerk-forward-auth
lint_bin=$lint_cache/golangci-lint-$lint_version
if ! [ -x "$lint_bin" ]; then
  echo "installing golangci-lint $lint_version into $lint_bin (takes minutes on 2 cores)"
  mkdir -p "$lint_cache"
  lint_gobin=$(mktemp -d)
  GOBIN=$lint_gobin go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$lint_version"
  mv "$lint_gobin/golangci-lint" "$lint_bin"
  rmdir "$lint_gobin"
fi
# With the e2e tag every file is linted, the end-to-end tests included; an
# untagged run adds something only if a file is built without that tag.
"$lint_bin" run --build-tags e2e ./...
if git grep -q '^//go:build.*!e2e' -- '*.go' 2>/dev/null; then
  "$lint_bin" run ./...
fi
"$lint_bin" run --build-tags pprof .
# The chart tests are a module of their own (helm/test.sh says why).
(cd helm/charttest && "$lint_bin" run --config ../../.golangci.yml ./...)

step "redis-server for the shared-state tests"
# Debian's package; the tests start their own instances on loopback (the
# service the package may start is not used).
if ! command -v redis-server >/dev/null 2>&1 && [ "${SKIP_INSTALL:-}" != 1 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends redis-server >&2
fi
redis-server --version

step "installing @clerk/backend for the differential test"
CLERK_SDK_NODE_PATH=$(bash scripts/sdk-oracle.sh)
export CLERK_SDK_NODE_PATH

step "unit tests under the race detector (with the differential test against @clerk/backend)"
# One run: -race runs every test a plain run does, so a second plain run
# would only repeat them.
go test -count=1 -race ./...

if [ -f helm/test.sh ]; then
  step "Helm chart tests (race detector on)"
  bash helm/test.sh -race
fi

if [ -f scripts/fuzz.sh ]; then
  step "fuzz targets (short, bounded)"
  bash scripts/fuzz.sh "${FUZZ_TIME:-5s}"
fi

step "load benchmark, smoke run (1 s scenarios; checks that it runs, not its numbers)"
# The one-command benchmark (bench/run.sh) is checked here so it cannot
# rot: every scenario row and every target line present, and no request
# answered with a status the scenario does not expect.
bench_out=$(DURATION=1s FLOOD_GARBAGE=5000 FLOOD_VALID=1000 MINT=200 APIKEYS=2000 bash bench/run.sh)
echo "$bench_out"
rows=$(grep -c '^| [A-Za-z]' <<<"$bench_out" || true)
targets=$(grep -c '^target: ' <<<"$bench_out" || true)
if [ "$rows" -ne 15 ] || [ "$targets" -ne 8 ] || grep -q 'unexpected:' <<<"$bench_out"; then
  echo "bench/run.sh: expected 15 rows (the header, the ceiling and thirteen scenarios), 8 target lines and no unexpected statuses; got $rows rows, $targets target lines"
  exit 1
fi
# The p99 line's slice judge (bench/slices.sh), two short slices each
# side: it ends with an error on any unexpected status.
slices_out=$(SLICES=2 SLICE=300ms bash bench/slices.sh)
echo "$slices_out"
if ! grep -q '^target: p99 at 32 connections <= 1.3x the ceiling p99: median [0-9.]*x, met in [0-2] of 2 slices$' <<<"$slices_out"; then
  echo "bench/slices.sh: no target line for 2 slices"
  exit 1
fi
# The recorder of default.pgo (bench/pgo.sh), each scenario briefly, into
# a scratch file: the profiling build and its scenarios must keep working.
pgo_scratch=$(mktemp)
SMOKE=1 OUT="$pgo_scratch" bash bench/pgo.sh
rm -f "$pgo_scratch"

if [ "${SKIP_E2E:-}" != "1" ] && [ -f integrations/run-e2e.sh ]; then
  step "end-to-end tests through real proxies"
  bash integrations/run-e2e.sh
fi

step "all tests passed"
