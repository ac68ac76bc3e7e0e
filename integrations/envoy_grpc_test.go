//go:build e2e

package integrations

// Envoy's gRPC ext_authz mode (envoy/grpc/envoy.yaml). As for the HTTP
// mode, no Envoy binary can run here: envoyGRPCEmulator sends the service's
// gRPC port the CheckRequest Envoy builds, with the matched route's
// context_extensions, and applies the CheckResponse as Envoy does (headers
// set and removed on allow, the denied response to the client, a gRPC
// error answered with status_on_error).

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

// TestEnvoyGRPC checks that envoy/grpc/envoy.yaml has every route of the
// tested configs with its rule, and runs the shared scenario table through
// the emulator, as every other proxy does. The service has no POLICY_FILE,
// so each rule can only come from the route's context_extensions.
func TestEnvoyGRPC(t *testing.T) {
	cfg := parseEnvoyGRPCConfig(t)
	t.Run("every tested route, with its rule", func(t *testing.T) {
		got := map[string]string{}
		for _, r := range cfg.routes {
			got[r.prefix] = r.query()
			if r.disabled {
				got[r.prefix] = unchecked
				if r.cluster != "clerk_forward_auth_http" {
					t.Errorf("%s is not checked but goes to %s, not the service's HTTP port", r.prefix, r.cluster)
				}
			}
		}
		wantRoutes(t, testedRoutes(t), got)
	})

	runEnvoyGRPCScenarios(t, scenarios)
}

// runEnvoyGRPCScenarios is runProxyScenarios for the gRPC emulator: table
// through it, against a service started with extraEnv and a gRPC port.
// The emulator records each check and its answer in the tap's recorder,
// and sends /_auth/ through the tap to the service's HTTP port, so the
// scenarios find both by test id, as behind every other proxy.
func runEnvoyGRPCScenarios(t *testing.T, table []scenario, extraEnv ...string) {
	cfg := parseEnvoyGRPCConfig(t)
	grpcAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	svc := startService(t, append([]string{"GRPC_LISTEN_ADDR=" + grpcAddr}, extraEnv...)...)
	tap := startAuthTap(t, svc.URL)
	app := startUpstream(t)
	p := &proxyUnderTest{name: "envoy-grpc", dialect: dialectGRPC, svc: svc, tap: tap, app: app}
	p.base = startEnvoyGRPCEmulator(t, cfg, grpcAddr, "http://"+tap.addr, "http://"+app.addr, &tap.recorder)
	p.launchDown = func(t *testing.T) string {
		down := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		return startEnvoyGRPCEmulator(t, cfg, down, svc.URL, "http://"+app.addr, &recorder{})
	}
	runScenarios(t, p, table)
}

// ---- envoy/grpc/envoy.yaml -----------------------------------------------

// envoyGRPCConfig is the part of envoy/grpc/envoy.yaml the emulator follows.
type envoyGRPCConfig struct {
	routes           []envoyRoute // the first whose prefix matches wins
	timeout          time.Duration
	statusOnError    int
	failureModeAllow bool
	underscoreAction string
}

type envoyRoute struct {
	prefix   string
	cluster  string
	disabled bool              // no check (ExtAuthzPerRoute disabled)
	ext      map[string]string // check_settings.context_extensions
}

// query writes the route's context_extensions as the auth URL's query, as
// the service reads them: each comma-separated item is one value.
func (r envoyRoute) query() string {
	keys := make([]string, 0, len(r.ext))
	for k := range r.ext {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		for _, item := range strings.Split(r.ext[k], ",") {
			parts = append(parts, k+"="+strings.TrimSpace(item))
		}
	}
	return strings.Join(parts, "&")
}

// parseEnvoyGRPCConfig reads envoy/grpc/envoy.yaml; a setting it cannot
// find fails the test, so the emulator never runs on assumptions.
func parseEnvoyGRPCConfig(t *testing.T) envoyGRPCConfig {
	t.Helper()
	first := func(v any) any {
		if l, _ := v.([]any); len(l) > 0 {
			return l[0]
		}
		return nil
	}
	doc := yamlDocs(t, "envoy/grpc/envoy.yaml")[0]
	hcm := dig(first(dig(first(dig(first(dig(doc, "static_resources", "listeners")), "filter_chains")), "filters")), "typed_config")
	filter := dig(first(dig(hcm, "http_filters")), "typed_config")
	if dig(filter, "grpc_service", "envoy_grpc", "cluster_name") != "clerk_forward_auth_grpc" {
		t.Fatal("envoy/grpc/envoy.yaml: the first HTTP filter is not ext_authz calling clerk_forward_auth_grpc")
	}

	var cfg envoyGRPCConfig
	var err error
	timeout, _ := dig(filter, "grpc_service", "timeout").(string)
	if cfg.timeout, err = time.ParseDuration(timeout); err != nil {
		t.Fatalf("envoy/grpc/envoy.yaml: grpc_service.timeout: %v", err)
	}
	code, _ := dig(filter, "status_on_error", "code").(string)
	if cfg.statusOnError = envoyStatusCodes[code]; cfg.statusOnError == 0 {
		t.Fatalf("envoy/grpc/envoy.yaml: status_on_error %q not known to the emulator", code)
	}
	var ok bool
	if cfg.failureModeAllow, ok = dig(filter, "failure_mode_allow").(bool); !ok {
		t.Fatal("envoy/grpc/envoy.yaml: failure_mode_allow not found")
	}
	if cfg.underscoreAction, _ = dig(hcm, "common_http_protocol_options", "headers_with_underscores_action").(string); cfg.underscoreAction == "" {
		t.Fatal("envoy/grpc/envoy.yaml: headers_with_underscores_action not found")
	}

	routes, _ := dig(first(dig(hcm, "route_config", "virtual_hosts")), "routes").([]any)
	for _, r := range routes {
		route := envoyRoute{ext: map[string]string{}}
		route.prefix, _ = dig(r, "match", "prefix").(string)
		route.cluster, _ = dig(r, "route", "cluster").(string)
		per := dig(r, "typed_per_filter_config", "envoy.filters.http.ext_authz")
		route.disabled, _ = dig(per, "disabled").(bool)
		ext, _ := dig(per, "check_settings", "context_extensions").(map[string]any)
		for k, v := range ext {
			route.ext[k] = fmt.Sprint(v)
		}
		if route.prefix == "" || route.cluster == "" {
			t.Fatalf("envoy/grpc/envoy.yaml: a route without a prefix or a cluster: %v", r)
		}
		cfg.routes = append(cfg.routes, route)
	}
	if len(cfg.routes) == 0 {
		t.Fatal("envoy/grpc/envoy.yaml: no routes")
	}
	return cfg
}

// ---- the emulator ----------------------------------------------------------

type envoyGRPCEmulator struct {
	checks   *recorder
	cfg      envoyGRPCConfig
	auth     authv3.AuthorizationClient
	clusters map[string]*httputil.ReverseProxy
}

// startEnvoyGRPCEmulator starts the emulator with the service's gRPC
// address and the addresses of envoy.yaml's clusters, and returns its base
// URL.
func startEnvoyGRPCEmulator(t *testing.T, cfg envoyGRPCConfig, grpcAddr, serviceURL, appURL string, checks *recorder) string {
	t.Helper()
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	su, _ := url.Parse(serviceURL)
	apu, _ := url.Parse(appURL)
	e := &envoyGRPCEmulator{
		checks: checks,
		cfg:    cfg,
		auth:   authv3.NewAuthorizationClient(conn),
		clusters: map[string]*httputil.ReverseProxy{
			"app": {Rewrite: func(pr *httputil.ProxyRequest) { rewriteToApp(pr, apu) }},
			// Envoy as an edge proxy (use_remote_address) sets
			// x-forwarded-proto for the service's HTTP port too.
			"clerk_forward_auth_http": {Rewrite: func(pr *httputil.ProxyRequest) {
				rewriteToApp(pr, su)
				pr.Out.Header.Set("X-Forwarded-Proto", "http")
			}},
		},
	}
	for _, r := range cfg.routes {
		if e.clusters[r.cluster] == nil {
			t.Fatalf("envoy/grpc/envoy.yaml: route %s goes to cluster %q, unknown to the emulator", r.prefix, r.cluster)
		}
	}
	return "http://" + serveLoopback(t, e)
}

func (e *envoyGRPCEmulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !applyUnderscoreAction(w, r, e.cfg.underscoreAction) {
		return
	}
	i := slices.IndexFunc(e.cfg.routes, func(rt envoyRoute) bool { return strings.HasPrefix(r.URL.Path, rt.prefix) })
	if i < 0 {
		http.NotFound(w, r)
		return
	}
	route := e.cfg.routes[i]
	if route.disabled {
		e.clusters[route.cluster].ServeHTTP(w, r)
		return
	}

	check := checkRequest(r, route.ext)
	ctx, cancel := context.WithTimeout(r.Context(), e.cfg.timeout)
	defer cancel()
	resp, err := e.auth.Check(ctx, check)

	// Record the check as the service got it (every client header, the
	// test id included) and its answer in the HTTP mode's terms, which the
	// scenarios read: headers set on allow, each header to remove as an
	// empty value also listed in x-envoy-auth-headers-to-remove, and the
	// headers for the client (a refresh's cookies); the denied response's
	// status, headers and body.
	req := check.GetAttributes().GetRequest().GetHttp()
	seen := seenRequest{Method: req.GetMethod(), Host: req.GetHost(), RequestURI: req.GetPath(), Header: httpHeader(req.GetHeaders())}
	switch {
	case err != nil:
		seen.Status, seen.RespBody = -1, err.Error()
	case resp.GetStatus().GetCode() == int32(codes.OK):
		ok := resp.GetOkResponse()
		seen.Status, seen.RespHeader = 200, optionsHeader(ok.GetHeaders())
		for _, name := range ok.GetHeadersToRemove() {
			seen.RespHeader.Add(name, "")
		}
		seen.RespHeader.Set("X-Envoy-Auth-Headers-To-Remove", strings.Join(ok.GetHeadersToRemove(), ","))
		for name, vals := range optionsHeader(ok.GetResponseHeadersToAdd()) {
			seen.RespHeader[name] = append(seen.RespHeader[name], vals...)
		}
	default:
		denied := resp.GetDeniedResponse()
		seen.Status, seen.RespHeader, seen.RespBody = int(denied.GetStatus().GetCode()), optionsHeader(denied.GetHeaders()), denied.GetBody()
	}
	e.checks.add(seen)

	switch {
	case err != nil:
		// An outage or a configuration error: status_on_error.
		if e.cfg.failureModeAllow {
			e.clusters[route.cluster].ServeHTTP(w, r)
			return
		}
		w.WriteHeader(e.cfg.statusOnError)
	case resp.GetStatus().GetCode() == int32(codes.OK):
		ok := resp.GetOkResponse()
		applyOptions(r.Header, ok.GetHeaders())
		for _, name := range ok.GetHeadersToRemove() {
			r.Header.Del(name)
		}
		applyOptions(w.Header(), ok.GetResponseHeadersToAdd())
		e.clusters[route.cluster].ServeHTTP(w, r)
	default:
		denied := resp.GetDeniedResponse()
		status := int(denied.GetStatus().GetCode())
		if status == 0 {
			status = http.StatusForbidden // Envoy's default for a denial
		}
		applyOptions(w.Header(), denied.GetHeaders())
		w.Header().Set("Content-Length", strconv.Itoa(len(denied.GetBody())))
		w.WriteHeader(status)
		_, _ = w.Write([]byte(denied.GetBody()))
	}
}

// checkRequest is the CheckRequest Envoy sends for r: every request header
// (lower-case names, repeated values joined with ","), with the pseudo
// headers and what the connection manager sets at the edge first
// (x-forwarded-for, x-forwarded-proto, x-request-id); the raw path with
// its query; the client's address; no body.
func checkRequest(r *http.Request, ext map[string]string) *authv3.CheckRequest {
	h := map[string]string{}
	for name, vals := range r.Header {
		h[strings.ToLower(name)] = strings.Join(vals, ",")
	}
	clientIP, port, _ := net.SplitHostPort(r.RemoteAddr)
	if xff := h["x-forwarded-for"]; xff != "" {
		h["x-forwarded-for"] = xff + "," + clientIP
	} else {
		h["x-forwarded-for"] = clientIP
	}
	h["x-forwarded-proto"] = "http"
	h["x-request-id"] = newTestID()
	h[":authority"], h[":path"], h[":method"], h[":scheme"] = r.Host, r.RequestURI, r.Method, "http"
	p, _ := strconv.ParseUint(port, 10, 32)
	source := &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: clientIP, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p)}}}}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: source},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id:       h["x-request-id"],
			Method:   r.Method,
			Headers:  h,
			Path:     r.RequestURI,
			Host:     r.Host,
			Scheme:   "http",
			Protocol: r.Proto,
		}},
		ContextExtensions: ext,
	}}
}

// applyOptions adds or sets headers as each option's append action says.
func applyOptions(h http.Header, opts []*corev3.HeaderValueOption) {
	for _, o := range opts {
		k, v := o.GetHeader().GetKey(), o.GetHeader().GetValue()
		switch o.GetAppendAction() {
		case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
			h.Add(k, v)
		case corev3.HeaderValueOption_ADD_IF_ABSENT:
			if len(h.Values(k)) == 0 {
				h.Set(k, v)
			}
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
			if len(h.Values(k)) > 0 {
				h.Set(k, v)
			}
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
			h.Set(k, v)
		}
	}
}

// optionsHeader is the headers a list of options sets, appended in order.
func optionsHeader(opts []*corev3.HeaderValueOption) http.Header {
	h := http.Header{}
	for _, o := range opts {
		h.Add(o.GetHeader().GetKey(), o.GetHeader().GetValue())
	}
	return h
}

// httpHeader is Envoy's header map as an http.Header, pseudo headers left
// out.
func httpHeader(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		if !strings.HasPrefix(k, ":") {
			h.Add(k, v)
		}
	}
	return h
}
