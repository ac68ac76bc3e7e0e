#!/usr/bin/env bash
# End-to-end tests of the integrations: the real NGINX, Traefik and Caddy
# binaries (and an Envoy ext_authz emulator) in front of a freshly built
# clerk-forward-auth. Installs what is missing, then runs
#   go test -tags e2e -count=1 ./integrations/...
# Extra arguments go to go test (e.g. -run TestNGINX -v).
#
# Environment:
#   NGINX_BIN, CADDY_BIN, TRAEFIK_BIN  use these binaries instead
#   CI=true                            a missing proxy fails instead of skipping
#   SKIP_INSTALL=1                     do not apt-get or build anything
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

if [ "${SKIP_INSTALL:-}" != 1 ]; then
	missing=()
	if [ -z "${NGINX_BIN:-}" ] && ! have nginx; then missing+=(nginx-light); fi
	if [ -z "${CADDY_BIN:-}" ] && ! have caddy; then missing+=(caddy); fi
	if [ ${#missing[@]} -gt 0 ]; then
		echo "run-e2e: installing ${missing[*]}" >&2
		sudo=""
		[ "$(id -u)" -eq 0 ] || sudo="sudo"
		$sudo apt-get update -qq
		# policy-rc.d may forbid starting the services: fine, the tests run
		# their own instances.
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
	fi
	if [ -z "${TRAEFIK_BIN:-}" ]; then
		TRAEFIK_BIN=$("$here/traefik/build/build.sh")
		export TRAEFIK_BIN
	fi
fi

# The proxies' own copies of nginx/caddy may not be on PATH for non-root.
export PATH="$PATH:/usr/sbin:/usr/local/sbin"

cd "$root"
start=$(date +%s)
set +e
go test -tags e2e -count=1 "$@" ./integrations/...
rc=$?
set -e
echo "run-e2e: go test finished in $(( $(date +%s) - start ))s (exit $rc)" >&2
exit $rc
