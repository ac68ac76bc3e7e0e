#!/usr/bin/env bash
# Runs every test of the project: formatting and vet, the unit tests, the
# Helm chart tests, short fuzz runs, and the end-to-end tests against the
# real NGINX, Caddy and Traefik binaries (installed or built when missing).
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

if [ "${SKIP_E2E:-}" != "1" ] && [ -f integrations/run-e2e.sh ]; then
  step "end-to-end tests through real proxies"
  bash integrations/run-e2e.sh
fi

step "all tests passed"
