//go:build e2e

package integrations

// The Kubernetes examples (ingress-nginx, Traefik's CRDs, Istio) need a
// cluster, so no test runs them. This one keeps them in step with the
// configs the scenarios do run: every route of traefik/dynamic.yml with
// the same rule and no other, the same denial headers, /_auth/ straight
// to the service.

import (
	"maps"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
)

// unchecked is the rule of a route sent straight to the service, with no
// auth check: /_auth/, Clerk's handshake callback and webhooks.
const unchecked = "(no auth)"

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

// traefikRoutes maps each path prefix of Traefik routes to its rule: the
// query of its forwardAuth middleware's address (found by address), or
// unchecked for a route without one.
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
			out[path] = unchecked
		case 1:
			name, ok := mws[0].(string)
			if !ok {
				name, _ = dig(mws[0], "name").(string)
			}
			out[path] = authQuery(t, address(name), "/forward-auth")
		default:
			t.Errorf("route %q has %d middlewares, want one", rule, len(mws))
		}
	}
	return out
}

// authQuery is the rule an auth URL carries, its query ("" for none), after
// checking that it asks the service's endpoint.
func authQuery(t *testing.T, authURL, endpoint string) string {
	t.Helper()
	base, query, _ := strings.Cut(authURL, "?")
	if !strings.HasSuffix(base, endpoint) {
		t.Errorf("auth URL %q does not ask %s", authURL, endpoint)
	}
	return query
}

// testedRoutes are the routes of traefik/dynamic.yml, which the scenarios
// run (as they run the NGINX and Caddy configs, with the same rules), path
// prefix to rule.
func testedRoutes(t *testing.T) map[string]string {
	t.Helper()
	dynamic := yamlDocs(t, "traefik/dynamic.yml")[0]
	var routers []any
	for _, r := range dig(dynamic, "http", "routers").(map[string]any) {
		routers = append(routers, r)
	}
	return traefikRoutes(t, routers, func(name string) string {
		s, _ := dig(dynamic, "http", "middlewares", name, "forwardAuth", "address").(string)
		return s
	})
}

// parseRule reads a rule written as an auth URL's query.
func parseRule(t *testing.T, query string) *authz.Rule {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatalf("rule %q: %v", query, err)
	}
	r, err := authz.ParseRuleQuery(q)
	if err != nil {
		t.Fatalf("rule %q: %v", query, err)
	}
	if r == nil {
		return &authz.Rule{} // no rule: signed in
	}
	return r
}

// sameRule reports whether two rules, each unchecked or an auth URL's
// query, ask the same of a request: the order of the query's keys does
// not matter.
func sameRule(t *testing.T, a, b string) bool {
	t.Helper()
	if a == unchecked || b == unchecked {
		return a == b
	}
	return reflect.DeepEqual(parseRule(t, a), parseRule(t, b))
}

// wantRoutes fails for every route of want that got lacks or gives
// another rule, and for every route of got that want does not have.
func wantRoutes(t *testing.T, want, got map[string]string) {
	t.Helper()
	for _, path := range slices.Sorted(maps.Keys(want)) {
		rule, ok := got[path]
		switch {
		case !ok:
			t.Errorf("no route for %s, want rule %q", path, want[path])
		case !sameRule(t, rule, want[path]):
			t.Errorf("%s: rule %q, want %q", path, rule, want[path])
		}
	}
	for _, path := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[path]; !ok {
			t.Errorf("%s (rule %q) is not a route of the tested configs", path, got[path])
		}
	}
}

// reRuleLine is a line of the Istio examples' table of rules:
// "#   /billing/  reverification=strict".
var reRuleLine = regexp.MustCompile(`(?m)^#\s+(/\S*/)\s+(\S+)$`)

func TestKubernetesExamplesMatchTheTestedConfigs(t *testing.T) {
	tested := testedRoutes(t)

	t.Run("ingress-nginx", func(t *testing.T) {
		got := map[string]string{}
		backend := map[string]string{}
		for _, doc := range yamlDocs(t, "nginx/ingress-nginx.yaml") {
			if doc["kind"] != "Ingress" {
				continue
			}
			authURL, hasAuth := dig(doc, "metadata", "annotations", "nginx.ingress.kubernetes.io/auth-url").(string)
			for _, rule := range dig(doc, "spec", "rules").([]any) {
				for _, p := range dig(rule, "http", "paths").([]any) {
					path, _ := dig(p, "path").(string)
					got[path] = unchecked
					if hasAuth {
						got[path] = authQuery(t, authURL, "/auth-request")
					}
					backend[path], _ = dig(p, "backend", "service", "name").(string)
				}
			}
		}
		wantRoutes(t, tested, got)
		if backend["/_auth/"] != "clerk-forward-auth" {
			t.Errorf("/_auth/ goes to %q, want the service", backend["/_auth/"])
		}
	})

	t.Run("traefik", func(t *testing.T) {
		want, _ := dig(yamlDocs(t, "traefik/dynamic.yml")[0], "http", "middlewares", "clerk-auth", "forwardAuth").(map[string]any)
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
		wantRoutes(t, tested, traefikRoutes(t, routes, func(name string) string { return middlewares[name] }))
	})

	// Istio cannot carry a rule per route: both examples name the tested
	// rules in a comment and say that policy.yaml holds them.
	withRule := maps.Clone(tested)
	maps.DeleteFunc(withRule, func(_, rule string) bool { return rule == "" || rule == unchecked })
	for _, ex := range []struct{ name, rel string }{
		{"istio HTTP", "envoy/istio.yaml"},
		{"istio gRPC", "istio/grpc-ext-authz.yaml"},
	} {
		t.Run(ex.name, func(t *testing.T) {
			got := map[string]string{}
			for _, m := range reRuleLine.FindAllStringSubmatch(readConfig(t, ex.rel), -1) {
				got[m[1]] = m[2]
			}
			wantRoutes(t, withRule, got)

			// /_auth/ goes to the service's HTTP port, unchecked.
			var notPaths, prefix, host, port any
			for _, doc := range yamlDocs(t, ex.rel) {
				switch doc["kind"] {
				case "AuthorizationPolicy":
					notPaths = dig(doc, "spec", "rules")
				case "VirtualService":
					routes, _ := dig(doc, "spec", "http").([]any)
					if len(routes) == 0 {
						continue
					}
					if match, _ := dig(routes[0], "match").([]any); len(match) == 1 {
						prefix = dig(match[0], "uri", "prefix")
					}
					if dest, _ := dig(routes[0], "route").([]any); len(dest) == 1 {
						host, port = dig(dest[0], "destination", "host"), dig(dest[0], "destination", "port", "number")
					}
				}
			}
			h, _ := host.(string)
			if prefix != "/_auth/" || !strings.HasPrefix(h, "clerk-forward-auth.") || port != 8080 {
				t.Errorf("the VirtualService's first route sends %v to %v:%v, want /_auth/ to clerk-forward-auth's port 8080", prefix, host, port)
			}
			if want := []any{map[string]any{"to": []any{map[string]any{"operation": map[string]any{"notPaths": []any{"/_auth/*"}}}}}}; !reflect.DeepEqual(notPaths, want) {
				t.Errorf("AuthorizationPolicy rules %v, want every path but /_auth/*", notPaths)
			}
		})
	}

	t.Run("policy.yaml", func(t *testing.T) {
		policy, err := authz.LoadPolicyFile(filepath.Join(integrationsDir(t), "envoy/policy.yaml"), authz.PolicyFileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range slices.Sorted(maps.Keys(tested)) {
			if tested[path] == unchecked {
				continue
			}
			got := policy.Match(publicHost, path, "GET")
			if got == nil {
				got = &authz.Rule{} // no rule: signed in
			}
			if want := parseRule(t, tested[path]); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: policy.yaml's rule %+v, want %q", path, got, tested[path])
			}
		}
	})

	t.Run("istio HTTP provider passes every denial header", func(t *testing.T) {
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
