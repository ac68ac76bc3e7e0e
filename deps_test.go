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

// TestHandlersLeaveOutGRPC: the handlers package serves gRPC with net/http
// (handlers/grpctransport.go) instead of linking grpc-go, whose
// package-level state every garbage collection cycle marks. Tests may
// still use grpc-go as the reference client and server.
//
// The OTLP trace exporter, which observe links, still brings grpc-go with
// it; the packages only it brings are exempt until it goes. Every other
// package the handlers reach, the handlers included, must import no
// grpc-go package.
func TestHandlersLeaveOutGRPC(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the dependencies")
	}
	list := func(args ...string) map[string][]string {
		t.Helper()
		out, err := exec.Command(gobin, append([]string{"list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %v: %v\n%s", args, err, out)
		}
		imports := map[string][]string{}
		for line := range strings.Lines(string(out)) {
			if f := strings.Fields(line); len(f) > 0 {
				imports[f[0]] = f[1:]
			}
		}
		return imports
	}
	isGRPC := func(pkg string) bool {
		return pkg == "google.golang.org/grpc" || strings.HasPrefix(pkg, "google.golang.org/grpc/")
	}
	deps := list("./handlers")
	const exporter = "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	exempt := map[string][]string{}
	if _, ok := deps[exporter]; ok {
		exempt = list(exporter)
	}
	for pkg, imports := range deps {
		if _, ok := exempt[pkg]; ok || isGRPC(pkg) {
			continue
		}
		for _, imp := range imports {
			if isGRPC(imp) {
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
	}
	if len(exempt) == 0 {
		for pkg := range deps {
			if isGRPC(pkg) {
				t.Errorf("the handlers link %s", pkg)
			}
		}
	}
}
