package envoygrpc

import (
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"gopkg.in/yaml.v3"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/handlers"
)

// yamlToJSON reads a YAML document as JSON, for protojson.
func yamlToJSON(t *testing.T, doc []byte) []byte {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

type validator interface{ ValidateAll() error }

func unpack[T proto.Message](t *testing.T, a *anypb.Any, m T) T {
	t.Helper()
	if err := a.UnmarshalTo(m); err != nil {
		t.Fatalf("%s: %v", a.GetTypeUrl(), err)
	}
	if v, ok := any(m).(validator); ok {
		if err := v.ValidateAll(); err != nil {
			t.Fatalf("%s: %v", a.GetTypeUrl(), err)
		}
	}
	return m
}

// TestEnvoyBootstrapLoads reads envoy.yaml as Envoy would (strict field
// names, the API's validation rules, typed_config resolved) and checks
// the settings the service's gRPC mode relies on.
func TestEnvoyBootstrapLoads(t *testing.T) {
	raw, err := os.ReadFile("envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var b bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(yamlToJSON(t, raw), &b); err != nil {
		t.Fatalf("envoy.yaml does not load: %v", err)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatalf("envoy.yaml fails validation: %v", err)
	}

	clusters := map[string]bool{}
	for _, c := range b.GetStaticResources().GetClusters() {
		clusters[c.GetName()] = true
		if c.GetName() != "clerk_forward_auth_grpc" {
			continue
		}
		opts := unpack(t, c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"], &upstreamhttpv3.HttpProtocolOptions{})
		if opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
			t.Error("the gRPC cluster must speak HTTP/2")
		}
		hc := c.GetHealthChecks()
		if len(hc) != 1 || hc[0].GetGrpcHealthCheck().GetServiceName() != handlers.AuthorizationService {
			t.Errorf("gRPC health check must ask for %s", handlers.AuthorizationService)
		}
	}

	hcmAny := b.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig()
	hcm := unpack(t, hcmAny, &hcmv3.HttpConnectionManager{})
	filters := hcm.GetHttpFilters()
	if len(filters) != 2 || filters[0].GetName() != "envoy.filters.http.ext_authz" {
		t.Fatalf("ext_authz must be the first HTTP filter: %v", filters)
	}
	ea := unpack(t, filters[0].GetTypedConfig(), &extauthzv3.ExtAuthz{})
	if ea.GetGrpcService().GetEnvoyGrpc().GetClusterName() != "clerk_forward_auth_grpc" || !clusters["clerk_forward_auth_grpc"] {
		t.Error("ext_authz must call the gRPC cluster")
	}
	if ea.GetTransportApiVersion().String() != "V3" {
		t.Error("transport_api_version must be V3")
	}
	if ea.GetFailureModeAllow() {
		t.Error("failure_mode_allow must be false: fail closed")
	}
	if ea.GetStatusOnError().GetCode() != 503 {
		t.Errorf("status_on_error %v, want 503", ea.GetStatusOnError().GetCode())
	}
	if ea.GetWithRequestBody() != nil || ea.GetClearRouteCache() || ea.GetAllowedHeaders() != nil {
		t.Error("no request body, no route cache clearing, every header sent")
	}

	// Each route's context_extensions are a valid rule; /_auth/ is unchecked.
	var routes []*routev3.Route
	for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
		routes = append(routes, vh.GetRoutes()...)
	}
	seen := map[string]bool{}
	for _, r := range routes {
		prefix := r.GetMatch().GetPrefix()
		a, ok := r.GetTypedPerFilterConfig()["envoy.filters.http.ext_authz"]
		if !ok {
			seen[prefix] = true
			continue
		}
		per := unpack(t, a, &extauthzv3.ExtAuthzPerRoute{})
		if prefix == "/_auth/" {
			if !per.GetDisabled() {
				t.Error("/_auth/ must skip the check")
			}
			seen[prefix] = true
			continue
		}
		q := url.Values{}
		for k, v := range per.GetCheckSettings().GetContextExtensions() {
			for _, item := range strings.Split(v, ",") {
				q.Add(k, strings.TrimSpace(item))
			}
		}
		rule, err := authz.ParseRuleQuery(q)
		if err != nil || rule == nil {
			t.Errorf("route %s: context_extensions %v: %v", prefix, q, err)
			continue
		}
		switch prefix {
		case "/public/":
			if !rule.Public {
				t.Error("/public/ must be public")
			}
		case "/acme/":
			if len(rule.Orgs) != 1 || rule.Orgs[0] != "acme" {
				t.Errorf("/acme/ rule %+v", rule)
			}
		}
		seen[prefix] = true
	}
	for _, p := range []string{"/_auth/", "/public/", "/acme/", "/jobs/", "/reports/", "/billing/", "/export/", "/"} {
		if !seen[p] {
			t.Errorf("no route for %s", p)
		}
	}
}

// TestIstioProviderIsGRPCAndFailsClosed reads the Istio mesh config,
// policy and routing documents.
func TestIstioProviderIsGRPCAndFailsClosed(t *testing.T) {
	raw, err := os.ReadFile("../../istio/grpc-ext-authz.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(raw), "\n---\n")
	if len(docs) != 3 {
		t.Fatalf("%d documents, want the mesh config, the AuthorizationPolicy and the VirtualService", len(docs))
	}
	var mesh struct {
		Spec struct {
			MeshConfig struct {
				ExtensionProviders []struct {
					Name              string
					EnvoyExtAuthzGrpc map[string]any `yaml:"envoyExtAuthzGrpc"`
				} `yaml:"extensionProviders"`
			} `yaml:"meshConfig"`
		}
	}
	if err := yaml.Unmarshal([]byte(docs[0]), &mesh); err != nil {
		t.Fatal(err)
	}
	p := mesh.Spec.MeshConfig.ExtensionProviders
	if len(p) != 1 || p[0].EnvoyExtAuthzGrpc == nil {
		t.Fatalf("want one envoyExtAuthzGrpc provider: %+v", p)
	}
	g := p[0].EnvoyExtAuthzGrpc
	for k := range g {
		switch k {
		case "service", "port", "timeout", "failOpen", "statusOnError", "includeRequestBodyInCheck":
		default:
			t.Errorf("envoyExtAuthzGrpc has no field %q", k)
		}
	}
	if g["failOpen"] != false || g["statusOnError"] != "503" || g["port"] != 9191 {
		t.Errorf("provider %v: want failOpen false, statusOnError \"503\", port 9191", g)
	}

	var policy struct {
		Spec struct {
			Action   string
			Provider struct{ Name string }
		}
	}
	if err := yaml.Unmarshal([]byte(docs[1]), &policy); err != nil {
		t.Fatal(err)
	}
	if policy.Spec.Action != "CUSTOM" || policy.Spec.Provider.Name != p[0].Name {
		t.Errorf("AuthorizationPolicy must be CUSTOM with provider %q: %+v", p[0].Name, policy.Spec)
	}

	// Clerk's handshake callback and webhooks reach the service's HTTP
	// port: the gRPC port serves only ext_authz.
	var vs struct {
		Kind string
		Spec struct {
			HTTP []struct {
				Match []struct {
					URI map[string]string `yaml:"uri"`
				}
				Route []struct {
					Destination struct {
						Host string
						Port struct{ Number int }
					}
				}
			} `yaml:"http"`
		}
	}
	if err := yaml.Unmarshal([]byte(docs[2]), &vs); err != nil {
		t.Fatal(err)
	}
	if vs.Kind != "VirtualService" || len(vs.Spec.HTTP) == 0 {
		t.Fatalf("third document: want a VirtualService with http routes: %+v", vs)
	}
	first := vs.Spec.HTTP[0]
	if len(first.Match) != 1 || first.Match[0].URI["prefix"] != "/_auth/" || len(first.Route) != 1 ||
		!strings.HasPrefix(first.Route[0].Destination.Host, "clerk-forward-auth.") || first.Route[0].Destination.Port.Number != 8080 {
		t.Errorf("first VirtualService route %+v: want prefix /_auth/ to clerk-forward-auth port 8080", first)
	}
}
