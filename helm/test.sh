#!/usr/bin/env bash
# Chart tests, no cluster needed: helm/charttest renders helm/clerk-forward-auth with Helm's
# own packages, lints it, validates values against values.schema.json as `helm install`
# does, and decodes every manifest strictly into its Kubernetes API type.
# It is a separate Go module, so Helm never enters the service's dependency graph.
# Extra arguments go to `go test` (e.g. -v, -run TestPolicy).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
go -C "$here/charttest" vet ./...
go -C "$here/charttest" test "$@" ./...
