#!/usr/bin/env bash
# Builds the pinned Traefik (see go.mod here) once and caches the binary outside
# the repository, keyed by version. Prints the binary's path on stdout.
#   TRAEFIK_BIN=$(integrations/traefik/build/build.sh)
set -euo pipefail
cd "$(dirname "$0")"
version=$(awk '$1 == "require" && $2 == "github.com/traefik/traefik/v3" {print $3}' go.mod)
[ -n "$version" ] || { echo "build.sh: no traefik version in go.mod" >&2; exit 1; }
cache=${XDG_CACHE_HOME:-$HOME/.cache}/clerk-forward-auth
bin=$cache/traefik-$version
if [ -x "$bin" ] && "$bin" version >/dev/null 2>&1; then
	echo "$bin"
	exit 0
fi
mkdir -p "$cache"
echo "build.sh: building traefik $version into $bin (takes several minutes on 2 cores)" >&2
start=$(date +%s)
nice -n 10 go build -trimpath \
	-ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$version" \
	-o "$bin.tmp" github.com/traefik/traefik/v3/cmd/traefik >&2
mv "$bin.tmp" "$bin"
echo "build.sh: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
