package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/authz/authztest"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
	"github.com/clerk-forward-auth/clerk-forward-auth/observe"
)

// TestHeaderConstantsAreCanonical: header() and headerSetter look keys up
// and store them without canonicalising, so each constant must already be
// in http.Header's canonical form (X-Original-Url, not X-Original-URL) or
// the lookup silently misses.
func TestHeaderConstantsAreCanonical(t *testing.T) {
	for _, k := range []string{
		headerForwardedMethod, headerForwardedProto, headerForwardedHost, headerForwardedURI, headerForwardedFor,
		headerOriginalMethod, headerOriginalURL, headerOriginalURI, headerRequestID,
		headerCacheControl, headerSetCookie, headerLocation, headerClerkAuthReason, headerClerkAuthStatus,
		headerWWWAuthenticate, headerRetryAfter, headerContentType, headerContentTypeOptions, headerEnvoyRemove,
		HeaderUserEmail, HeaderUserName,
	} {
		if c := http.CanonicalHeaderKey(k); c != k {
			t.Errorf("%q is not canonical (%q)", k, c)
		}
	}
	for i, k := range IdentityHeaders {
		if c := http.CanonicalHeaderKey(k); c != k {
			t.Errorf("%q is not canonical (%q)", k, c)
		}
		if identityHeadersLower[i] != strings.ToLower(k) {
			t.Errorf("identityHeadersLower[%d] = %q, want %q", i, identityHeadersLower[i], strings.ToLower(k))
		}
	}
	if lowerHeaderUserEmail != strings.ToLower(HeaderUserEmail) || lowerHeaderUserName != strings.ToLower(HeaderUserName) {
		t.Error("lower-case profile header names")
	}
}

// TestHeaderSetterValuesDoNotAlias: values share one backing array, so a
// later Add to one header must not overwrite the next header's value.
func TestHeaderSetterValuesDoNotAlias(t *testing.T) {
	h := http.Header{}
	hs := newHeaderSetter(h)
	hs.set("A", "1")
	hs.set("B", "2")
	h.Add("A", "1b")
	hs.set("C", "3")
	want := http.Header{"A": {"1", "1b"}, "B": {"2"}, "C": {"3"}}
	for i := len(hs.vals); i <= maxRenderedHeaderValues; i++ { // one beyond the planned count
		k := fmt.Sprintf("X-%d", i)
		hs.set(k, k)
		want[k] = []string{k}
	}
	if fmt.Sprint(h) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", h, want)
	}
}

// encoderBody is how writeJSON wrote bodies before: a json.Encoder.
func encoderBody(errWord, reason string) string {
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(struct {
		Error  string `json:"error"`
		Reason string `json:"reason"`
	}{errWord, reason})
	return buf.String()
}

// TestWriteJSONIsEncodingJSONsBytes compares the append-built reply body
// with json.Encoder's on random text: HTML characters, control characters,
// invalid UTF-8, U+2028/U+2029.
func TestWriteJSONIsEncodingJSONsBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, uint64(time.Now().UnixNano())))
	pieces := []string{"a", "token-invalid", " ", "\"", "\\", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "<", ">", "&", "'",
		"é", "😀", "\u2028", "\u2029", "\x80", "\xc3", "\xed\xa0\x80", "\xff", "/"}
	text := func() string {
		if rng.IntN(5) == 0 {
			b := make([]byte, rng.IntN(20))
			for i := range b {
				b[i] = byte(rng.UintN(256))
			}
			return string(b)
		}
		var sb strings.Builder
		for range rng.IntN(10) {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return sb.String()
	}
	for i := range 20000 {
		errWord, reason := text(), text()
		w := httptest.NewRecorder()
		if got := writeJSON(w, 418, errWord, reason); got != 418 || w.Code != 418 {
			t.Fatalf("status %d/%d", got, w.Code)
		}
		if want := encoderBody(errWord, reason); w.Body.String() != want {
			t.Fatalf("case %d (%q, %q):\n got %q\nwant %q", i, errWord, reason, w.Body.String(), want)
		}
		if w.Header().Get("Content-Type") != "application/json" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("headers %v", w.Header())
		}
	}
}

// originalHostByURLParse is originalHost as it was, every host through
// url.Parse: the reference for the shortcut taken for plain names.
func originalHostByURLParse(h string) (string, error) {
	if h == "" || len(h) > 255 {
		return "", errBad("bad")
	}
	h = strings.ToLower(h)
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':' || c == '[' || c == ']') {
			return "", errBad("bad")
		}
	}
	u, err := url.Parse("http://" + h)
	if err != nil || u.Host != h || u.Hostname() == "" {
		return "", errBad("bad")
	}
	if host, port := u.Hostname(), u.Port(); strings.HasSuffix(host, ".") {
		h = strings.TrimSuffix(host, ".")
		if h == "" || strings.HasSuffix(h, ".") {
			return "", errBad("bad")
		}
		if strings.Contains(h, ":") {
			h = "[" + h + "]"
		}
		if port != "" {
			h += ":" + port
		}
	}
	return h, nil
}

func TestOriginalHostAgreesWithURLParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, uint64(time.Now().UnixNano())))
	alphabet := "abcXYZ019-.:[]_%@ "
	fixed := []string{"app.example.com", "APP.Example.COM.", ".", "..", "a..", "a.", "-", "1.2.3.4", "1.2.3.4.", "[::1]", "[::1]:8080",
		"app.example.com:443", "app.example.com.:443", "[fe80::1%25eth0]", "a:b:c", "", strings.Repeat("a", 256)}
	for i := range 200000 + len(fixed) {
		var h string
		if i < len(fixed) {
			h = fixed[i]
		} else {
			b := make([]byte, 1+rng.IntN(12))
			for j := range b {
				b[j] = alphabet[rng.IntN(len(alphabet))]
			}
			h = string(b)
		}
		got, gotErr := originalHost(h)
		want, wantErr := originalHostByURLParse(h)
		if got != want || (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: got %q %v, want %q %v", h, got, gotErr, want, wantErr)
		}
	}
}

// TestRuleQueryCache: a rule query is parsed once and then answered from
// the cache, errors too; the clients'-query refusal still applies to a
// cached query; the cache stops growing at its bound and queries beyond
// it are still parsed correctly.
func TestRuleQueryCache(t *testing.T) {
	c := newRuleCache()
	req := func(authQuery, originalQuery string) (*http.Request, *authz.Request) {
		return httptest.NewRequest("GET", "/forward-auth?"+authQuery, nil),
			&authz.Request{URL: &url.URL{Scheme: "https", Host: "app.example.test", Path: "/", RawQuery: originalQuery}}
	}
	r, ar := req("org=acme&role=org:admin", "")
	first, err := c.fromQuery(r, ar)
	if err != nil || first == nil || len(first.Orgs) != 1 || first.Orgs[0] != "acme" || len(first.Roles) != 1 {
		t.Fatalf("rule %+v, %v", first, err)
	}
	r, ar = req("org=acme&role=org:admin", "tab=1")
	if again, err := c.fromQuery(r, ar); again != first || err != nil {
		t.Fatalf("second lookup %p %v, want the cached %p", again, err, first)
	}
	r, ar = req("org=acme&role=org:admin", "org=acme&role=org:admin")
	if rule, err := c.fromQuery(r, ar); err != errQueryIsClients || rule != nil {
		t.Fatalf("client's own query: %v %v", rule, err)
	}
	r, ar = req("role=Not%20A%20Role", "")
	_, err1 := c.fromQuery(r, ar)
	_, err2 := c.fromQuery(r, ar)
	if err1 == nil || err2 == nil || err1.Error() != err2.Error() {
		t.Fatalf("bad rule: %v, then %v", err1, err2)
	}
	for i := range 3 * maxCachedRuleQueries {
		r, ar = req(fmt.Sprintf("org=org_%d", i), "")
		rule, err := c.fromQuery(r, ar)
		if err != nil || len(rule.Orgs) != 1 || rule.Orgs[0] != fmt.Sprintf("org_%d", i) {
			t.Fatalf("query %d: %+v %v", i, rule, err)
		}
	}
	if n := c.m.Len(); n != maxCachedRuleQueries {
		t.Fatalf("%d cached queries, want the bound %d", n, maxCachedRuleQueries)
	}
}

// TestGRPCDecisionsAreCountedAndLogged: a gRPC check goes through the
// same observer as HTTP: decisions_total and the duration histogram grow
// by exactly the checks made, bad requests included, each with one access
// log line.
func TestGRPCDecisionsAreCountedAndLogged(t *testing.T) {
	logs := &authztest.LogBuffer{}
	logger := slog.New(observe.NewJSONHandler(logs, nil))
	wired := authztest.New(t, authztest.Options{Fake: clerktest.Options{Production: true}, StaticKeys: true, Engine: authz.Options{Logger: logger}})
	metrics := observe.NewMetrics("test")
	o := Options{Engine: wired.Engine, Logger: logger, Metrics: metrics, MetricsHandler: metrics.Handler(),
		AccessLog: observe.NewAccessLog(logger, observe.AccessLogOptions{AllowSample: 1})}
	srv := NewGRPCServer(o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := authv3.NewAuthorizationClient(conn)
	env := &obsEnv{handler: NewRouter(o), logs: logs}

	valid := []string{"Authorization", "Bearer " + wired.Token("user_1", nil)}
	garbage := []string{"Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.bm9wZQ.c2ln"}
	before := env.scrape(t)
	checks := []*authv3.CheckRequest{
		envoyCheck("GET", "/a", valid, nil),
		envoyCheck("GET", "/b", valid, nil),
		envoyCheck("GET", "/c", garbage, nil),
		envoyCheck("GET", "/d", nil, nil),
		envoyCheck("GET", "/e", valid, map[string]string{"role": "Not A Role"}),
		envoyCheck("get", "/f", valid, nil), // unreadable: 400
	}
	for i, c := range checks {
		if _, err := client.Check(context.Background(), c); err != nil && i != 4 { // 4: misconfigured is a gRPC error
			t.Fatalf("check %d: %v", i, err)
		}
	}
	after := env.scrape(t)
	series := func(outcome, reason string) string {
		return `clerk_forward_auth_decisions_total{endpoint="ext-authz-grpc",outcome="` + outcome + `",reason="` + reason + `"}`
	}
	want := map[string]float64{
		series("allow", "none"):                                                         2,
		series("unauthenticated", "token-invalid"):                                      1,
		series("unauthenticated", "session-token-and-uat-missing"):                      1,
		series("misconfigured", "invalid-policy"):                                       1,
		series("bad-request", "bad-proxy-request"):                                      1,
		`clerk_forward_auth_decision_duration_seconds_count{endpoint="ext-authz-grpc"}`: 6,
	}
	for s, delta := range want {
		if got := after[s] - before[s]; got != delta {
			t.Errorf("%s grew by %v, want %v", s, got, delta)
		}
	}
	for s := range after {
		if strings.HasPrefix(s, "clerk_forward_auth_decisions_total") && after[s] != before[s] {
			if _, ok := want[s]; !ok {
				t.Errorf("unexpected series %s grew by %v", s, after[s]-before[s])
			}
		}
	}
	lines := env.decisionLines(t)
	if len(lines) != len(checks) {
		t.Fatalf("%d access log lines, want %d:\n%s", len(lines), len(checks), logs.String())
	}
	for _, l := range lines {
		if l["endpoint"] != "ext-authz-grpc" || l["request_id"] != "6f1b9a52-2f35-4d8e-a4c9-0b6d1f2e3a4b" {
			t.Errorf("line %v", l)
		}
		if _, ok := l["status"]; ok {
			t.Errorf("gRPC line has an HTTP status: %v", l)
		}
	}
}

// TestGRPCAllowCarriesProfileHeaders: with USER_PROFILE_HEADERS the gRPC
// allow sets (or removes, when unknown) X-Auth-User-Email/-Name as the
// HTTP reply does.
func TestGRPCAllowCarriesProfileHeaders(t *testing.T) {
	resp := okResponse(authz.Decision{Outcome: authz.Allow, Identity: authz.Identity{UserID: "user_1", ProfileHeaders: true, Email: "ada@example.com"}})
	ok := resp.GetOkResponse()
	set := map[string]string{}
	for _, h := range ok.GetHeaders() {
		set[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	if set["x-auth-user-email"] != "ada@example.com" || set["x-auth-user-id"] != "user_1" {
		t.Errorf("headers %v", set)
	}
	if !strings.Contains(strings.Join(ok.GetHeadersToRemove(), ","), "x-auth-user-name") {
		t.Errorf("x-auth-user-name not removed: %v", ok.GetHeadersToRemove())
	}
	off := okResponse(authz.Decision{Outcome: authz.Allow, Identity: authz.Identity{UserID: "user_1", Email: "ada@example.com"}}).GetOkResponse()
	for _, h := range off.GetHeaders() {
		if strings.HasPrefix(h.GetHeader().GetKey(), "x-auth-user-e") {
			t.Errorf("profile header without USER_PROFILE_HEADERS: %v", h)
		}
	}
}

// TestOriginalURIAgreesWithParseRequestURI: the shortcut for plain paths
// reads every URI as url.ParseRequestURI does.
func TestOriginalURIAgreesWithParseRequestURI(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, uint64(time.Now().UnixNano())))
	var alphabet []byte
	for c := byte('!'); c < 0x7f; c++ {
		if c != '#' {
			alphabet = append(alphabet, c)
		}
	}
	alphabet = append(alphabet, "aaaa////???%%\x80\xc3\xa9"...)
	fixed := []string{"/", "/dashboard", "/a?", "/a??", "/a?b?", "/?", "/a%2Fb", "/a%zz", "/é", "/a b", "/a;b", "/a!b", "/a*b", "/a'b", "/a(b)",
		"/%", "/a?%zz", "//evil.example/x", "/a:b@c", "/~user/$x&y+z,w=v"}
	for i := range 300000 + len(fixed) {
		var uri string
		if i < len(fixed) {
			uri = fixed[i]
		} else {
			b := make([]byte, 1+rng.IntN(14))
			b[0] = '/'
			for j := 1; j < len(b); j++ {
				b[j] = alphabet[rng.IntN(len(alphabet))]
			}
			uri = string(b)
		}
		var got url.URL
		gotErr := originalURI(uri, &got)
		want, wantErr := url.ParseRequestURI(uri)
		if strings.ContainsAny(uri, " #") {
			if gotErr == nil {
				t.Fatalf("%q accepted", uri)
			}
			continue
		}
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: error %v, ParseRequestURI %v", uri, gotErr, wantErr)
		}
		if gotErr == nil && (got.Path != want.Path || got.RawPath != want.RawPath || got.RawQuery != want.RawQuery) {
			t.Fatalf("%q: got %q %q %q, want %q %q %q", uri, got.Path, got.RawPath, got.RawQuery, want.Path, want.RawPath, want.RawQuery)
		}
	}
}
