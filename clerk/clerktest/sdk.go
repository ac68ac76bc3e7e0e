package clerktest

import (
	"os"
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
