package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryLeavesOutLibrariesTheCollectorWouldMark: the binary does not
// link these libraries or what they bring. Their package-level data (mostly
// protobuf descriptors and registries built at start) is marked by every
// garbage collection cycle, and the cycles' length is what kept the p99
// latency over its target (bench/README.md, "The p99 line, third pass" and
// "sixth pass"). Our own code does their part instead; tests may still use
// them as independent references (a client, a decoder, a parser).
func TestBinaryLeavesOutLibrariesTheCollectorWouldMark(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the dependencies")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	linked := strings.Fields(string(out))
	for _, tc := range []struct {
		library, replacedBy string
		prefixes            []string
	}{
		{"the Envoy API", "handlers/extauthzwire.go", []string{"github.com/envoyproxy/go-control-plane", "github.com/cncf/xds", "github.com/envoyproxy/protoc-gen-validate"}},
		{"the OTLP exporters and messages", "observe/otlp.go", []string{"go.opentelemetry.io/otel/exporters", "go.opentelemetry.io/proto/otlp", "github.com/grpc-ecosystem"}},
		{"the Prometheus client", "observe/exposition.go, runtimemetrics.go and process_linux.go", []string{"github.com/prometheus"}},
	} {
		for _, pkg := range linked {
			for _, p := range tc.prefixes {
				if pkg == p || strings.HasPrefix(pkg, p+"/") {
					t.Errorf("the binary links %s (%s; %s replaces it)", pkg, tc.library, tc.replacedBy)
				}
			}
		}
	}
}
