#!/usr/bin/env bash
# Installs the pinned @clerk/backend (authz/testdata/sdk/package.json) into a
# cache outside the repo and prints the node_modules path, for the
# differential test authz/sdk_diff_test.go:
#   CLERK_SDK_NODE_PATH=$(scripts/sdk-oracle.sh) go test -run SDK ./authz/
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pkg="$root/authz/testdata/sdk/package.json"
version=$(sed -n 's/.*"@clerk\/backend": "\(.*\)".*/\1/p' "$pkg")
dir="${XDG_CACHE_HOME:-$HOME/.cache}/clerk-forward-auth/sdk-oracle-$version"
if [ ! -f "$dir/node_modules/@clerk/backend/package.json" ]; then
  command -v npm >/dev/null || { echo "sdk-oracle: npm is required" >&2; exit 1; }
  mkdir -p "$dir"
  cp "$pkg" "$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error >&2)
fi
echo "$dir/node_modules"
