//go:build e2e

package integrations

// The Kubernetes examples (ingress-nginx, Traefik's CRDs, Istio) need a
// cluster, so no test runs them. This one keeps them in step with the
// configs the scenarios do run: the same rules on the same routes, the
// same denial headers, /_auth/ straight to the service.

import (
	"maps"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// kubernetesRoutes are the routes of the tested configs that every
// Kubernetes example carries, with their rule (the auth URL's query).
var kubernetesRoutes = map[string]string{
	"/billing/": "reverification=strict",
	"/export/":  "feature=export&plan=o:team",
	"/jobs/":    "token=api_key,m2m_token",
}

// yamlDocs decodes every document of a file under integrations/.
func yamlDocs(t *testing.T, rel string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, doc := range strings.Split(readConfig(t, rel), "\n---\n") {
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		out = append(out, m)
	}
	return out
}

// dig walks nested maps along keys; nil when a key is missing.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

var rePathPrefix = regexp.MustCompile("PathPrefix\\(`([^`]+)`\\)")

// traefikRoutes maps each path prefix of Traefik routes to the address of
// its forwardAuth middleware ("" for a route without one).
func traefikRoutes(t *testing.T, routes []any, address func(name string) string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range routes {
		rule, _ := dig(r, "rule").(string)
		if rule == "" {
			rule, _ = dig(r, "match").(string)
		}
		path := "/"
		if m := rePathPrefix.FindStringSubmatch(rule); m != nil {
			path = m[1]
		}
		mws, _ := dig(r, "middlewares").([]any)
		switch len(mws) {
		case 0:
			out[path] = ""
		case 1:
			name, ok := mws[0].(string)
			if !ok {
				name, _ = dig(mws[0], "name").(string)
			}
			out[path] = address(name)
		default:
			t.Errorf("route %q has %d middlewares, want one", rule, len(mws))
		}
	}
	return out
}

func TestKubernetesExamplesMatchTheTestedConfigs(t *testing.T) {
	dynamic := yamlDocs(t, "traefik/dynamic.yml")[0]
	testedMiddleware := func(name string) string {
		s, _ := dig(dynamic, "http", "middlewares", name, "forwardAuth", "address").(string)
		return s
	}
	var testedRouters []any
	for _, r := range dig(dynamic, "http", "routers").(map[string]any) {
		testedRouters = append(testedRouters, r)
	}
	tested := traefikRoutes(t, testedRouters, testedMiddleware)
	for path, rule := range kubernetesRoutes {
		if !strings.HasSuffix(tested[path], "/forward-auth?"+rule) {
			t.Fatalf("traefik/dynamic.yml routes %s through %q, not ?%s: update kubernetesRoutes", path, tested[path], rule)
		}
	}

	t.Run("ingress-nginx", func(t *testing.T) {
		authURL := map[string]string{} // path -> auth-url; "" = routed without auth
		backend := map[string]string{}
		for _, doc := range yamlDocs(t, "nginx/ingress-nginx.yaml") {
			if doc["kind"] != "Ingress" {
				continue
			}
			url, _ := dig(doc, "metadata", "annotations", "nginx.ingress.kubernetes.io/auth-url").(string)
			for _, rule := range dig(doc, "spec", "rules").([]any) {
				for _, p := range dig(rule, "http", "paths").([]any) {
					path, _ := dig(p, "path").(string)
					authURL[path] = url
					backend[path], _ = dig(p, "backend", "service", "name").(string)
				}
			}
		}
		for path, rule := range kubernetesRoutes {
			if !strings.HasSuffix(authURL[path], "/auth-request?"+rule) {
				t.Errorf("%s: auth-url %q, want .../auth-request?%s", path, authURL[path], rule)
			}
		}
		if authURL["/_auth/"] != "" || backend["/_auth/"] != "clerk-forward-auth" {
			t.Errorf("/_auth/ goes to %q with auth-url %q, want the service without auth", backend["/_auth/"], authURL["/_auth/"])
		}
	})

	t.Run("traefik", func(t *testing.T) {
		want, _ := dig(dynamic, "http", "middlewares", "clerk-auth", "forwardAuth").(map[string]any)
		want = maps.Clone(want)
		delete(want, "address")
		middlewares := map[string]string{}
		var routes []any
		for _, doc := range yamlDocs(t, "traefik/kubernetes.yaml") {
			name, _ := dig(doc, "metadata", "name").(string)
			switch doc["kind"] {
			case "Middleware":
				fa, _ := dig(doc, "spec", "forwardAuth").(map[string]any)
				middlewares[name], _ = fa["address"].(string)
				fa = maps.Clone(fa)
				delete(fa, "address")
				if !reflect.DeepEqual(fa, want) {
					t.Errorf("Middleware %s: forwardAuth %v\nwant dynamic.yml's %v (besides the address)", name, fa, want)
				}
			case "IngressRoute":
				routes, _ = dig(doc, "spec", "routes").([]any)
			}
		}
		got := traefikRoutes(t, routes, func(name string) string { return middlewares[name] })
		for path, rule := range kubernetesRoutes {
			if !strings.HasSuffix(got[path], "/forward-auth?"+rule) {
				t.Errorf("%s: forwardAuth address %q, want .../forward-auth?%s", path, got[path], rule)
			}
		}
		if a, ok := got["/_auth/"]; !ok || a != "" {
			t.Errorf("/_auth/ must be routed without a middleware (got %q, routed %v)", a, ok)
		}
	})

	t.Run("istio HTTP provider", func(t *testing.T) {
		cfg := parseEnvoyConfig(t, readConfig(t, "envoy/envoy.yaml"))
		docs := yamlDocs(t, "envoy/istio.yaml")
		providers, _ := dig(docs[0], "spec", "meshConfig", "extensionProviders").([]any)
		if len(providers) != 1 {
			t.Fatalf("%d extension providers, want 1", len(providers))
		}
		onDeny := map[string]bool{}
		list, _ := dig(providers[0], "envoyExtAuthzHttp", "headersToDownstreamOnDeny").([]any)
		for _, h := range list {
			s, _ := h.(string)
			onDeny[strings.ToLower(s)] = true
		}
		for _, m := range cfg.allowedClient {
			if m.exact == "" || !onDeny[strings.ToLower(m.exact)] {
				t.Errorf("envoy.yaml passes %+v on a denial, headersToDownstreamOnDeny does not", m)
			}
		}
	})
}
