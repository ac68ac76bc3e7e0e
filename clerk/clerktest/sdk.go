package clerktest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
)

// SDKNodePath is the node_modules holding Clerk's real SDK
// (@clerk/backend, installed by scripts/sdk-oracle.sh) for the
// differential tests, from CLERK_SDK_NODE_PATH. Without it the test is
// skipped, except under CI=true, where it fails: CI must run them.
func SDKNodePath(t testing.TB) string {
	t.Helper()
	path := os.Getenv("CLERK_SDK_NODE_PATH")
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CLERK_SDK_NODE_PATH is not set: run scripts/sdk-oracle.sh")
		}
		t.Skip("CLERK_SDK_NODE_PATH not set (scripts/sdk-oracle.sh installs @clerk/backend)")
	}
	return path
}

// RunNode runs node with args (a script file and its arguments, or -e and
// a script) with NODE_PATH=nodePath, in as JSON on its standard input, and
// decodes what it writes into out: how the differential tests ask Clerk's
// SDK and the platform it runs on.
func RunNode(t testing.TB, nodePath string, in, out any, args ...string) {
	t.Helper()
	input, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", args...) //nolint:gosec // the differential tests' own node scripts
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("node output %q: %v", stdout, err)
	}
}
