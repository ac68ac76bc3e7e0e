// Package integrations holds the configuration that users copy to put
// clerk-forward-auth behind NGINX (and ingress-nginx), Traefik, Caddy and
// Envoy (and Istio), and the end-to-end tests that run those very files in the
// real proxy binaries.
//
// The tests carry the build tag e2e and need the proxies installed; run them
// with integrations/run-e2e.sh, which installs what is missing:
//
//	integrations/run-e2e.sh            # or: go test -tags e2e -count=1 ./integrations/...
//
// Every proxy runs one shared scenario table (scenarios_test.go) against a
// freshly built service binary, an in-process fake Clerk and a recording
// upstream, all on 127.0.0.1.
package integrations
