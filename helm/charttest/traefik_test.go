package charttest

import (
	"crypto/sha1" //nolint:gosec // Clerk's cookie suffix is defined on SHA-1; not a security use
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// clerkCookieSuffix is Clerk's cookie suffix of a publishable key: the
// first 8 characters of the URL-safe base64 of its SHA-1 (the service's
// clerk.CookieSuffix, which this module does not import).
func clerkCookieSuffix(publishableKey string) string {
	sum := sha1.Sum([]byte(publishableKey)) //nolint:gosec // see the import
	return base64.URLEncoding.EncodeToString(sum[:])[:8]
}

// The chart's Middleware does what the tested example (integrations/traefik)
// does: the same forwardAuth options but the address, so a client's
// X_Auth_User_Id look-alike or X-Auth-User-Email never reaches the app, and
// Clerk's refreshed cookies reach the browser.
func TestTraefikMiddlewareHasTheTestedExamplesOptions(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "integrations", "traefik", "kubernetes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var example map[string]any
	first, _, _ := strings.Cut(string(raw), "\n---\n") // the Middleware clerk-auth
	if err := yaml.Unmarshal([]byte(first), &example); err != nil {
		t.Fatal(err)
	}
	want, _, _ := unstructured.NestedMap(example, "spec", "forwardAuth")
	delete(want, "address")
	suffix := clerkCookieSuffix(testPublishableKey)
	want["addAuthCookiesToResponse"] = []any{"__session", "__session_" + suffix}
	mw := onlyCustom(t, mustRender(t, baseValues, "traefik: {middleware: {enabled: true}}"), "Middleware")
	got, _, _ := unstructured.NestedMap(mw.Object, "spec", "forwardAuth")
	delete(got, "address")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("chart's forwardAuth:\n%v\nthe tested example's (its <suffix> this key's %s):\n%v", got, suffix, want)
	}
}

func TestTraefikMiddlewareCookieSuffix(t *testing.T) {
	for _, tc := range []struct{ name, values, want string }{
		{"derived from the publishable key", "", clerkCookieSuffix(testPublishableKey)},
		{"derived from another key", "clerk: {publishableKey: pk_live_Y2xlcmsuYWNtZS5leGFtcGxlLmNvbSQ}", clerkCookieSuffix("pk_live_Y2xlcmsuYWNtZS5leGFtcGxlLmNvbSQ")},
		{"given", "traefik: {middleware: {cookieSuffix: AbC-_123}}", "AbC-_123"},
		{"the key in a Secret", "existingSecret: clerk-keys\nclerk: {publishableKey: \"\", secretKey: \"\"}", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mw := onlyCustom(t, mustRender(t, baseValues, "traefik: {middleware: {enabled: true}}", tc.values), "Middleware")
			cookies, _, _ := unstructured.NestedStringSlice(mw.Object, "spec", "forwardAuth", "addAuthCookiesToResponse")
			want := []string{"__session"}
			if tc.want != "" {
				want = append(want, "__session_"+tc.want)
			}
			if !reflect.DeepEqual(cookies, want) {
				t.Fatalf("addAuthCookiesToResponse = %v, want %v", cookies, want)
			}
		})
	}
}
