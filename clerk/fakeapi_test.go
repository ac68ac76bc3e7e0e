package clerk_test

import (
	"testing"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// newFakeAPI starts a fake production instance (closed when the test ends)
// and a Backend API client for it.
func newFakeAPI(t *testing.T) (*clerktest.Server, *clerk.API) {
	t.Helper()
	return newFakeAPIWith(t, clerktest.Options{Production: true})
}

// newFakeAPIWith is newFakeAPI for a fake configured by o.
func newFakeAPIWith(t *testing.T, o clerktest.Options) (*clerktest.Server, *clerk.API) {
	t.Helper()
	fake := clerktest.Start(t, o)
	api, err := clerk.NewAPI(fake.URL, "v1", fake.SecretKey, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return fake, api
}
