package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/authz/authztest"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
	"github.com/clerk-forward-auth/clerk-forward-auth/observe"
)

// obsEnv is the service wired as main wires it: metrics on the Backend API
// client, the JWKS fetches and the membership cache; the access log and
// the engine's own log in one captured buffer; spans in memory.
type obsEnv struct {
	fake    *clerktest.Server
	handler http.Handler
	logs    *authztest.LogBuffer
	spans   *tracetest.SpanRecorder
}

type obsOptions struct {
	allowSample float64
	secretKey   string // default: the fake's
	readyChecks []ReadyCheck
	noMetrics   bool // no /metrics on the main router (METRICS_ADDR set)
}

func newObsEnv(t *testing.T, o obsOptions) *obsEnv {
	t.Helper()
	logs := &authztest.LogBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	spans := tracetest.NewSpanRecorder()
	tracing := observe.NewTracingWith(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	metrics := observe.NewMetrics("test")
	env := authztest.New(t, authztest.Options{
		Fake:       clerktest.Options{Production: true},
		SecretKey:  o.secretKey, // empty: the fake's
		UserAgent:  "observability-test",
		HTTPClient: &http.Client{Timeout: 5 * time.Second, Transport: tracing.Transport(nil, func(r *http.Request) string { return clerk.RouteTemplate(r.URL.Path) })},
		RemoteKeys: clerk.RemoteKeysOptions{OnFetch: metrics.JWKSFetch},
		Engine:     authz.Options{Logger: logger},
		Setup: func(e *authztest.Env, _ *authz.Config, eo *authz.Options) {
			e.API.OnCall = metrics.APICall
			lookup, err := authz.NewMembershipLookup(e.API, authz.LookupOptions{Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			if err := metrics.RegisterCache("memberships", lookup); err != nil {
				t.Fatal(err)
			}
			eo.Memberships, eo.HandshakePayloads = lookup, e.API
		},
	})
	fake := env.Fake
	opts := Options{
		Engine: env.Engine, Logger: logger, Metrics: metrics, Tracing: tracing, ReadyChecks: o.readyChecks,
		AccessLog: observe.NewAccessLog(logger, observe.AccessLogOptions{AllowSample: o.allowSample}),
	}
	if !o.noMetrics {
		opts.MetricsHandler = metrics.Handler()
	}
	return &obsEnv{fake: fake, handler: NewRouter(opts), logs: logs, spans: spans}
}

func (e *obsEnv) do(method, target string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			r.Host = headers[i+1]
			continue
		}
		r.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	return w
}

// scrape reads /metrics into series → value ("name{labels}" as exposed).
func (e *obsEnv) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	w := e.do("GET", "/metrics")
	if w.Code != 200 {
		t.Fatalf("/metrics: %d", w.Code)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(w.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// decisionLines are the access-log lines.
func (e *obsEnv) decisionLines(t *testing.T) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, raw := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", raw)
		}
		if m["msg"] == "decision" {
			lines = append(lines, m)
		}
	}
	return lines
}

// tokens mints the tokens the scripts use.
type tokens struct {
	valid, expired, badSignature string
	expiredIat                   int64
}

func mint(t *testing.T, fake *clerktest.Server, userID string) tokens {
	t.Helper()
	other, err := clerktest.NewSigningKey(fake.Key().Kid) // same kid: no JWKS refetch
	if err != nil {
		t.Fatal(err)
	}
	expired := fake.SessionClaims(userID)
	iat := time.Now().Add(-2 * time.Hour).Unix()
	expired["iat"], expired["nbf"], expired["exp"] = iat, iat, time.Now().Add(-time.Hour).Unix()
	return tokens{
		valid:        fake.Sign(fake.SessionClaims(userID)),
		expired:      fake.Sign(expired),
		badSignature: clerktest.SignWith(other, clerktest.Header{"alg": "RS256", "kid": other.Kid, "typ": "JWT"}, fake.SessionClaims(userID)),
		expiredIat:   iat,
	}
}

func TestMetricsCountAScriptedSetOfDecisionsExactly(t *testing.T) {
	e := newObsEnv(t, obsOptions{allowSample: 1})
	e.fake.AddMembership("user_1", "org_acme", "acme", "org:admin")
	tok := mint(t, e.fake, "user_1")
	before := e.scrape(t)
	browser := []string{"Accept", "text/html", "Sec-Fetch-Dest", "document"}
	expiredCookie := "__session=" + tok.expired + "; __client_uat=" + strconv.FormatInt(tok.expiredIat, 10)

	script := []struct {
		target  string
		headers []string
		status  int
	}{
		{"/forward-auth", with(traefikHeaders, "Authorization", "Bearer "+tok.valid), 200},
		{"/forward-auth?org=acme", with(traefikHeaders, "Authorization", "Bearer "+tok.valid), 200},      // membership: API call
		{"/forward-auth?org=acme", with(traefikHeaders, "Authorization", "Bearer "+tok.valid), 200},      // cache hit
		{"/forward-auth?org=org_other", with(traefikHeaders, "Authorization", "Bearer "+tok.valid), 403}, // cache hit
		{"/forward-auth", traefikHeaders, 401},                                                           // nothing
		{"/forward-auth", with(traefikHeaders, "Authorization", "Bearer "+tok.badSignature), 401},        //
		{"/forward-auth", with(traefikHeaders, "Authorization", "Bearer "+tok.expired), 401},             //
		{"/forward-auth", []string{"X-Forwarded-Proto", "https"}, 400},                                   // bad proxy request
		{"/auth-request", append(with(nginxHeaders, browser...), "Cookie", expiredCookie), 401},          // handshake, NGINX style
		{"/ext-authz/dashboard", with(envoyHeaders, "Authorization", "Bearer "+tok.valid), 200},          //
	}
	for i, s := range script {
		if w := e.do("GET", s.target, s.headers...); w.Code != s.status {
			t.Fatalf("step %d %s: status %d, want %d (%s)", i, s.target, w.Code, s.status, w.Body)
		}
	}
	after := e.scrape(t)

	expired := "session-token-expired-refresh-non-eligible-no-refresh-cookie"
	want := map[string]float64{
		`clerk_forward_auth_decisions_total{endpoint="forward-auth",outcome="allow",reason="none"}`:                                    3,
		`clerk_forward_auth_decisions_total{endpoint="forward-auth",outcome="forbidden",reason="not-organization-member"}`:             1,
		`clerk_forward_auth_decisions_total{endpoint="forward-auth",outcome="unauthenticated",reason="session-token-and-uat-missing"}`: 1,
		`clerk_forward_auth_decisions_total{endpoint="forward-auth",outcome="unauthenticated",reason="token-invalid-signature"}`:       1,
		`clerk_forward_auth_decisions_total{endpoint="forward-auth",outcome="unauthenticated",reason="` + expired + `"}`:               1,
		`clerk_forward_auth_decisions_total{endpoint="forward-auth",outcome="bad-request",reason="bad-proxy-request"}`:                 1,
		`clerk_forward_auth_decisions_total{endpoint="auth-request",outcome="handshake",reason="` + expired + `"}`:                     1,
		`clerk_forward_auth_decisions_total{endpoint="ext-authz",outcome="allow",reason="none"}`:                                       1,
		`clerk_forward_auth_decision_duration_seconds_count{endpoint="forward-auth"}`:                                                  8,
		`clerk_forward_auth_decision_duration_seconds_count{endpoint="auth-request"}`:                                                  1,
		`clerk_forward_auth_decision_duration_seconds_count{endpoint="ext-authz"}`:                                                     1,
		`clerk_forward_auth_jwks_fetches_total{result="ok"}`:                                                                           1,
		`clerk_forward_auth_jwks_fetch_duration_seconds_count`:                                                                         1,
		`clerk_forward_auth_backend_api_requests_total{route="/jwks",status_class="2xx"}`:                                              1,
		`clerk_forward_auth_backend_api_requests_total{route="/users/{id}/organization_memberships",status_class="2xx"}`:               1,
		`clerk_forward_auth_backend_api_request_duration_seconds_count{route="/jwks"}`:                                                 1,
		`clerk_forward_auth_cache_misses_total{cache="memberships"}`:                                                                   1,
		`clerk_forward_auth_cache_hits_total{cache="memberships"}`:                                                                     2,
		`clerk_forward_auth_cache_stale_serves_total{cache="memberships"}`:                                                             0,
		`clerk_forward_auth_cache_coalesced_waits_total{cache="memberships"}`:                                                          0,
		`clerk_forward_auth_rate_limit_backoffs_total{cache="memberships"}`:                                                            0,
	}
	for series, delta := range want {
		if got := after[series] - before[series]; got != delta {
			t.Errorf("%s grew by %v, want %v", series, got, delta)
		}
	}
	if after[`clerk_forward_auth_jwks_keys`] != 1 {
		t.Errorf("jwks_keys = %v, want 1", after[`clerk_forward_auth_jwks_keys`])
	}
	// Nothing else was counted: every decision series is one of the above,
	// and no label carries a user id, host or path.
	for series := range after {
		if strings.HasPrefix(series, "clerk_forward_auth_decisions_total") {
			if _, ok := want[series]; !ok {
				t.Errorf("unexpected series %s", series)
			}
		}
		for _, leak := range []string{"user_1", "app.example.test", "dashboard", "org_acme"} {
			if strings.Contains(series, leak) {
				t.Errorf("series %s carries %q", series, leak)
			}
		}
	}
	// One access-log line per decision.
	if n := len(e.decisionLines(t)); n != len(script) {
		t.Errorf("%d access-log lines, want %d", n, len(script))
	}
}

func TestAccessLogLineCarriesTheDecision(t *testing.T) {
	e := newObsEnv(t, obsOptions{allowSample: 1})
	e.fake.AddMembership("user_1", "org_acme", "acme", "org:admin")
	tok := mint(t, e.fake, "user_1")
	w := e.do("GET", "/forward-auth?org=acme", with(traefikHeaders, "Authorization", "Bearer "+tok.valid,
		"X-Request-Id", "req-abc.1", "X-Forwarded-For", "198.51.100.1, 203.0.113.9",
		"Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")...)
	if w.Code != 200 || w.Header().Get("X-Request-Id") != "req-abc.1" {
		t.Fatalf("status %d, X-Request-Id %q", w.Code, w.Header().Get("X-Request-Id"))
	}
	lines := e.decisionLines(t)
	if len(lines) != 1 {
		t.Fatalf("%d lines", len(lines))
	}
	line := lines[0]
	want := map[string]any{
		"level": "INFO", "endpoint": "forward-auth", "method": "GET", "host": "app.example.test",
		"path": "/dashboard", "status": 200.0, "outcome": "allow", "reason": "", "user_id": "user_1",
		"org_id": "org_acme", "client_ip": "203.0.113.9", "request_id": "req-abc.1",
		"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %#v, want %#v", k, line[k], v)
		}
	}
	if ms, _ := line["latency_ms"].(float64); ms <= 0 {
		t.Errorf("latency_ms = %v", line["latency_ms"])
	}
	if _, err := time.Parse(time.RFC3339Nano, line["time"].(string)); err != nil {
		t.Errorf("time: %v", err)
	}

	// A request id that is not a sane token is replaced, in the log and
	// in the reply alike.
	w = e.do("GET", "/forward-auth", with(traefikHeaders, "X-Request-Id", "bad id\"}")...)
	got := w.Header().Get("X-Request-Id")
	lines = e.decisionLines(t)
	if len(got) != 32 || lines[1]["request_id"] != got {
		t.Errorf("replaced request id %q, logged %v", got, lines[1]["request_id"])
	}
	if lines[1]["outcome"] != "unauthenticated" || lines[1]["reason"] != "session-token-and-uat-missing" {
		t.Errorf("denial line %v", lines[1])
	}
}

func TestAllowSamplingDropsAllowLinesButNotDenialsOrMetrics(t *testing.T) {
	e := newObsEnv(t, obsOptions{allowSample: 0})
	tok := mint(t, e.fake, "user_1")
	for range 3 {
		e.do("GET", "/forward-auth", with(traefikHeaders, "Authorization", "Bearer "+tok.valid)...)
	}
	e.do("GET", "/forward-auth", traefikHeaders...)
	lines := e.decisionLines(t)
	if len(lines) != 1 || lines[0]["outcome"] != "unauthenticated" {
		t.Fatalf("lines %v, want only the denial", lines)
	}
	if got := e.scrape(t)[`clerk_forward_auth_decisions_total{endpoint="forward-auth",outcome="allow",reason="none"}`]; got != 3 {
		t.Errorf("allow counter %v, want 3: sampling is for logs only", got)
	}
}

// TestNoSecretReachesLogsMetricsOrSpans runs every rejection path with
// tokens, cookies and secret-looking values, then searches everything the
// service emitted (log lines, /metrics, span names, attributes, events)
// for them.
func TestNoSecretReachesLogsMetricsOrSpans(t *testing.T) {
	e := newObsEnv(t, obsOptions{allowSample: 1})
	tok := mint(t, e.fake, "user_1")
	cookieTok := mint(t, e.fake, "user_2")
	handshakeTok := e.fake.Sign(e.fake.SessionClaims("user_3"))
	pathTok := e.fake.Sign(e.fake.SessionClaims("user_4"))
	hsKey, _ := clerktest.NewSigningKey("other")
	hs256 := clerktest.SignWith(hsKey, clerktest.Header{"alg": "HS256", "kid": e.fake.Key().Kid, "typ": "JWT"}, e.fake.SessionClaims("user_5"))
	garbage := "garbageCookieValue7f3a.bm90IGpzb24.c2ln"
	secretLooking := "sk_live_ThisLooksLikeASecretKey0123456789"
	browser := []string{"Accept", "text/html", "Sec-Fetch-Dest", "document"}
	uat := strconv.FormatInt(cookieTok.expiredIat, 10)
	handshake := e.fake.HandshakeToken([]string{
		"__session=" + handshakeTok + "; Path=/; Secure; SameSite=Lax",
		"__client_uat=" + strconv.FormatInt(time.Now().Unix(), 10) + "; Path=/; Secure; SameSite=Lax",
	})
	secrets := map[string]string{
		"valid token": tok.valid, "expired token": tok.expired, "bad-signature token": tok.badSignature,
		"cookie token": cookieTok.expired, "handshake session": handshakeTok, "handshake token": handshake,
		"token in path": pathTok, "HS256 token": hs256, "garbage cookie": garbage,
		"secret-looking bearer": secretLooking, "secret key": e.fake.SecretKey,
	}

	steps := []struct {
		name, target string
		headers      []string
		status       int
	}{
		{"bad signature", "/forward-auth", with(traefikHeaders, "Authorization", "Bearer "+tok.badSignature), 401},
		{"expired bearer", "/forward-auth", with(traefikHeaders, "Authorization", "Bearer "+tok.expired), 401},
		{"algorithm confusion", "/forward-auth", with(traefikHeaders, "Authorization", "Bearer "+hs256), 401},
		{"garbage cookie", "/forward-auth", with(traefikHeaders, "Cookie", "__session="+garbage+"; __client_uat=1"), 401},
		{"secret-looking bearer", "/forward-auth", with(traefikHeaders, "Authorization", "Bearer "+secretLooking), 401},
		{"the secret key as bearer", "/forward-auth", with(traefikHeaders, "Authorization", "Bearer "+e.fake.SecretKey), 401},
		{"handshake redirect", "/forward-auth", append(with(traefikHeaders, browser...), "Cookie", "__session="+cookieTok.expired+"; __client_uat="+uat), 307},
		{"handshake via NGINX", "/auth-request", append(with(nginxHeaders, browser...), "Cookie", "__session="+cookieTok.expired+"; __client_uat="+uat), 401},
		{"forbidden", "/forward-auth?org=org_none", with(traefikHeaders, "Authorization", "Bearer "+tok.valid), 403},
		{"token in the original query", "/forward-auth", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.test", "X-Forwarded-Uri", "/x?__session=" + tok.valid}, 401},
		{"token in the original path", "/ext-authz/t/" + pathTok, envoyHeaders, 401},
		{"bad proxy request with a token", "/forward-auth", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "bad host", "X-Forwarded-Uri", "/?t=" + tok.valid, "Authorization", "Bearer " + tok.valid}, 400},
		{"callback with a handshake token", "/_auth/callback?redirect_url=" + url.QueryEscape("https://app.example.test/a") + "&__clerk_handshake=" + handshake, []string{"Host", "app.example.test", "X-Forwarded-Proto", "https"}, 307},
	}
	var locations []string
	for _, s := range steps {
		w := e.do("GET", s.target, s.headers...)
		if w.Code != s.status {
			t.Errorf("%s: status %d, want %d (%s)", s.name, w.Code, s.status, w.Body)
		}
		if loc := w.Header().Get("Location"); loc != "" {
			locations = append(locations, loc)
		}
	}
	// The handshake redirect does carry the token: the log must not print it.
	if len(locations) < 2 || !strings.Contains(locations[0], url.QueryEscape(cookieTok.expired)) {
		t.Fatalf("handshake Location does not carry the session token; the test proves nothing: %v", locations)
	}

	var emitted strings.Builder
	emitted.WriteString(e.logs.String())
	w := e.do("GET", "/metrics")
	_, _ = io.Copy(&emitted, w.Body)
	for _, s := range e.spans.Ended() {
		emitted.WriteString(s.Name() + " " + s.Status().Description + "\n")
		for _, kv := range s.Attributes() {
			emitted.WriteString(string(kv.Key) + "=" + kv.Value.String() + "\n")
		}
		for _, ev := range s.Events() {
			emitted.WriteString(ev.Name + "\n")
			for _, kv := range ev.Attributes {
				emitted.WriteString(string(kv.Key) + "=" + kv.Value.String() + "\n")
			}
		}
	}
	out := emitted.String()
	if n := len(e.decisionLines(t)); n != len(steps) {
		t.Errorf("%d access-log lines for %d steps", n, len(steps))
	}
	for name, secret := range secrets {
		for _, probe := range []string{secret, secret[len(secret)-20:], url.QueryEscape(secret)} {
			if strings.Contains(out, probe) {
				t.Errorf("the %s (…%s) was emitted", name, probe[len(probe)-8:])
			}
		}
	}
	for _, loc := range locations {
		if strings.Contains(out, loc) {
			t.Errorf("a Location was emitted: %.60s…", loc)
		}
	}
	if strings.Contains(out, "__session=") || strings.Contains(out, "__clerk_handshake=") {
		t.Error("a cookie or handshake parameter was emitted")
	}
}

func TestKeyOutagesAndBadSecretKeysDoNotLeakEither(t *testing.T) {
	wrongSecret := "sk_test_WrongButSecretValue0123456789"
	for _, tt := range []struct {
		name   string
		o      obsOptions
		break_ func(*clerktest.Server)
		result string
	}{
		{"wrong secret key", obsOptions{secretKey: wrongSecret}, func(*clerktest.Server) {}, "secret-key-invalid"},
		{"JWKS endpoint failing", obsOptions{}, func(f *clerktest.Server) { f.SetJWKSResponse(500, `{"errors":[{"code":"internal_clerk_error"}]}`) }, "jwk-remote-failed-to-load"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newObsEnv(t, tt.o)
			tt.break_(e.fake)
			tok := e.fake.Sign(e.fake.SessionClaims("user_1"))
			w := e.do("GET", "/forward-auth", with(traefikHeaders, "Authorization", "Bearer "+tok)...)
			if w.Code != 503 {
				t.Fatalf("status %d, want 503", w.Code)
			}
			m := e.scrape(t)
			if m[`clerk_forward_auth_jwks_fetches_total{result="`+tt.result+`"}`] != 1 {
				t.Errorf("jwks fetch failure not counted as %s", tt.result)
			}
			if m[`clerk_forward_auth_decisions_total{endpoint="forward-auth",outcome="unavailable",reason="`+tt.result+`"}`] != 1 {
				t.Errorf("unavailable decision not counted")
			}
			lines := e.decisionLines(t)
			if len(lines) != 1 || lines[0]["level"] != "ERROR" {
				t.Errorf("lines %v, want one ERROR line", lines)
			}
			for _, secret := range []string{wrongSecret, e.fake.SecretKey, tok} {
				if strings.Contains(e.logs.String(), secret) {
					t.Errorf("log carries a secret: %s", e.logs.String())
				}
			}
		})
	}
}

// TestTraceOfADecisionThatFetchesKeysAndMemberships: the decision span
// continues the proxy's trace, and the JWKS fetch and the membership
// lookup it causes are its children.
func TestTraceOfADecisionThatFetchesKeysAndMemberships(t *testing.T) {
	e := newObsEnv(t, obsOptions{allowSample: 1})
	e.fake.AddMembership("user_1", "org_acme", "acme", "org:admin")
	tok := mint(t, e.fake, "user_1")
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	w := e.do("GET", "/forward-auth?org=acme", with(traefikHeaders, "Authorization", "Bearer "+tok.valid,
		"Traceparent", "00-"+traceID+"-"+parentID+"-01")...)
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range e.spans.Ended() {
		byName[s.Name()] = s
	}
	decide, jwks, members := byName["decide forward-auth"], byName["GET /v1/jwks"], byName["GET /v1/users/{id}/organization_memberships"]
	if decide == nil || jwks == nil || members == nil {
		t.Fatalf("spans %v, want decide forward-auth, GET /v1/jwks and GET /v1/users/{id}/organization_memberships", keys(byName))
	}
	if len(byName) != 3 {
		t.Errorf("spans %v, want exactly 3", keys(byName))
	}
	if decide.SpanContext().TraceID().String() != traceID || decide.Parent().SpanID().String() != parentID || !decide.Parent().IsRemote() {
		t.Errorf("decision span does not continue the proxy's trace: trace %s parent %s", decide.SpanContext().TraceID(), decide.Parent().SpanID())
	}
	for _, child := range []sdktrace.ReadOnlySpan{jwks, members} {
		if child.Parent().SpanID() != decide.SpanContext().SpanID() || child.SpanKind() != trace.SpanKindClient {
			t.Errorf("%s: parent %s kind %v, want child of the decision span", child.Name(), child.Parent().SpanID(), child.SpanKind())
		}
		childAttrs := attribute.NewSet(child.Attributes()...)
		if v, _ := childAttrs.Value("http.response.status_code"); v.AsInt64() != 200 {
			t.Errorf("%s status %v", child.Name(), v)
		}
	}
	attrs := attribute.NewSet(decide.Attributes()...)
	for k, want := range map[attribute.Key]string{"authz.endpoint": "forward-auth", "authz.outcome": "allow", "authz.reason": "none", "enduser.id": "user_1"} {
		if v, _ := attrs.Value(k); v.AsString() != want {
			t.Errorf("decision span %s = %q, want %q", k, v.AsString(), want)
		}
	}
	if v, _ := attrs.Value("http.response.status_code"); v.AsInt64() != 200 {
		t.Errorf("decision span status %v", v)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestReadyzReportsEachCheck(t *testing.T) {
	e := newObsEnv(t, obsOptions{readyChecks: []ReadyCheck{
		{Name: "backend_api", Check: func(context.Context) error { return errors.New("last call answered 503") }},
	}})
	type body struct {
		Status string `json:"status"`
		Checks []struct {
			Name  string `json:"name"`
			OK    bool   `json:"ok"`
			Fatal bool   `json:"fatal"`
			Error string `json:"error"`
		} `json:"checks"`
	}
	read := func() (int, body) {
		w := e.do("GET", "/readyz")
		var b body
		if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
			t.Fatalf("readyz body %q: %v", w.Body, err)
		}
		return w.Code, b
	}
	code, b := read()
	if code != 503 || b.Status != "not_ready" || b.Checks[0].Name != "keys" || b.Checks[0].OK {
		t.Errorf("before keys: %d %+v", code, b)
	}
	tok := e.fake.Sign(e.fake.SessionClaims("user_1"))
	e.do("GET", "/forward-auth", with(traefikHeaders, "Authorization", "Bearer "+tok)...) // loads the keys
	code, b = read()
	if code != 200 || b.Status != "ready" || !b.Checks[0].OK {
		t.Errorf("after keys: %d %+v", code, b)
	}
	if c := b.Checks[1]; c.Name != "backend_api" || c.OK || c.Fatal || c.Error != "last call answered 503" {
		t.Errorf("backend_api check %+v: want reported, not fatal", c)
	}

	fatal := newObsEnv(t, obsOptions{readyChecks: []ReadyCheck{
		{Name: "policy", Fatal: true, Check: func(context.Context) error { return errors.New("policy not loaded") }},
	}})
	fatal.do("GET", "/forward-auth", with(traefikHeaders, "Authorization", "Bearer "+fatal.fake.Sign(fatal.fake.SessionClaims("u")))...)
	if w := fatal.do("GET", "/readyz"); w.Code != 503 {
		t.Errorf("failing fatal check: %d, want 503", w.Code)
	}
	if w := fatal.do("GET", "/healthz"); w.Code != 200 {
		t.Errorf("healthz %d", w.Code)
	}
}

func TestMetricsAreOnTheMainRouterOnlyWhenAsked(t *testing.T) {
	if w := newObsEnv(t, obsOptions{}).do("GET", "/metrics"); w.Code != 200 || !strings.Contains(w.Body.String(), "clerk_forward_auth_build_info") {
		t.Errorf("with MetricsHandler: %d", w.Code)
	}
	if w := newObsEnv(t, obsOptions{noMetrics: true}).do("GET", "/metrics"); w.Code != 404 {
		t.Errorf("without MetricsHandler (METRICS_ADDR set): %d, want 404", w.Code)
	}
}
