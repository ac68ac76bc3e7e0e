//go:build e2e

package integrations

// No Envoy binary can be installed here, so TestEnvoy runs the scenario
// table through envoyEmulator: a small Go proxy that does what Envoy's HTTP
// ext_authz filter does with the settings read from envoy/envoy.yaml (the
// check request Envoy builds, "only 200 allows", allowed_upstream_headers,
// x-envoy-auth-headers-to-remove, allowed_client_headers(_on_success), status_on_error,
// headers_with_underscores_action). The service sees exactly the requests
// Envoy would send; what Envoy itself does with the answers is emulated.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEnvoy runs the scenario table through the Envoy emulator configured
// from envoy/envoy.yaml, against a service that reads envoy/policy.yaml.
func TestEnvoy(t *testing.T) {
	runEnvoyScenarios(t, scenarios)
}

// runEnvoyScenarios is runProxyScenarios for the emulator: table through
// it, against a service started with envoy/policy.yaml and extraEnv.
func runEnvoyScenarios(t *testing.T, table []scenario, extraEnv ...string) {
	cfg := parseEnvoyConfig(t, readConfig(t, "envoy/envoy.yaml"))
	policy := writeFile(t, t.TempDir(), "policy.yaml", readConfig(t, "envoy/policy.yaml"))
	svc := startService(t, append([]string{"POLICY_FILE=" + policy}, extraEnv...)...)
	tap := startAuthTap(t, svc.URL)
	app := startUpstream(t)
	// The check carries only Envoy's allowed headers, not the test id, so
	// the emulator records each check and answer itself, in the tap's
	// recorder; the routes to the service (/_auth/) go through the tap,
	// as behind every other proxy.
	p := &proxyUnderTest{name: "envoy", dialect: dialectExtAuthz, svc: svc, tap: tap, app: app}
	p.base = startEnvoyEmulator(t, cfg, svc.URL, "http://"+tap.addr, "http://"+app.addr, &tap.recorder)
	p.launchDown = func(t *testing.T) string {
		down := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		return startEnvoyEmulator(t, cfg, down, down, "http://"+app.addr, &recorder{})
	}
	runScenarios(t, p, table)
}

// TestEnvoyCheckContract replays single checks exactly as Envoy sends them
// and asserts what Envoy needs from the answers.
func TestEnvoyCheckContract(t *testing.T) {
	svc := startService(t)
	c := svc.claims("user_contract")
	tok := svc.token(c)
	send := func(method, path string, h http.Header) (*http.Response, string) {
		h = h.Clone()
		h.Set("Host", publicHost)
		h.Set("X-Forwarded-Proto", "http")
		h.Set("Content-Length", "0")
		return svc.direct(t, method, "/ext-authz"+path, h)
	}
	t.Run("allow is exactly 200 and lists the empty identity headers", func(t *testing.T) {
		res, body := send("DELETE", "/things/1?x=y", hdr("Authorization", "Bearer "+tok))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d %q, want 200 (Envoy denies 202/204)", res.StatusCode, body)
		}
		remove := map[string]bool{}
		for _, s := range strings.Split(res.Header.Get("X-Envoy-Auth-Headers-To-Remove"), ",") {
			remove[strings.TrimSpace(s)] = true
		}
		for _, name := range identityHeaders {
			v := res.Header.Get(name)
			lower := strings.ToLower(name)
			switch {
			case v == "" && !remove[lower]:
				t.Errorf("%s is empty but not in x-envoy-auth-headers-to-remove %q", name, res.Header.Get("X-Envoy-Auth-Headers-To-Remove"))
			case v != "" && remove[lower]:
				t.Errorf("%s = %q is also listed for removal", name, v)
			}
		}
		if res.Header.Get("X-Auth-User-Id") != "user_contract" {
			t.Errorf("X-Auth-User-Id %q", res.Header.Get("X-Auth-User-Id"))
		}
	})
	t.Run("API deny is 401 with WWW-Authenticate and a JSON body", func(t *testing.T) {
		res, body := send("GET", "/x", hdr("Accept", "application/json"))
		if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") || !strings.Contains(body, `"error"`) {
			t.Errorf("got %d %v %q", res.StatusCode, res.Header, body)
		}
	})
	t.Run("browser deny is a redirect Envoy passes on", func(t *testing.T) {
		res, body := send("GET", "/x?y=1", browser())
		if res.StatusCode < 300 || res.StatusCode > 399 || res.Header.Get("Location") == "" {
			t.Errorf("got %d %v %q, want 3xx with Location", res.StatusCode, res.Header, body)
		}
	})
	t.Run("missing X-Forwarded-Proto is a 400, not a guess", func(t *testing.T) {
		h := hdr("Authorization", "Bearer "+tok, "Host", publicHost)
		res, body := svc.direct(t, "GET", "/ext-authz/x", h)
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("got %d %q, want 400", res.StatusCode, body)
		}
	})
}

// ---- envoy.yaml --------------------------------------------------------

// envoyConfig is the part of envoy.yaml the emulator follows.
type envoyConfig struct {
	pathPrefix        string
	serviceRoutes     []string  // path prefixes routed to the service, ext_authz disabled
	allowedHeaders    []matcher // client headers sent with the check
	headersToAdd      map[string]string
	allowedUpstream   []matcher
	allowedClient     []matcher
	allowedClientOnOK []matcher
	statusOnError     int
	failureModeAllow  bool
	underscoreAction  string
	timeout           time.Duration
}

type matcher struct {
	exact, prefix string
	ignoreCase    bool
}

func (m matcher) match(name string) bool {
	name = strings.ToLower(name) // Envoy header names are lower case
	if m.exact != "" {
		return name == strings.ToLower(m.exact)
	}
	if m.ignoreCase {
		return strings.HasPrefix(name, strings.ToLower(m.prefix))
	}
	return strings.HasPrefix(name, m.prefix)
}

func matchAny(ms []matcher, name string) bool {
	for _, m := range ms {
		if m.match(name) {
			return true
		}
	}
	return false
}

// yamlBlock returns the lines indented under the first line whose trimmed
// text starts with key (after start), and that line's index.
func yamlBlock(lines []string, key string, start int) ([]string, int) {
	for i := start; i < len(lines); i++ {
		trim := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(trim, key) {
			continue
		}
		indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
		var block []string
		for _, l := range lines[i+1:] {
			if strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#") {
				continue
			}
			if len(l)-len(strings.TrimLeft(l, " ")) <= indent {
				break
			}
			block = append(block, l)
		}
		return block, i
	}
	return nil, -1
}

// envoyStatusCodes are the names of status_on_error codes the emulators know.
var envoyStatusCodes = map[string]int{"Forbidden": 403, "ServiceUnavailable": 503, "InternalServerError": 500, "BadGateway": 502}

var (
	reServiceRoute = regexp.MustCompile(`(?m)^\s*- match: \{ prefix: "([^"]+)" \}\n\s*route: \{ cluster: clerk_forward_auth \}\n\s*typed_per_filter_config:\n\s*envoy\.filters\.http\.ext_authz:\n(?:\s*"@type":.*\n)?\s*disabled: true$`)
	reExact        = regexp.MustCompile(`^-?\s*exact:\s*(\S+)$`)
	rePrefix       = regexp.MustCompile(`^-?\s*prefix:\s*(\S+)$`)
)

func parseMatchers(block []string) []matcher {
	var out []matcher
	for _, l := range block {
		t := strings.TrimSpace(l)
		if m := reExact.FindStringSubmatch(t); m != nil {
			out = append(out, matcher{exact: m[1]})
		} else if m := rePrefix.FindStringSubmatch(t); m != nil {
			out = append(out, matcher{prefix: m[1]})
		} else if strings.HasPrefix(t, "ignore_case: true") && len(out) > 0 {
			out[len(out)-1].ignoreCase = true
		}
	}
	return out
}

// parseEnvoyConfig reads envoy.yaml just far enough; a setting it cannot
// find fails the test, so the emulator never runs on assumptions.
func parseEnvoyConfig(t *testing.T, text string) envoyConfig {
	t.Helper()
	lines := strings.Split(text, "\n")
	find := func(re string) string {
		m := regexp.MustCompile(`(?m)^\s*` + re).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("envoy.yaml: %s not found", re)
		}
		return m[1]
	}
	cfg := envoyConfig{headersToAdd: map[string]string{}}
	cfg.pathPrefix = find(`path_prefix:\s*(\S+)`)
	// Routes straight to the service (Clerk's handshake callback and
	// webhooks): a prefix match on the clerk_forward_auth cluster with
	// ext_authz disabled for it.
	for _, m := range reServiceRoute.FindAllStringSubmatch(text, -1) {
		cfg.serviceRoutes = append(cfg.serviceRoutes, m[1])
	}
	if len(cfg.serviceRoutes) == 0 {
		t.Fatal("envoy.yaml: no route to clerk_forward_auth with ext_authz disabled (the /_auth/ prefix)")
	}
	cfg.failureModeAllow = find(`failure_mode_allow:\s*(\S+)`) == "true"
	code := find(`status_on_error:\s*\{\s*code:\s*(\w+)\s*\}`)
	if cfg.statusOnError = envoyStatusCodes[code]; cfg.statusOnError == 0 {
		t.Fatalf("envoy.yaml: status_on_error %q not known to the emulator", code)
	}
	cfg.underscoreAction = find(`headers_with_underscores_action:\s*(\S+)`)
	d, err := time.ParseDuration(find(`timeout:\s*(\d+m?s)`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.timeout = d

	block, i := yamlBlock(lines, "allowed_headers:", 0)
	if i < 0 {
		t.Fatal("envoy.yaml: allowed_headers not found")
	}
	cfg.allowedHeaders = parseMatchers(block)
	block, i = yamlBlock(lines, "headers_to_add:", 0)
	if i < 0 {
		t.Fatal("envoy.yaml: headers_to_add not found")
	}
	for j := 0; j < len(block); j++ {
		if m := regexp.MustCompile(`key:\s*(\S+)`).FindStringSubmatch(block[j]); m != nil && j+1 < len(block) {
			if v := regexp.MustCompile(`value:\s*"?([^"]+)"?`).FindStringSubmatch(block[j+1]); v != nil {
				cfg.headersToAdd[strings.ToLower(m[1])] = v[1]
			}
		}
	}
	for key, dst := range map[string]*[]matcher{
		"allowed_upstream_headers:":          &cfg.allowedUpstream,
		"allowed_client_headers:":            &cfg.allowedClient,
		"allowed_client_headers_on_success:": &cfg.allowedClientOnOK,
	} {
		block, i := yamlBlock(lines, key, 0)
		if i < 0 {
			t.Fatalf("envoy.yaml: %s not found", key)
		}
		*dst = parseMatchers(block)
	}
	if len(cfg.allowedHeaders) == 0 || len(cfg.allowedUpstream) == 0 || len(cfg.allowedClient) == 0 {
		t.Fatalf("envoy.yaml: empty matcher lists: %+v", cfg)
	}
	return cfg
}

// ---- the emulator ------------------------------------------------------

type envoyEmulator struct {
	checks  *recorder
	cfg     envoyConfig
	auth    *url.URL
	app     *httputil.ReverseProxy
	service *httputil.ReverseProxy // cfg.serviceRoutes, no check
	client  *http.Client
}

// startEnvoyEmulator starts the emulator with the clerk_forward_auth
// cluster's address for the checks (authURL) and for the routes straight to
// the service (serviceURL), which a test may tap, and the app's address;
// it returns its base URL.
func startEnvoyEmulator(t *testing.T, cfg envoyConfig, authURL, serviceURL, appURL string, checks *recorder) string {
	t.Helper()
	au, _ := url.Parse(authURL)
	su, _ := url.Parse(serviceURL)
	apu, _ := url.Parse(appURL)
	e := &envoyEmulator{
		checks: checks,
		cfg:    cfg,
		auth:   au,
		app:    &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { rewriteToApp(pr, apu) }},
		// Envoy as an edge proxy (use_remote_address) sets
		// x-forwarded-proto and appends the peer to x-forwarded-for;
		// headers and body pass unchanged.
		service: &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			rewriteToApp(pr, su)
			pr.Out.Header.Set("X-Forwarded-Proto", "http")
		}},
		client: &http.Client{
			Timeout:       cfg.timeout,
			Transport:     &http.Transport{DisableCompression: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	return "http://" + serveLoopback(t, e)
}

// rewriteToApp routes a request to the app as the Director of
// httputil.NewSingleHostReverseProxy did, which this emulator used before
// Director was deprecated: the client's Host is kept (Envoy forwards it),
// the raw query is passed on unchanged, the client's Forwarded and
// X-Forwarded-* headers are kept unless its Connection header names them
// hop-by-hop, and the client's address is appended to X-Forwarded-For.
// Rewrite on its own would drop unparsable query parameters and strip
// those headers.
func rewriteToApp(pr *httputil.ProxyRequest, app *url.URL) {
	pr.Out.URL.RawQuery = pr.In.URL.RawQuery
	pr.SetURL(app)
	pr.Out.Host = pr.In.Host

	hopByHop := map[string]bool{}
	for _, f := range pr.In.Header["Connection"] {
		for _, name := range strings.Split(f, ",") {
			if name = textproto.TrimString(name); name != "" {
				hopByHop[http.CanonicalHeaderKey(name)] = true
			}
		}
	}
	for _, name := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if vals, ok := pr.In.Header[name]; ok && !hopByHop[name] {
			pr.Out.Header[name] = slices.Clone(vals)
		}
	}
	if clientIP, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		if prior := pr.Out.Header["X-Forwarded-For"]; len(prior) > 0 {
			clientIP = strings.Join(prior, ", ") + ", " + clientIP
		}
		pr.Out.Header.Set("X-Forwarded-For", clientIP)
	}
}

// applyUnderscoreAction does what Envoy's headers_with_underscores_action
// does with request headers whose name holds "_"; false when it answered
// the request itself (REJECT_REQUEST).
func applyUnderscoreAction(w http.ResponseWriter, r *http.Request, action string) bool {
	for name := range r.Header {
		if strings.Contains(name, "_") {
			switch action {
			case "DROP_HEADER":
				r.Header.Del(name)
			case "REJECT_REQUEST":
				http.Error(w, "", http.StatusBadRequest)
				return false
			}
		}
	}
	return true
}

func (e *envoyEmulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !applyUnderscoreAction(w, r, e.cfg.underscoreAction) {
		return
	}
	// Routes with ext_authz disabled (/_auth/) go straight to the service.
	for _, prefix := range e.cfg.serviceRoutes {
		if strings.HasPrefix(r.URL.Path, prefix) {
			e.service.ServeHTTP(w, r)
			return
		}
	}

	// The check: original method, path_prefix + original path and query,
	// original Host, Content-Length 0, Authorization and the allowed headers,
	// then headers_to_add.
	check, _ := http.NewRequestWithContext(r.Context(), r.Method, e.auth.String(), nil)
	check.URL = &url.URL{Scheme: e.auth.Scheme, Host: e.auth.Host, Opaque: e.cfg.pathPrefix + r.RequestURI}
	check.Host = r.Host
	check.Header = http.Header{}
	for name, vals := range r.Header {
		if strings.EqualFold(name, "authorization") || matchAny(e.cfg.allowedHeaders, name) {
			check.Header[name] = vals
		}
	}
	check.Header.Set("Content-Length", "0")
	check.ContentLength = 0
	for k, v := range e.cfg.headersToAdd {
		if v == "%REQ(:SCHEME)%" {
			v = "http"
		}
		check.Header.Set(k, v)
	}
	if _, ok := check.Header["User-Agent"]; !ok {
		check.Header["User-Agent"] = []string{""} // Go would add its own
	}
	res, err := e.client.Do(check)
	// Record the check as the service got it (tagged with the client's test
	// id for lookup only) and its answer.
	seen := seenRequest{Method: check.Method, Host: check.Host, RequestURI: check.URL.Opaque, Header: check.Header.Clone()}
	seen.Header.Set(testIDHeader, r.Header.Get(testIDHeader))
	if err != nil {
		seen.Status, seen.RespBody = -1, err.Error()
		e.checks.add(seen)
	}
	if err != nil || res.StatusCode >= 500 {
		if res != nil {
			_ = res.Body.Close()
		}
		if e.cfg.failureModeAllow {
			e.app.ServeHTTP(w, r)
			return
		}
		w.WriteHeader(e.cfg.statusOnError)
		return
	}
	defer func() { _ = res.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	seen.Status, seen.RespHeader, seen.RespBody = res.StatusCode, res.Header.Clone(), string(body)
	e.checks.add(seen)

	if res.StatusCode != http.StatusOK { // only 200 allows
		for name, vals := range res.Header {
			switch strings.ToLower(name) {
			case "www-authenticate", "location":
			default:
				if !matchAny(e.cfg.allowedClient, name) {
					continue
				}
			}
			w.Header()[name] = vals
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(body)
		return
	}
	// Allowed: overwrite the allowed upstream headers, then remove those
	// listed in x-envoy-auth-headers-to-remove.
	for name, vals := range res.Header {
		if matchAny(e.cfg.allowedUpstream, name) {
			r.Header.Del(name)
			r.Header[http.CanonicalHeaderKey(name)] = []string{strings.Join(vals, ",")}
		}
	}
	for _, s := range strings.Split(res.Header.Get("X-Envoy-Auth-Headers-To-Remove"), ",") {
		if s = strings.TrimSpace(s); s != "" && !strings.HasPrefix(s, ":") && !strings.EqualFold(s, "host") {
			r.Header.Del(s)
		}
	}
	for name, vals := range res.Header {
		if matchAny(e.cfg.allowedClientOnOK, name) {
			for _, v := range vals {
				w.Header().Add(name, v)
			}
		}
	}
	e.app.ServeHTTP(w, r)
}
