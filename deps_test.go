package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryLeavesOutTheEnvoyAPI: the binary does not link the Envoy API
// or what it brings. Their protobuf descriptors, built at start, were
// about 30% of what every garbage collection cycle marks (bench/README.md,
// "The p99 line, third pass"); Envoy's gRPC messages are read and written
// by handlers/extauthzwire.go instead. Tests may still use them.
func TestBinaryLeavesOutTheEnvoyAPI(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the dependencies")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for pkg := range strings.FieldsSeq(string(out)) {
		for _, banned := range []string{"github.com/envoyproxy/go-control-plane", "github.com/cncf/xds", "github.com/envoyproxy/protoc-gen-validate"} {
			if pkg == banned || strings.HasPrefix(pkg, banned+"/") {
				t.Errorf("the binary links %s", pkg)
			}
		}
	}
}

// TestBinaryLeavesOutThePrometheusClient: the binary does not link
// client_golang or the Prometheus libraries it brings (client_model,
// common, procfs). Their registry, descriptors and protobuf model were
// part of what every garbage collection cycle marks; observe writes the
// text format itself instead. Tests may still use them, to parse and lint
// what it writes.
func TestBinaryLeavesOutThePrometheusClient(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the dependencies")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	const banned = "github.com/prometheus/"
	for pkg := range strings.FieldsSeq(string(out)) {
		if strings.HasPrefix(pkg, banned) {
			t.Errorf("the binary links %s", pkg)
		}
	}
}
