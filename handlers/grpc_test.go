package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	otelcodes "go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/authz/authztest"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
	"github.com/clerk-forward-auth/clerk-forward-auth/observe"
)

// grpcRoutes is the per-route policy of the transport tests, in the query
// string's vocabulary. Over HTTP (Envoy HTTP mode) it can only come from the
// policy file; over gRPC it rides in context_extensions or, absent those,
// comes from the same policy file.
var grpcRoutes = map[string]map[string]string{
	"/admin/":  {"permission": "org:invoices:read"},
	"/team/":   {"org": "acme", "role": "org:admin"},
	"/public/": {"public": "true"},
	// Machine credentials (README "Machine tokens").
	"/jobs/":    {"token": "api_key,m2m_token"},
	"/reports/": {"token": "api_key", "scope": "reports:read"},
	// Rules on the session token's claims (README "Per-route rules").
	"/billing/": {"reverification": "strict"},
	"/export/":  {"feature": "export", "plan": "o:team"},
}

// grpcRoutePolicy is the policy file for grpcRoutes; elsewhere: signed in.
type grpcRoutePolicy struct{}

func (grpcRoutePolicy) Match(_, path, _ string) *authz.Rule {
	for prefix, ext := range grpcRoutes {
		if strings.HasPrefix(path, prefix) {
			q := url.Values{}
			for k, v := range ext {
				q.Set(k, v)
			}
			r, err := authz.ParseRuleQuery(q)
			if err != nil {
				panic(err)
			}
			return r
		}
	}
	return nil
}

func grpcRouteOf(target string) map[string]string {
	for prefix, ext := range grpcRoutes {
		if strings.HasPrefix(target, prefix) {
			return ext
		}
	}
	return nil
}

// grpcEnv is one engine behind both Envoy transports: the HTTP router
// (/ext-authz) and the gRPC server on a loopback socket, reached with a
// real gRPC client.
type grpcEnv struct {
	fake   *clerktest.Server
	router http.Handler
	server *GRPCServer
	client authv3.AuthorizationClient
	health healthpb.HealthClient
	logs   *authztest.LogBuffer
	served chan error
}

const grpcTestParty = "https://app.example.test"

func newGRPCEnv(t testing.TB, trusted []netip.Prefix) *grpcEnv {
	return newGRPCEnvWith(t, grpcEnvOptions{trusted: trusted})
}

type grpcEnvOptions struct {
	trusted        []netip.Prefix
	tokenCacheSize int              // verified-token cache entries (0: none, every check verifies)
	tracing        *observe.Tracing // nil: off
}

// newGRPCEnvWith is newGRPCEnv with more options.
func newGRPCEnvWith(t testing.TB, eo grpcEnvOptions) *grpcEnv {
	t.Helper()
	env := authztest.New(t, authztest.Options{
		Fake:   clerktest.Options{Production: true},
		Verify: clerk.VerifyOptions{AuthorizedParties: []string{grpcTestParty}, TokenCacheSize: eo.tokenCacheSize},
		Engine: authz.Options{Policy: grpcRoutePolicy{}},
		Log:    true,
		Setup:  withMachineTokens(t),
	})
	o := Options{Engine: env.Engine, Logger: env.Logger, TrustedProxies: eo.trusted, Tracing: eo.tracing}
	e := &grpcEnv{fake: env.Fake, router: NewRouter(o), server: NewGRPCServer(o), logs: env.Logs, served: make(chan error, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { e.served <- e.server.Serve(ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	e.client = authv3.NewAuthorizationClient(conn)
	e.health = healthpb.NewHealthClient(conn)
	t.Cleanup(func() {
		_ = conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.server.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-e.served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return e
}

// withMachineTokens wires the engine's machine token verifier as main.go
// does: the fake's Backend API for opaque credentials, the instance's keys
// for machine JWTs, behind the default cache.
func withMachineTokens(t testing.TB) func(e *authztest.Env, _ *authz.Config, o *authz.Options) {
	return func(e *authztest.Env, _ *authz.Config, o *authz.Options) {
		lookup, err := authz.NewMachineLookup(clerk.NewMachineVerifier(e.API, "", e.Verifier), authz.MachineLookupOptions{Logger: e.Logger})
		if err != nil {
			t.Fatal(err)
		}
		o.Machines = lookup
	}
}

// envoyCheck is a CheckRequest shaped as Envoy's gRPC ext_authz filter
// sends it for an HTTP/1.1 request to https://app.example.test<target>
// (docs/proxy-protocols.md, "Envoy ext_authz, gRPC mode"): lower-case
// headers with the pseudo headers, duplicates merged with ",", the raw path
// with its query, the peers.
func envoyCheck(method, target string, headers []string, ext map[string]string) *authv3.CheckRequest {
	h := map[string]string{
		":authority":        "app.example.test",
		":path":             target,
		":method":           method,
		":scheme":           "https",
		"x-request-id":      "6f1b9a52-2f35-4d8e-a4c9-0b6d1f2e3a4b",
		"x-forwarded-proto": "https",
		"x-forwarded-for":   "203.0.113.7",
		"user-agent":        "Mozilla/5.0",
	}
	for i := 0; i+1 < len(headers); i += 2 {
		k := strings.ToLower(headers[i])
		if old, ok := h[k]; ok {
			h[k] = old + "," + headers[i+1]
		} else {
			h[k] = headers[i+1]
		}
	}
	addr := func(ip string, port uint32) *corev3.Address {
		return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:      &authv3.AttributeContext_Peer{Address: addr("203.0.113.7", 51234)},
		Destination: &authv3.AttributeContext_Peer{Address: addr("10.0.0.2", 8000)},
		Request: &authv3.AttributeContext_Request{
			Time: timestamppb.Now(),
			Http: &authv3.AttributeContext_HttpRequest{
				Id:       "14706148425418393042",
				Method:   method,
				Headers:  h,
				Path:     target,
				Host:     "app.example.test",
				Scheme:   "https",
				Protocol: "HTTP/1.1",
			},
		},
		ContextExtensions: ext,
	}}
}

// envoyHTTPCheck is the same request as Envoy's HTTP ext_authz filter
// sends it to /ext-authz (path_prefix), X-Forwarded-Proto from
// headers_to_add.
func (e *grpcEnv) envoyHTTPCheck(method, target string, headers []string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, extAuthzPrefix+target, nil)
	r.Host = "app.example.test"
	r.Header.Set("X-Forwarded-Proto", "https")
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	e.router.ServeHTTP(w, r)
	return w
}

// envoyOutcome is what Envoy makes of a reply, in either mode: the status
// the client gets (200: forwarded), the X-Auth-* headers the app receives
// once the reply is applied to the client's own, the headers and body the
// client receives.
type envoyOutcome struct {
	Status   int
	Upstream http.Header
	Client   http.Header
	Body     string
}

// clientAuthHeaders are the X-Auth-* headers the client itself sent.
func clientAuthHeaders(headers []string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.HasPrefix(strings.ToLower(headers[i]), "x-auth-") {
			h.Add(headers[i], headers[i+1])
		}
	}
	return h
}

// applyHTTP applies an HTTP-mode reply as integrations/envoy/envoy.yaml
// configures Envoy: on 200, allowed_upstream_headers x-auth-* overwrite,
// x-envoy-auth-headers-to-remove removes, set-cookie goes to the client;
// otherwise the whole reply goes to the client.
func applyHTTP(sent []string, w *httptest.ResponseRecorder) envoyOutcome {
	res := w.Result()
	// The HTTP wrapper echoes a request id, which Envoy's HTTP mode
	// does not pass to the client (allowed_client_headers); not a
	// decision.
	res.Header.Del("X-Request-Id")
	if res.StatusCode != http.StatusOK {
		return envoyOutcome{Status: res.StatusCode, Upstream: http.Header{}, Client: res.Header, Body: w.Body.String()}
	}
	up := clientAuthHeaders(sent)
	for k, v := range res.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-auth-") {
			up[k] = v
		}
	}
	for _, k := range strings.Split(res.Header.Get("X-Envoy-Auth-Headers-To-Remove"), ",") {
		up.Del(strings.TrimSpace(k))
	}
	client := http.Header{}
	for _, c := range res.Header.Values("Set-Cookie") {
		client.Add("Set-Cookie", c)
	}
	return envoyOutcome{Status: http.StatusOK, Upstream: up, Client: client}
}

// applyGRPC applies a CheckResponse as Envoy does, checking on the way the
// fields Envoy depends on: a status is always present, identity headers
// overwrite, Set-Cookie values are added one per line.
func applyGRPC(t *testing.T, sent []string, resp *authv3.CheckResponse) envoyOutcome {
	t.Helper()
	if resp.GetStatus() == nil {
		t.Fatal("CheckResponse without status: Envoy would allow")
	}
	apply := func(h http.Header, opts []*corev3.HeaderValueOption) {
		for _, o := range opts {
			// Envoy still reads the deprecated append field; the test
			// asserts the service never sets it.
			if o.GetAppend() != nil { //nolint:staticcheck // asserts the deprecated field stays unset
				t.Errorf("header %s uses the deprecated append field", o.GetHeader().GetKey())
			}
			k, v := o.GetHeader().GetKey(), o.GetHeader().GetValue()
			if k != strings.ToLower(k) {
				t.Errorf("header key %q is not lower case", k)
			}
			switch o.GetAppendAction() {
			case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
				h.Set(k, v)
			case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
				h.Add(k, v)
			case corev3.HeaderValueOption_ADD_IF_ABSENT,
				corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
				// The service only overwrites or appends; either of these
				// would let a client-sent header survive or vanish.
				t.Errorf("header %s: unexpected append action %v", k, o.GetAppendAction())
			default: // a value outside the enum
				t.Errorf("header %s: unexpected append action %v", k, o.GetAppendAction())
			}
		}
	}
	if resp.GetStatus().GetCode() == int32(codes.OK) {
		ok := resp.GetOkResponse()
		if ok == nil {
			t.Fatal("OK without ok_response")
		}
		up := clientAuthHeaders(sent)
		for _, o := range ok.GetHeaders() {
			if o.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
				t.Errorf("upstream header %s must overwrite the client's, action %v", o.GetHeader().GetKey(), o.GetAppendAction())
			}
		}
		apply(up, ok.GetHeaders())
		for _, k := range ok.GetHeadersToRemove() {
			up.Del(k)
		}
		client := http.Header{}
		apply(client, ok.GetResponseHeadersToAdd())
		return envoyOutcome{Status: http.StatusOK, Upstream: up, Client: client}
	}
	denied := resp.GetDeniedResponse()
	if denied == nil || denied.GetStatus() == nil {
		t.Fatal("denial without denied_response.status: Envoy would answer 403")
	}
	client := http.Header{}
	apply(client, denied.GetHeaders())
	return envoyOutcome{Status: int(denied.GetStatus().GetCode()), Upstream: http.Header{}, Client: client, Body: denied.GetBody()}
}

func replyReason(o envoyOutcome) string {
	var body struct{ Reason string }
	if json.Unmarshal([]byte(o.Body), &body) == nil && body.Reason != "" {
		return body.Reason
	}
	return o.Client.Get("X-Clerk-Auth-Reason")
}

// TestEnvoyTransportsAgree runs one scenario table through Envoy's HTTP
// mode (/ext-authz with the policy file) and gRPC mode (rule in
// context_extensions, and again from the policy file), and requires the
// three to produce the same client reply and the same upstream identity.
func TestEnvoyTransportsAgree(t *testing.T) {
	e := newGRPCEnv(t, nil)
	now := time.Now().Unix()
	sign := func(mod func(clerktest.Claims)) string {
		c := e.fake.SessionClaims("user_1")
		if mod != nil {
			mod(c)
		}
		return e.fake.Sign(c)
	}
	valid := sign(func(c clerktest.Claims) { c["sid"] = "sess_1" })
	expired := sign(func(c clerktest.Claims) { c["iat"], c["nbf"], c["exp"] = now-600, now-600, now-300 })
	wrongAzp := sign(func(c clerktest.Claims) { c["azp"] = "https://evil.example" })
	member := sign(func(c clerktest.Claims) {
		c["sid"] = "sess_2"
		c.WithOrg("org_1", "acme", "member", "o:invoices", "read,manage", "2")
	})
	admin := sign(func(c clerktest.Claims) {
		c["sid"] = "sess_3"
		c.WithOrg("org_1", "acme", "admin", "o:invoices", "read,manage", "3")
	})
	browser := []string{"Sec-Fetch-Dest", "document", "Accept", "text/html,application/xhtml+xml"}
	api := []string{"Accept", "application/json"}
	plus := func(base []string, more ...string) []string { return append(append([]string(nil), base...), more...) }
	spoof := []string{"X-Auth-User-Id", "user_evil", "X-Auth-Org-Id", "org_evil", "X-Auth-Org-Role", "org:admin"}

	// Every identity header, as a client forging a machine credential's.
	spoofAll := []string{
		"X-Auth-User-Id", "user_evil", "X-Auth-Session-Id", "sess_evil", "X-Auth-Org-Id", "org_evil", "X-Auth-Org-Slug", "evil",
		"X-Auth-Org-Role", "org:admin", "X-Auth-Org-Permissions", "org:all:all", "X-Auth-Actor-Id", "user_root",
		"X-Auth-Token-Type", "api_key", "X-Auth-Machine-Id", "mch_evil", "X-Auth-Token-Id", "ak_evil",
		"X-Auth-Scopes", "admin:all", "X-Auth-Client-Id", "client_evil",
	}
	userKey, userKeyID := e.fake.AddAPIKey(clerktest.APIKey{Subject: "user_7", Name: "ci", Scopes: []string{"reports:read", "jobs:run"}})
	orgKey, orgKeyID := e.fake.AddAPIKey(clerktest.APIKey{Subject: "org_7", Name: "billing", Scopes: []string{"reports:read"}})
	unscopedKey, _ := e.fake.AddAPIKey(clerktest.APIKey{Subject: "user_8", Scopes: []string{"reports:write"}})
	revokedKey, revokedKeyID := e.fake.AddAPIKey(clerktest.APIKey{Subject: "user_9"})
	e.fake.RevokeAPIKey(revokedKeyID)
	m2m, m2mID := e.fake.AddM2MToken("mch_7", []string{"jobs:run", "jobs:read"}, time.Now().Add(time.Hour))
	m2mJWT, m2mJWTID := e.fake.SignM2MJWT("mch_8", []string{"jobs:run"}, time.Minute)

	// Sessions for the claim rules: fva is [minutes since the first
	// factor, since the second] (-1: never), fea and pla Clerk Billing's.
	withClaims := func(sid string, claims clerktest.Claims) string {
		return sign(func(c clerktest.Claims) {
			c["sid"] = sid
			maps.Copy(c, claims)
		})
	}
	recentlyVerified := withClaims("sess_4", clerktest.Claims{"fva": []int{5, -1}})
	notRecentlyVerified := withClaims("sess_5", clerktest.Claims{"fva": []int{30, -1}})
	entitled := withClaims("sess_6", clerktest.Claims{"fea": "o:export", "pla": "o:team"})
	withoutFeature := withClaims("sess_7", clerktest.Claims{"fea": "o:sso", "pla": "o:team"})
	withoutPlan := withClaims("sess_8", clerktest.Claims{"fea": "o:export", "pla": "u:team"})
	// Clerk's reverification error, which its frontend recognises: not
	// our usual {"error","reason"} body.
	const strictReverification = `{"clerk_error":{"type":"forbidden","reason":"reverification-error","metadata":{"reverification":"strict"}}}` + "\n"

	signInURL := clerk.AccountsBaseURL(e.fake.FAPIHost) + "/sign-in?redirect_url=" + url.QueryEscape("https://app.example.test/dashboard?tab=1")
	tests := []struct {
		name     string
		method   string
		target   string
		headers  []string
		status   int
		reason   string
		upstream map[string]string // the app's X-Auth-* headers; the others must be absent
		location string            // prefix
		cookies  []string          // Set-Cookie prefixes, in order
		body     string            // a denial's body, when not {"error":…,"reason":…}
	}{
		{name: "no credentials, API call", method: "GET", target: "/dashboard?tab=1", headers: api,
			status: 401, reason: "session-token-and-uat-missing"},
		{name: "no credentials, browser navigation", method: "GET", target: "/dashboard?tab=1", headers: browser,
			status: 307, reason: "session-token-and-uat-missing", location: signInURL},
		{name: "uat without session, browser: handshake", method: "GET", target: "/dashboard?tab=1",
			headers: plus(browser, "Cookie", "__client_uat="+strconv.FormatInt(now, 10)),
			status:  307, reason: "client-uat-but-no-session-token", location: "https://" + e.fake.FAPIHost + "/v1/client/handshake?",
			cookies: []string{"__clerk_redirect_count=1;"}},
		{name: "valid bearer", method: "POST", target: "/api/items?x=1", headers: plus(api, "Authorization", "Bearer "+valid),
			status: 200, upstream: map[string]string{HeaderUserID: "user_1", HeaderSessionID: "sess_1", HeaderTokenType: "session_token"}},
		{name: "two Bearer tokens of different users", method: "GET", target: "/api/items", headers: plus(api, "Authorization", "Bearer "+admin, "Authorization", "Bearer "+valid),
			status: 401, reason: "token-invalid"},
		{name: "garbage, then a valid Bearer token", method: "GET", target: "/api/items", headers: plus(api, "Authorization", "garbage", "Authorization", "Bearer "+valid),
			status: 401, reason: "token-invalid"},
		{name: "valid cookie (production: __session + __client_uat)", method: "GET", target: "/dashboard?tab=1",
			headers: plus(browser, "Cookie", "__client_uat="+strconv.FormatInt(now-60, 10)+"; __session="+valid+"; theme=dark"),
			status:  200, upstream: map[string]string{HeaderUserID: "user_1", HeaderSessionID: "sess_1", HeaderTokenType: "session_token"}},
		{name: "spoofed identity headers are overwritten or removed", method: "GET", target: "/dashboard",
			headers: plus(api, append([]string{"Authorization", "Bearer " + valid}, spoof...)...),
			status:  200, upstream: map[string]string{HeaderUserID: "user_1", HeaderSessionID: "sess_1", HeaderTokenType: "session_token"}},
		{name: "expired bearer", method: "GET", target: "/dashboard", headers: plus(api, "Authorization", "Bearer "+expired),
			status: 401, reason: "session-token-expired-refresh-non-eligible-no-refresh-cookie"},
		{name: "wrong azp", method: "GET", target: "/dashboard", headers: plus(api, "Authorization", "Bearer "+wrongAzp),
			status: 401, reason: "token-invalid-authorized-parties"},
		{name: "forbidden by permission rule", method: "GET", target: "/admin/invoices", headers: plus(api, "Authorization", "Bearer "+member),
			status: 403, reason: "permission-missing"},
		{name: "allowed by active-org rule", method: "GET", target: "/team/settings", headers: plus(api, append([]string{"Authorization", "Bearer " + admin}, spoof...)...),
			status: 200, upstream: map[string]string{HeaderUserID: "user_1", HeaderSessionID: "sess_3", HeaderTokenType: "session_token", HeaderOrgID: "org_1",
				HeaderOrgSlug: "acme", HeaderOrgRole: "org:admin", HeaderOrgPermissions: "org:invoices:read,org:invoices:manage"}},
		{name: "public route without credentials", method: "GET", target: "/public/logo.png", headers: plus(api, spoof...),
			status: 200, upstream: map[string]string{}},

		// Machine credentials: the client's copies of every identity
		// header are overwritten or removed.
		{name: "user's API key on a machine route", method: "POST", target: "/jobs/nightly", headers: plus(api, append([]string{"Authorization", "Bearer " + userKey}, spoofAll...)...),
			status: 200, upstream: map[string]string{HeaderTokenType: "api_key", HeaderUserID: "user_7", HeaderTokenID: userKeyID, HeaderScopes: "reports:read,jobs:run"}},
		{name: "organization's API key on a scoped route", method: "GET", target: "/reports/q3", headers: plus(api, append([]string{"Authorization", "Bearer " + orgKey}, spoofAll...)...),
			status: 200, upstream: map[string]string{HeaderTokenType: "api_key", HeaderOrgID: "org_7", HeaderTokenID: orgKeyID, HeaderScopes: "reports:read"}},
		{name: "opaque M2M token on a machine route", method: "GET", target: "/jobs/nightly", headers: plus(api, append([]string{"Authorization", "Bearer " + m2m}, spoofAll...)...),
			status: 200, upstream: map[string]string{HeaderTokenType: "m2m_token", HeaderMachineID: "mch_7", HeaderTokenID: m2mID, HeaderScopes: "jobs:run,jobs:read"}},
		{name: "M2M JWT on a machine route", method: "GET", target: "/jobs/nightly", headers: plus(api, append([]string{"Authorization", "Bearer " + m2mJWT}, spoofAll...)...),
			status: 200, upstream: map[string]string{HeaderTokenType: "m2m_token", HeaderMachineID: "mch_8", HeaderTokenID: m2mJWTID, HeaderScopes: "jobs:run"}},
		{name: "session token with forged machine headers", method: "GET", target: "/dashboard", headers: plus(api, append([]string{"Authorization", "Bearer " + valid}, spoofAll...)...),
			status: 200, upstream: map[string]string{HeaderUserID: "user_1", HeaderSessionID: "sess_1", HeaderTokenType: "session_token"}},
		{name: "M2M token on an API-key route", method: "GET", target: "/reports/q3", headers: plus(api, "Authorization", "Bearer "+m2m),
			status: 401, reason: "token-type-mismatch"},
		{name: "M2M JWT on an API-key route", method: "GET", target: "/reports/q3", headers: plus(api, "Authorization", "Bearer "+m2mJWT),
			status: 401, reason: "token-type-mismatch"},
		{name: "session token on a machine route", method: "GET", target: "/jobs/nightly", headers: plus(api, "Authorization", "Bearer "+valid),
			status: 401, reason: "token-type-mismatch"},
		{name: "browser navigation on a machine route: no sign-in redirect", method: "GET", target: "/jobs/nightly", headers: browser,
			status: 401, reason: "token-type-mismatch"},
		{name: "API key without the route's scope", method: "GET", target: "/reports/q3", headers: plus(api, "Authorization", "Bearer "+unscopedKey),
			status: 403, reason: "scope-missing"},
		{name: "revoked API key", method: "GET", target: "/jobs/nightly", headers: plus(api, "Authorization", "Bearer "+revokedKey),
			status: 401, reason: "token-invalid"},

		// Rules on the session token's claims.
		{name: "reverification=strict, verified 5 minutes ago", method: "GET", target: "/billing/invoices", headers: plus(api, append([]string{"Authorization", "Bearer " + recentlyVerified}, spoof...)...),
			status: 200, upstream: map[string]string{HeaderUserID: "user_1", HeaderSessionID: "sess_4", HeaderTokenType: "session_token"}},
		{name: "reverification=strict, verified 30 minutes ago: Clerk's reverification error", method: "GET", target: "/billing/invoices", headers: plus(api, "Authorization", "Bearer "+notRecentlyVerified),
			status: 403, reason: "reverification-required", body: strictReverification},
		{name: "reverification=strict, browser navigation: the same error, no redirect", method: "GET", target: "/billing/invoices",
			headers: plus(browser, "Cookie", "__client_uat="+strconv.FormatInt(now-60, 10)+"; __session="+notRecentlyVerified),
			status:  403, reason: "reverification-required", body: strictReverification},
		{name: "feature and organization plan held", method: "GET", target: "/export/csv", headers: plus(api, append([]string{"Authorization", "Bearer " + entitled}, spoof...)...),
			status: 200, upstream: map[string]string{HeaderUserID: "user_1", HeaderSessionID: "sess_6", HeaderTokenType: "session_token"}},
		{name: "another feature", method: "GET", target: "/export/csv", headers: plus(api, "Authorization", "Bearer "+withoutFeature),
			status: 403, reason: "feature-missing"},
		{name: "the feature, the user's plan not the organization's", method: "GET", target: "/export/csv", headers: plus(api, "Authorization", "Bearer "+withoutPlan),
			status: 403, reason: "plan-missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.envoyHTTPCheck(tt.method, tt.target, tt.headers)
			viaHTTP := applyHTTP(tt.headers, w)
			// The identity headers the allow leaves empty, which Envoy must
			// remove from the client's request.
			var wantRemoved []string
			for _, h := range IdentityHeaders {
				if tt.upstream[h] == "" {
					wantRemoved = append(wantRemoved, strings.ToLower(h))
				}
			}
			if tt.status == 200 {
				got := strings.Split(w.Header().Get("X-Envoy-Auth-Headers-To-Remove"), ", ")
				if !reflect.DeepEqual(got, wantRemoved) {
					t.Errorf("x-envoy-auth-headers-to-remove %q, want %q", got, wantRemoved)
				}
			}

			if viaHTTP.Status != tt.status {
				t.Fatalf("status %d, want %d (body %s)", viaHTTP.Status, tt.status, viaHTTP.Body)
			}
			if got := replyReason(viaHTTP); got != tt.reason {
				t.Errorf("reason %q, want %q", got, tt.reason)
			}
			if tt.status == 200 {
				want := http.Header{}
				for k, v := range tt.upstream {
					want.Set(k, v)
				}
				if !reflect.DeepEqual(viaHTTP.Upstream, want) {
					t.Errorf("upstream identity %v, want %v", viaHTTP.Upstream, want)
				}
			}
			if loc := viaHTTP.Client.Get("Location"); !strings.HasPrefix(loc, tt.location) || (tt.location == "") != (loc == "") {
				t.Errorf("Location %q, want prefix %q", loc, tt.location)
			}
			if got := viaHTTP.Client.Values("Set-Cookie"); len(got) != len(tt.cookies) {
				t.Errorf("Set-Cookie %q, want %q", got, tt.cookies)
			} else {
				for i := range got {
					if !strings.HasPrefix(got[i], tt.cookies[i]) {
						t.Errorf("Set-Cookie %q, want prefix %q", got[i], tt.cookies[i])
					}
				}
			}
			if tt.status == 401 && viaHTTP.Client.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
			if tt.status == 401 || tt.status == 403 {
				word := map[int]string{401: "unauthenticated", 403: "forbidden"}[tt.status]
				want := `{"error":"` + word + `","reason":"` + tt.reason + `"}` + "\n"
				if tt.body != "" {
					want = tt.body
				}
				if viaHTTP.Body != want {
					t.Errorf("body %q, want %q", viaHTTP.Body, want)
				}
			}

			for _, ext := range []map[string]string{grpcRouteOf(tt.target), nil} {
				resp, err := e.client.Check(context.Background(), envoyCheck(tt.method, tt.target, tt.headers, ext))
				if err != nil {
					t.Fatalf("Check (context_extensions %v): %v", ext, err)
				}
				viaGRPC := applyGRPC(t, tt.headers, resp)
				if got := resp.GetOkResponse().GetHeadersToRemove(); tt.status == 200 && !reflect.DeepEqual(got, wantRemoved) {
					t.Errorf("gRPC headers_to_remove %q, want %q", got, wantRemoved)
				}
				if !reflect.DeepEqual(viaGRPC, viaHTTP) {
					t.Errorf("gRPC (context_extensions %v) and HTTP disagree:\n grpc %+v\n http %+v", ext, viaGRPC, viaHTTP)
				}
				wantCode := map[int]codes.Code{200: codes.OK, 307: codes.Unauthenticated, 401: codes.Unauthenticated, 403: codes.PermissionDenied}[tt.status]
				if got := codes.Code(resp.GetStatus().GetCode()); got != wantCode {
					t.Errorf("gRPC status %v, want %v", got, wantCode)
				}
			}
		})
	}
	if !strings.Contains(e.logs.String(), `"endpoint":"ext-authz-grpc"`) {
		t.Error("no decision log line for the gRPC endpoint")
	}
	for _, tok := range []string{valid, userKey, m2m, m2mJWT} {
		if strings.Contains(e.logs.String(), tok[:30]) {
			t.Errorf("a token reached the logs: %.12s…", tok)
		}
	}
}

// TestEnvoyTransportsAgreeOnTheOriginalMethod: in both of Envoy's modes
// the method is the original request's, judged by originalMethod: a
// method outside net/http's common set (WebDAV's, CalDAV's) is decided
// like any other, and a malformed one is the reader's 400, in HTTP mode
// as over gRPC.
func TestEnvoyTransportsAgreeOnTheOriginalMethod(t *testing.T) {
	e := newGRPCEnv(t, nil)
	bearer := []string{"Accept", "application/json", "Authorization", "Bearer " + e.fake.Sign(e.fake.SessionClaims("user_1"))}
	tests := []struct {
		name, method string
		headers      []string
		status       int
	}{
		{"WebDAV PROPFIND with a session", "PROPFIND", bearer, 200},
		{"WebDAV MKCOL without credentials", "MKCOL", []string{"Accept", "application/json"}, 401},
		{"CalDAV REPORT with a session", "REPORT", bearer, 200},
		{"lower-case method", "get", bearer, 400},
		{"TRACE", "TRACE", bearer, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			viaHTTP := applyHTTP(tt.headers, e.envoyHTTPCheck(tt.method, "/dav/files", tt.headers))
			resp, err := e.client.Check(context.Background(), envoyCheck(tt.method, "/dav/files", tt.headers, nil))
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			viaGRPC := applyGRPC(t, tt.headers, resp)
			if viaGRPC.Status != tt.status || viaHTTP.Status != tt.status {
				t.Fatalf("gRPC %d, HTTP %d, want %d (HTTP body %q)", viaGRPC.Status, viaHTTP.Status, tt.status, viaHTTP.Body)
			}
			if !reflect.DeepEqual(viaGRPC, viaHTTP) {
				t.Errorf("gRPC and HTTP disagree:\n grpc %+v\n http %+v", viaGRPC, viaHTTP)
			}
		})
	}
}

// TestEnvoyTransportsAgreeOnIdentityValues: an identity value the user
// chose (the profile name) reaches the app the same in both of Envoy's
// modes. Over HTTP net/http writes a line break in a header value as a
// space and trims the value; over gRPC the CheckResponse must carry the
// same, never a CR or LF, which Envoy would either refuse (failing the
// request) or pass on to the upstream as a header line of its own.
func TestEnvoyTransportsAgreeOnIdentityValues(t *testing.T) {
	tests := []struct{ name, userName, want string }{
		{"a header line smuggled in the name", "Eve\r\nX-Auth-User-Id: user_admin", "Eve  X-Auth-User-Id: user_admin"},
		{"a bare LF", "Eve\nMallory", "Eve Mallory"},
		{"a bare CR", "Eve\rMallory", "Eve Mallory"},
		{"surrounding blanks", " Ada Lovelace\t", "Ada Lovelace"},
		{"a trailing line break", "Ada\r\n", "Ada"},
		{"UTF-8", "José Müller", "José Müller"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := authz.Decision{Outcome: authz.Allow, Identity: authz.Identity{
				UserID: "user_1", SessionID: "sess_1", TokenType: "session_token", ProfileHeaders: true, Email: "eve@example.com", Name: tt.userName,
			}}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				render(w, d, dialect{redirects: true, envoy: true})
			}))
			defer srv.Close()
			res, err := srv.Client().Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			viaHTTP := res.Header.Get(HeaderUserName)

			resp, err := checkResponse(d)
			if err != nil {
				t.Fatal(err)
			}
			var viaGRPC []string
			for _, o := range resp.GetOkResponse().GetHeaders() {
				if v := o.GetHeader().GetValue(); strings.ContainsAny(v, "\r\n") {
					t.Errorf("gRPC header %s carries a line break: %q", o.GetHeader().GetKey(), v)
				}
				if o.GetHeader().GetKey() == lowerHeaderUserName {
					viaGRPC = append(viaGRPC, o.GetHeader().GetValue())
				}
			}
			if viaHTTP != tt.want || len(viaGRPC) != 1 || viaGRPC[0] != tt.want {
				t.Errorf("X-Auth-User-Name over HTTP %q, over gRPC %q, want %q in both", viaHTTP, viaGRPC, tt.want)
			}
		})
	}
}

// TestEnvoyTransportsAgreeOnCookieLines: Envoy's HTTP mode passes each
// Cookie line on, its gRPC mode merges them into one value with ",".
// Lines that disagree on the session are refused in both modes (which one
// the app's SDK reads is not ours to guess); lines that agree, or a comma
// inside one cookie's value, are read alike.
func TestEnvoyTransportsAgreeOnCookieLines(t *testing.T) {
	e := newGRPCEnv(t, nil)
	uat := "__client_uat=" + strconv.FormatInt(time.Now().Unix()-60, 10)
	userTok, adminTok := e.fake.Sign(e.fake.SessionClaims("user_1")), e.fake.Sign(e.fake.SessionClaims("user_admin"))
	tests := []struct {
		name    string
		cookies []string // one Cookie line each
		status  int
		user    string
	}{
		{"two lines, two sessions", []string{"__session=" + userTok + "; " + uat, uat + "; __session=" + adminTok}, 401, ""},
		{"two lines, two sessions, first line session only", []string{"__session=" + userTok, uat + "; __session=" + adminTok}, 401, ""},
		{"two lines, one session", []string{"__session=" + userTok, uat + "; theme=dark"}, 200, "user_1"},
		{"two lines, the same session", []string{"__session=" + userTok + "; " + uat, "__session=" + userTok}, 200, "user_1"},
		{"one line, a comma in another cookie", []string{"prefs=a,b; __session=" + userTok + "; " + uat}, 200, "user_1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := []string{"Accept", "application/json"}
			for _, c := range tt.cookies {
				headers = append(headers, "Cookie", c)
			}
			viaHTTP := applyHTTP(headers, e.envoyHTTPCheck("GET", "/dashboard", headers))
			resp, err := e.client.Check(context.Background(), envoyCheck("GET", "/dashboard", headers, nil))
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			viaGRPC := applyGRPC(t, headers, resp)
			if viaHTTP.Status != tt.status || viaGRPC.Status != tt.status {
				t.Fatalf("HTTP %d, gRPC %d, want %d (gRPC user %q)", viaHTTP.Status, viaGRPC.Status, tt.status, viaGRPC.Upstream.Get(HeaderUserID))
			}
			if got := viaGRPC.Upstream.Get(HeaderUserID); got != tt.user {
				t.Errorf("gRPC user %q, want %q", got, tt.user)
			}
			if !reflect.DeepEqual(viaGRPC, viaHTTP) {
				t.Errorf("gRPC and HTTP disagree:\n grpc %+v\n http %+v", viaGRPC, viaHTTP)
			}
		})
	}
}

// TestGRPCContextExtensionsPolicy: the route's rule in context_extensions
// wins over the policy file, lists are comma-separated, and a malformed
// rule is a gRPC INTERNAL error (Envoy's status_on_error), never an allow.
func TestGRPCContextExtensionsPolicy(t *testing.T) {
	e := newGRPCEnv(t, nil)
	c := e.fake.SessionClaims("user_1").WithOrg("org_1", "acme", "admin", "o:invoices", "read,manage", "1")
	bearer := []string{"Authorization", "Bearer " + e.fake.Sign(c)}
	tests := []struct {
		name   string
		target string
		ext    map[string]string
		code   codes.Code // of the gRPC error, or of the CheckResponse status
		err    bool
		reason string
	}{
		{"no extensions: the policy file's public route", "/public/x", nil, codes.OK, false, ""},
		{"extensions override the policy file", "/public/x", map[string]string{"permission": "org:invoices:manage"}, codes.PermissionDenied, false, "permission-missing"},
		{"org by slug and role", "/x", map[string]string{"org": "acme", "role": "admin"}, codes.OK, false, ""},
		{"comma list: every permission must hold", "/x", map[string]string{"permission": "org:invoices:read, org:invoices:manage"}, codes.PermissionDenied, false, "permission-missing"},
		{"comma list held", "/x", map[string]string{"role": "org:admin,admin"}, codes.OK, false, ""},
		{"role not held", "/x", map[string]string{"role": "org:billing"}, codes.PermissionDenied, false, "role-missing"},
		{"unknown key is a configuration error", "/x", map[string]string{"team": "acme"}, codes.Internal, true, "invalid-policy"},
		{"empty value is a configuration error", "/x", map[string]string{"org": ""}, codes.Internal, true, "invalid-policy"},
		{"public with org is a configuration error", "/x", map[string]string{"public": "true", "org": "acme"}, codes.Internal, true, "invalid-policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := e.client.Check(context.Background(), envoyCheck("GET", tt.target, bearer, tt.ext))
			if tt.err {
				if resp != nil || status.Code(err) != tt.code || status.Convert(err).Message() != tt.reason {
					t.Fatalf("got %v, %v; want gRPC error %v %s", resp, err, tt.code, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := codes.Code(resp.GetStatus().GetCode()); got != tt.code {
				t.Fatalf("status %v, want %v", got, tt.code)
			}
			if tt.code != codes.OK {
				if got := applyGRPC(t, bearer, resp); got.Status != 403 || replyReason(got) != tt.reason {
					t.Fatalf("denied %d %q, want 403 %q", got.Status, replyReason(got), tt.reason)
				}
			}
		})
	}
}

// TestGRPCUnreadableRequestIsDenied400: what Envoy always fills, missing
// or malformed, is a 400 denial with a status set, never a guess.
func TestGRPCUnreadableRequestIsDenied400(t *testing.T) {
	e := newGRPCEnv(t, nil)
	tests := []struct {
		name string
		mod  func(*authv3.CheckRequest)
	}{
		{"no http attributes", func(r *authv3.CheckRequest) { r.Attributes.Request.Http = nil }},
		{"no attributes", func(r *authv3.CheckRequest) { r.Attributes = nil }},
		{"lower-case method", func(r *authv3.CheckRequest) { r.Attributes.Request.Http.Method = "get" }},
		{"missing method", func(r *authv3.CheckRequest) { r.Attributes.Request.Http.Method = "" }},
		{"bad host", func(r *authv3.CheckRequest) { r.Attributes.Request.Http.Host = "evil.example/x" }},
		{"host with userinfo", func(r *authv3.CheckRequest) { r.Attributes.Request.Http.Host = "a@app.example.test" }},
		{"missing host", func(r *authv3.CheckRequest) { r.Attributes.Request.Http.Host = "" }},
		{"missing scheme", func(r *authv3.CheckRequest) { r.Attributes.Request.Http.Scheme = "" }},
		{"unknown scheme", func(r *authv3.CheckRequest) { r.Attributes.Request.Http.Scheme = "ftp" }},
		{"path in absolute form", func(r *authv3.CheckRequest) { r.Attributes.Request.Http.Path = "http://evil.example/" }},
		{"path with a space", func(r *authv3.CheckRequest) { r.Attributes.Request.Http.Path = "/a b" }},
		{"missing path", func(r *authv3.CheckRequest) { r.Attributes.Request.Http.Path = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := envoyCheck("GET", "/dashboard", []string{"Authorization", "Bearer " + e.fake.Sign(e.fake.SessionClaims("user_1"))}, nil)
			tt.mod(req)
			resp, err := e.client.Check(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if codes.Code(resp.GetStatus().GetCode()) != codes.InvalidArgument {
				t.Fatalf("status %v, want InvalidArgument", resp.GetStatus())
			}
			got := applyGRPC(t, nil, resp)
			if got.Status != 400 || !strings.HasPrefix(got.Body, `{"error":"bad_request"`) {
				t.Fatalf("denied %d %s", got.Status, got.Body)
			}
		})
	}
}

// TestGRPCOutageIsUnavailableError: no keys means a gRPC UNAVAILABLE
// error, not a CheckResponse, so Envoy's status_on_error (503 in our
// config) or failure_mode_allow applies as the operator chose; the HTTP
// mode answers 503 for the same request.
func TestGRPCOutageIsUnavailableError(t *testing.T) {
	e := newGRPCEnv(t, nil)
	token := e.fake.Sign(e.fake.SessionClaims("user_1"))
	e.fake.SetJWKSResponse(http.StatusInternalServerError, `{"errors":[]}`)
	headers := []string{"Authorization", "Bearer " + token}
	if w := e.envoyHTTPCheck("GET", "/dashboard", headers); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("HTTP mode: %d, want 503", w.Code)
	}
	resp, err := e.client.Check(context.Background(), envoyCheck("GET", "/dashboard", headers, nil))
	if resp != nil || status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, %v; want an UNAVAILABLE error", resp, err)
	}
}

// TestGRPCHeaderMapAndMergedHeaders: with encode_raw_headers Envoy sends
// header_map (raw bytes) instead of headers; both read the same.
func TestGRPCHeaderMapAndMergedHeaders(t *testing.T) {
	e := newGRPCEnv(t, nil)
	token := e.fake.Sign(e.fake.SessionClaims("user_1"))
	req := envoyCheck("GET", "/dashboard", nil, nil)
	hm := &corev3.HeaderMap{}
	for k, v := range req.Attributes.Request.Http.Headers {
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
	}
	hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: "authorization", RawValue: []byte("Bearer " + token)})
	req.Attributes.Request.Http.Headers = nil
	req.Attributes.Request.Http.HeaderMap = hm
	resp, err := e.client.Check(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := applyGRPC(t, nil, resp); got.Status != 200 || got.Upstream.Get(HeaderUserID) != "user_1" {
		t.Fatalf("header_map: %+v", got)
	}
}

// TestGRPCSetCookiesOnePerLine: cookies reach the client one header line
// each, on an allow (a refreshed session: response_headers_to_add) and on
// a denial (a completed handshake: denied_response.headers).
func TestGRPCSetCookiesOnePerLine(t *testing.T) {
	cookies := []string{"__session=a; Path=/", "__client_uat=1; Path=/", "__clerk_handshake=; Max-Age=0"}
	resp, err := checkResponse(authz.Decision{Outcome: authz.Allow, Identity: authz.Identity{UserID: "user_1"}, SetCookies: cookies})
	if err != nil {
		t.Fatal(err)
	}
	got := applyGRPC(t, []string{"X-Auth-Session-Id", "sess_evil"}, resp)
	if !reflect.DeepEqual(got.Client.Values("Set-Cookie"), cookies) {
		t.Fatalf("allow: Set-Cookie %q", got.Client.Values("Set-Cookie"))
	}
	if got.Upstream.Get(HeaderUserID) != "user_1" || len(got.Upstream) != 1 {
		t.Fatalf("allow: upstream %v", got.Upstream)
	}
	if n := len(resp.GetOkResponse().GetHeadersToRemove()); n != len(IdentityHeaders)-1 {
		t.Fatalf("allow: headers_to_remove %v", resp.GetOkResponse().GetHeadersToRemove())
	}

	resp, err = checkResponse(authz.Decision{Outcome: authz.Handshake, Reason: "session-token-expired", Location: "https://app.example.test/", SetCookies: cookies})
	if err != nil {
		t.Fatal(err)
	}
	got = applyGRPC(t, nil, resp)
	if got.Status != http.StatusTemporaryRedirect || got.Client.Get("Location") != "https://app.example.test/" {
		t.Fatalf("handshake: %d %v", got.Status, got.Client)
	}
	if !reflect.DeepEqual(got.Client.Values("Set-Cookie"), cookies) {
		t.Fatalf("handshake: Set-Cookie %q", got.Client.Values("Set-Cookie"))
	}
}

// TestGRPCHealthFollowsReadiness: "" is liveness; the Authorization
// service turns SERVING once keys load, NOT_SERVING on Shutdown.
func TestGRPCHealthFollowsReadiness(t *testing.T) {
	e := newGRPCEnv(t, nil)
	ctx := context.Background()
	check := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		r, err := e.health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("health %q: %v", service, err)
		}
		return r.GetStatus()
	}
	if got := check(""); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("liveness %v", got)
	}
	if got := check(AuthorizationService); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("readiness before keys: %v", got)
	}
	token := e.fake.Sign(e.fake.SessionClaims("user_1"))
	if resp, err := e.client.Check(ctx, envoyCheck("GET", "/", []string{"Authorization", "Bearer " + token}, nil)); err != nil || resp.GetStatus().GetCode() != 0 {
		t.Fatalf("check: %v %v", resp, err)
	}
	deadline := time.Now().Add(3 * readinessInterval)
	for check(AuthorizationService) != healthpb.HealthCheckResponse_SERVING {
		if time.Now().After(deadline) {
			t.Fatal("readiness never turned SERVING after keys loaded")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// health.Server.Shutdown is what GRPCServer.Shutdown calls first.
	e.server.health.Shutdown()
	if got := check(""); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("liveness while shutting down: %v", got)
	}
}

// TestGRPCGracefulStopFinishesInflightCheck: Shutdown lets a check in
// progress (here waiting 300 ms for the JWKS) finish with its real answer,
// then Serve returns nil.
func TestGRPCGracefulStopFinishesInflightCheck(t *testing.T) {
	e := newGRPCEnv(t, nil)
	ctx := context.Background()
	e.fake.SetLatency(300 * time.Millisecond)
	token := e.fake.Sign(e.fake.SessionClaims("user_2"))
	type result struct {
		resp *authv3.CheckResponse
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		r, err := e.client.Check(ctx, envoyCheck("GET", "/", []string{"Authorization", "Bearer " + token}, nil))
		inflight <- result{r, err}
	}()
	// Stop once the check is inside the engine, waiting for the JWKS.
	for deadline := time.Now().Add(5 * time.Second); e.fake.Calls("GET /v1/jwks") == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the check never reached the JWKS fetch")
		}
	}
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := e.server.Shutdown(stopCtx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	r := <-inflight
	if r.err != nil || r.resp.GetStatus().GetCode() != 0 {
		t.Fatalf("in-flight check: %v %v", r.resp, r.err)
	}
	if got := applyGRPC(t, nil, r.resp); got.Upstream.Get(HeaderUserID) != "user_2" {
		t.Fatalf("in-flight check identity %v", got.Upstream)
	}
	select {
	case err := <-e.served:
		e.served <- err // for the cleanup
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
}

// TestGRPCTrustedProxies: with TRUSTED_PROXIES, Check from another peer is
// refused with a gRPC error; health stays open to probes.
func TestGRPCTrustedProxies(t *testing.T) {
	e := newGRPCEnv(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	resp, err := e.client.Check(context.Background(), envoyCheck("GET", "/", nil, nil))
	if resp != nil || status.Code(err) != codes.PermissionDenied {
		t.Fatalf("got %v, %v; want PERMISSION_DENIED", resp, err)
	}
	if _, err := e.health.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health refused: %v", err)
	}

	e2 := newGRPCEnv(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	resp, err = e2.client.Check(context.Background(), envoyCheck("GET", "/", []string{"Accept", "application/json"}, nil))
	if err != nil || codes.Code(resp.GetStatus().GetCode()) != codes.Unauthenticated {
		t.Fatalf("trusted peer: %v %v", resp, err)
	}
}

// TestGRPCPanicIsInternalError: a panic while deciding becomes INTERNAL
// (Envoy's status_on_error), not a dead process.
func TestGRPCPanicIsInternalError(t *testing.T) {
	logs := &authztest.LogBuffer{}
	intercept := recoverPanics(slog.New(slog.NewJSONHandler(logs, nil)))
	resp, err := intercept(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/" + AuthorizationService + "/Check"},
		func(context.Context, any) (any, error) { panic("boom") })
	if resp != nil || status.Code(err) != codes.Internal {
		t.Fatalf("got %v, %v; want INTERNAL", resp, err)
	}
	if !strings.Contains(logs.String(), "boom") {
		t.Fatal("panic not logged")
	}
}

// BenchmarkGRPCCheck is one allowed check over a loopback gRPC connection
// (client included), keys loaded and the token cache on, as in production.
func BenchmarkGRPCCheck(b *testing.B) {
	e := newGRPCEnvWith(b, grpcEnvOptions{tokenCacheSize: 10000})
	req := envoyCheck("GET", "/dashboard?tab=1", []string{"Authorization", "Bearer " + e.fake.Sign(e.fake.SessionClaims("user_1"))}, nil)
	ctx := context.Background()
	if _, err := e.client.Check(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if resp, err := e.client.Check(ctx, req); err != nil || resp.GetStatus().GetCode() != 0 {
			b.Fatal(resp, err)
		}
	}
}

// TestGRPCCheckIsTracedAsAnHTTPDecision: a gRPC check gets the decision
// span an HTTP /ext-authz decision gets for the same request: a server
// span named after its endpoint, continuing the caller's traceparent, with
// the same decision attributes; only the reply's status is the
// transport's own (a gRPC code instead of an HTTP status), and an outage
// marks both spans as errors.
func TestGRPCCheckIsTracedAsAnHTTPDecision(t *testing.T) {
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	const metadataParentID = "b7ad6b7169203331"
	tests := []struct {
		name       string
		headers    func(e *grpcEnv) []string
		unreadable bool // both transports answer 400
		outage     bool // the JWKS answers 500
		metadata   bool // Envoy's own span context in the gRPC metadata: it is the parent
		httpStatus int
		grpcCode   codes.Code
		outcome    string
	}{
		{"allowed", func(e *grpcEnv) []string {
			return []string{"Authorization", "Bearer " + e.fake.Sign(e.fake.SessionClaims("user_1"))}
		},
			false, false, false, 200, codes.OK, "allow"},
		{"allowed, Envoy's span in the metadata is the parent", func(e *grpcEnv) []string {
			return []string{"Authorization", "Bearer " + e.fake.Sign(e.fake.SessionClaims("user_1"))}
		},
			false, false, true, 200, codes.OK, "allow"},
		{"no token", func(*grpcEnv) []string { return []string{"Accept", "application/json"} },
			false, false, false, 401, codes.Unauthenticated, "unauthenticated"},
		{"forbidden by the route's rule", func(e *grpcEnv) []string {
			return []string{"Authorization", "Bearer " + e.fake.Sign(e.fake.SessionClaims("user_1"))}
		},
			false, false, false, 403, codes.PermissionDenied, "forbidden"},
		{"unreadable request", func(*grpcEnv) []string { return nil },
			true, false, false, 400, codes.InvalidArgument, "bad-request"},
		{"keys unavailable", func(e *grpcEnv) []string {
			return []string{"Authorization", "Bearer " + e.fake.Sign(e.fake.SessionClaims("user_1"))}
		},
			false, true, false, 503, codes.Unavailable, "unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spans := tracetest.NewSpanRecorder()
			e := newGRPCEnvWith(t, grpcEnvOptions{tracing: observe.NewTracingWith(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))})
			if tc.outage {
				e.fake.SetJWKSResponse(http.StatusInternalServerError, `{"errors":[]}`)
			}
			target := "/dashboard"
			switch {
			case tc.outcome == "forbidden":
				target = "/team/x" // grpcRoutes: org acme, which the token lacks
			case tc.unreadable:
				target = "/x/%2e%2e/admin" // an ambiguous path: refused by both readers
			}
			headers := append(tc.headers(e), "Traceparent", "00-"+traceID+"-"+parentID+"-01")

			w := e.envoyHTTPCheck("GET", target, headers)
			if w.Code != tc.httpStatus {
				t.Fatalf("HTTP: status %d, want %d", w.Code, tc.httpStatus)
			}

			check := envoyCheck("GET", target, headers, nil)
			ctx := context.Background()
			if tc.metadata {
				ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", "00-"+traceID+"-"+metadataParentID+"-01")
			}
			resp, err := e.client.Check(ctx, check)
			code := status.Code(err)
			if err == nil {
				code = codes.Code(resp.GetStatus().GetCode())
			}
			if code != tc.grpcCode {
				t.Fatalf("gRPC: code %v (%v), want %v", code, err, tc.grpcCode)
			}

			byName := map[string]sdktrace.ReadOnlySpan{}
			for _, s := range spansNamed(spans, "decide ") {
				byName[s.Name()] = s
			}
			httpSpan, grpcSpan := byName["decide ext-authz"], byName["decide ext-authz-grpc"]
			if httpSpan == nil || grpcSpan == nil || len(byName) != 2 {
				t.Fatalf("decision spans %v, want decide ext-authz and decide ext-authz-grpc", keys(byName))
			}
			grpcParent := parentID
			if tc.metadata {
				grpcParent = metadataParentID
			}
			for _, sp := range []struct {
				span   sdktrace.ReadOnlySpan
				parent string
			}{{httpSpan, parentID}, {grpcSpan, grpcParent}} {
				s := sp.span
				if s.SpanKind() != trace.SpanKindServer || s.SpanContext().TraceID().String() != traceID || s.Parent().SpanID().String() != sp.parent {
					t.Errorf("%s: kind %v trace %s parent %s, want a server span continuing %s-%s",
						s.Name(), s.SpanKind(), s.SpanContext().TraceID(), s.Parent().SpanID(), traceID, sp.parent)
				}
				if failed := s.Status().Code == otelcodes.Error; failed != tc.outage {
					t.Errorf("%s: span status %v, want an error only for an outage", s.Name(), s.Status())
				}
			}
			httpAttrs, grpcAttrs := spanAttrs(httpSpan), spanAttrs(grpcSpan)
			if httpAttrs["authz.endpoint"] != "ext-authz" || grpcAttrs["authz.endpoint"] != grpcEndpoint {
				t.Errorf("authz.endpoint %q and %q", httpAttrs["authz.endpoint"], grpcAttrs["authz.endpoint"])
			}
			if httpAttrs["http.response.status_code"] != strconv.Itoa(tc.httpStatus) || grpcAttrs["rpc.grpc.status_code"] != strconv.Itoa(int(tc.grpcCode)) {
				t.Errorf("status attributes %q (HTTP) and %q (gRPC), want %d and %d",
					httpAttrs["http.response.status_code"], grpcAttrs["rpc.grpc.status_code"], tc.httpStatus, tc.grpcCode)
			}
			for _, m := range []map[string]string{httpAttrs, grpcAttrs} {
				delete(m, "authz.endpoint")
				delete(m, "http.response.status_code")
				delete(m, "rpc.grpc.status_code")
			}
			if !reflect.DeepEqual(httpAttrs, grpcAttrs) {
				t.Errorf("decision attributes differ:\nHTTP %v\ngRPC %v", httpAttrs, grpcAttrs)
			}
			if grpcAttrs["authz.outcome"] != tc.outcome || grpcAttrs["authz.reason"] == "" {
				t.Errorf("attributes %v, want outcome %s and a reason", grpcAttrs, tc.outcome)
			}
			if !tc.unreadable && (grpcAttrs["http.request.method"] != "GET" || grpcAttrs["server.address"] != "app.example.test") {
				t.Errorf("attributes %v, want the original method and host", grpcAttrs)
			}
			if wantUser := tc.outcome == "allow" || tc.outcome == "forbidden"; (grpcAttrs["enduser.id"] == "user_1") != wantUser {
				t.Errorf("enduser.id %q", grpcAttrs["enduser.id"])
			}
		})
	}
}

// spansNamed are the ended spans whose names start with prefix.
func spansNamed(spans *tracetest.SpanRecorder, prefix string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if strings.HasPrefix(s.Name(), prefix) {
			out = append(out, s)
		}
	}
	return out
}

// spanAttrs is a span's attributes as strings.
func spanAttrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}
