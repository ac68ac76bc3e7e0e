package authz

import (
	"context"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const examplePolicy = `
rules:                      # first match wins
  - host: app.example.com
    path: /public/
    methods: [GET, HEAD]
    public: true
  - host: "*.example.com"
    path: /admin/
    org: beta
    role: org:admin
  - path: /api/*/invoices
    permission: [org:invoices:read, org:invoices:list]
    org: [org_2abc, acme]
  - path: /reports
    methods: post
    role: member
  - path: /machines/
    token: [api_key, oauth_token]
    scope: reports:read
  - path: /m2m
    token: m2m_token
  - signed_in: true         # the default rule
`

func writePolicy(t *testing.T, dir, content string) string {
	t.Helper()
	// Write and rename, as editors and Kubernetes ConfigMap updates do, so a
	// poll never sees a half-written file.
	file := filepath.Join(dir, "policy.yaml")
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	return file
}

func loadPolicy(t *testing.T, content string) *PolicyFile {
	t.Helper()
	p, err := LoadPolicyFile(writePolicy(t, t.TempDir(), content), PolicyFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// describe renders a matched rule for comparison.
func describe(r *Rule) string {
	if r == nil {
		return "none"
	}
	var tokens string
	if r.Tokens.any || len(r.Tokens.types) > 0 {
		tokens = " token=" + r.Tokens.String()
	}
	if r.Public {
		return "public" + tokens
	}
	var parts []string
	for _, o := range r.Orgs {
		parts = append(parts, "org="+o)
	}
	for _, x := range r.Roles {
		parts = append(parts, "role="+x)
	}
	for _, x := range r.Permissions {
		parts = append(parts, "permission="+x)
	}
	for _, x := range r.Features {
		parts = append(parts, "feature="+x)
	}
	for _, x := range r.Plans {
		parts = append(parts, "plan="+x)
	}
	for _, x := range r.Scopes {
		parts = append(parts, "scope="+x)
	}
	if len(parts) == 0 {
		return "signed_in" + tokens
	}
	return strings.Join(parts, " ") + tokens
}

func TestPolicyFileFirstMatchWins(t *testing.T) {
	p := loadPolicy(t, examplePolicy)
	const admin = "org=beta role=org:admin"
	const invoices = "org=org_2abc org=acme permission=org:invoices:read permission=org:invoices:list"
	tests := []struct {
		name, host, path, method, want string
	}{
		{"public prefix, GET", "app.example.com", "/public/logo.png", "GET", "public"},
		{"public prefix, HEAD", "app.example.com", "/public/x", "HEAD", "public"},
		{"public rule is for GET and HEAD only", "app.example.com", "/public/x", "POST", "signed_in"},
		{"public rule is for its host only", "other.example.com", "/public/x", "GET", "signed_in"},
		{"prefix with trailing slash covers the bare directory", "app.example.com", "/public", "GET", "public"},
		{"prefix is whole segments", "app.example.com", "/publicity", "GET", "signed_in"},
		{"host upper case and trailing dot", "APP.Example.COM.", "/public/x", "GET", "public"},
		{"host with port", "app.example.com:8443", "/public/x", "GET", "public"},
		{"wildcard host, one label", "team.example.com", "/admin/users", "GET", admin},
		{"wildcard host, two labels", "a.b.example.com", "/admin/", "DELETE", admin},
		{"wildcard host covers a host also named exactly", "app.example.com", "/admin/x", "GET", admin},
		{"wildcard does not match the apex", "example.com", "/admin/x", "GET", "signed_in"},
		{"wildcard does not match a look-alike", "evilexample.com", "/admin/x", "GET", "signed_in"},
		{"wildcard does not match a suffix attack", "team.example.com.evil.net", "/admin/x", "GET", "signed_in"},
		{"glob segment", "x.test", "/api/v1/invoices", "GET", invoices},
		{"glob segment, deeper path", "x.test", "/api/v2/invoices/42", "GET", invoices},
		{"glob does not cross a slash", "x.test", "/api/v1/extra/invoices", "GET", "signed_in"},
		{"glob needs the segment", "x.test", "/api/invoices", "GET", "signed_in"},
		{"lower-case method in the file", "x.test", "/reports/q1", "POST", "role=org:member"},
		{"method mismatch falls through", "x.test", "/reports/q1", "GET", "signed_in"},
		{"machine tokens with a scope", "x.test", "/machines/q1", "GET", "scope=reports:read token=api_key,oauth_token"},
		{"one machine type", "x.test", "/m2m", "GET", "signed_in token=m2m_token"},
		{"default rule", "x.test", "/", "GET", "signed_in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describe(p.Match(tt.host, tt.path, tt.method)); got != tt.want {
				t.Fatalf("Match(%q, %q, %q) = %s, want %s", tt.host, tt.path, tt.method, got, tt.want)
			}
		})
	}
}

func TestPolicyFileWithoutADefaultRuleLeavesTheEngineDefault(t *testing.T) {
	p := loadPolicy(t, "rules:\n  - path: /health\n    public: true\n")
	if r := p.Match("a.test", "/app", "GET"); r != nil {
		t.Fatalf("no rule matches: got %s, want nil (the engine's signed-in default)", describe(r))
	}
	if r := p.Match("a.test", "/", "GET"); r != nil {
		t.Fatalf("/ is not under /health: got %s", describe(r))
	}
}

func TestPolicyFileRefusesMistakes(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"empty file", "", "empty"},
		{"typo in a key", "rules:\n  - signedin: true\n", "signedin"},
		{"unknown top-level key", "rule:\n  - signed_in: true\n", "rule"},
		{"rule says nothing", "rules:\n  - path: /x\n", "says nothing"},
		{"public with org", "rules:\n  - public: true\n    org: acme\n", "cannot be combined"},
		{"public false", "rules:\n  - public: false\n", "public: false"},
		{"signed_in false", "rules:\n  - signed_in: false\n", "signed_in: false"},
		{"bad role", "rules:\n  - role: Admin!\n", "role"},
		{"bad permission", "rules:\n  - permission: invoices:read\n", "permission"},
		{"bad org", "rules:\n  - org: a b\n", "org"},
		{"empty org list", "rules:\n  - org: []\n", "empty list"},
		{"null role", "rules:\n  - role: null\n", "role has no value"},
		{"role without a value", "rules:\n  - signed_in: true\n    role:\n", "role has no value"},
		{"empty role", "rules:\n  - role: \"\"\n", "non-empty string"},
		{"relative path", "rules:\n  - path: admin\n    signed_in: true\n", "start with /"},
		{"encoded path", "rules:\n  - path: /a%2Fb\n    signed_in: true\n", "decoded"},
		{"dot segment path", "rules:\n  - path: /a/../b\n    signed_in: true\n", "dot segment"},
		{"bad glob", "rules:\n  - path: /a/[x\n    signed_in: true\n", "glob"},
		{"host with port", "rules:\n  - host: a.test:80\n    signed_in: true\n", "host"},
		{"host with scheme", "rules:\n  - host: https://a.test\n    signed_in: true\n", "host"},
		{"wildcard in the middle", "rules:\n  - host: a.*.test\n    signed_in: true\n", "host"},
		{"bad method", "rules:\n  - methods: [GET, \"PO ST\"]\n    signed_in: true\n", "method"},
		{"two documents", "rules:\n  - signed_in: true\n---\nrules: []\n", "more than one"},
		{"line number in the message", "rules:\n  - signed_in: true\n  - path: /x\n", "rule 2 (line 3)"},
		{"unknown token type", "rules:\n  - token: apikey\n", "not a Clerk token type"},
		{"scope on a session route", "rules:\n  - scope: read\n", "scope applies to machine tokens"},
		{"public with scope", "rules:\n  - public: true\n    token: any\n    scope: read\n", "cannot be combined"},
		{"any with another type", "rules:\n  - token: [any, api_key]\n", "cannot be combined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parsePolicy([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := LoadPolicyFile(filepath.Join(t.TempDir(), "missing.yaml"), PolicyFileOptions{}); err == nil {
		t.Fatal("a missing file must fail start-up")
	}
}

func TestPolicyFileReloadsOnChangeAndKeepsTheOldPolicyWhenBroken(t *testing.T) {
	dir := t.TempDir()
	file := writePolicy(t, dir, "rules:\n  - path: /\n    public: true\n")
	var reloads []error
	p, err := LoadPolicyFile(file, PolicyFileOptions{OnReload: func(err error) { reloads = append(reloads, err) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Watch(ctx, 5*time.Millisecond, nil); close(done) }()
	stop := func() { cancel(); <-done }

	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for describe(p.Match("a.test", "/x", "GET")) != want {
			if time.Now().After(deadline) {
				stop()
				t.Fatalf("policy is %s, want %s", describe(p.Match("a.test", "/x", "GET")), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("public")
	writePolicy(t, dir, "rules:\n  - path: /\n    role: admin\n")
	waitFor("role=org:admin")

	writePolicy(t, dir, "rules:\n  - path: /\n    rol: admin\n") // a typo
	time.Sleep(100 * time.Millisecond)                           // many polls
	waitFor("role=org:admin")

	_ = os.Remove(file)
	time.Sleep(50 * time.Millisecond)
	waitFor("role=org:admin")

	writePolicy(t, dir, "rules:\n  - path: /\n    signed_in: true\n")
	waitFor("signed_in")
	stop()
	// One success, one parse failure (logged once despite many polls), one
	// missing file (likewise), one success.
	if len(reloads) != 4 || reloads[0] != nil || reloads[1] == nil || reloads[2] == nil || reloads[3] != nil {
		t.Fatalf("reloads %v, want [nil, error, error, nil]", reloads)
	}
}

func TestPolicyFileReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	file := writePolicy(t, dir, "rules:\n  - public: true\n")
	p, err := LoadPolicyFile(file, PolicyFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Watch(ctx, time.Hour, hup) // polling never fires: only the signal reloads

	writePolicy(t, dir, "rules:\n  - org: acme\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for describe(p.Match("a.test", "/", "GET")) != "org=acme" {
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP the policy is %s", describe(p.Match("a.test", "/", "GET")))
		}
		time.Sleep(5 * time.Millisecond)
	}

	writePolicy(t, dir, "rules: [")
	if err := p.Reload(); err == nil {
		t.Fatal("Reload of a broken file: want an error")
	}
	if got := describe(p.Match("a.test", "/", "GET")); got != "org=acme" {
		t.Fatalf("a broken file replaced the policy: %s", got)
	}
}

func TestParseRuleQueryRefusesWhatItDoesNotUnderstand(t *testing.T) {
	tests := []struct {
		query string
		want  string // describe() of the rule, or "error"
	}{
		{"org=acme&role=admin", "org=acme role=org:admin"},
		{"role=org:admin", "role=org:admin"},
		{"permission=org:invoices:read&permission=org:invoices:write", "permission=org:invoices:read permission=org:invoices:write"},
		{"org=org_2abc&org=beta", "org=org_2abc org=beta"},
		{"public=true", "public"},
		{"public=false", "signed_in"},
		{"public=yes", "error"},
		{"public=true&org=acme", "error"},
		{"orgs=acme", "error"},
		{"org=", "error"},
		{"org=a/b", "error"},
		{"role=Admin", "error"},
		{"role=org:admin:x", "error"},
		{"permission=invoices:read", "error"},
		{"permission=org:invoices", "error"},
		{"redirect=https://evil.test", "error"},
		{"org=" + strings.Repeat("a", 128), "org=" + strings.Repeat("a", 128)},
		{"org=" + strings.Repeat("a", 129), "error"},
		{"org=Org_2-X", "org=Org_2-X"},
		{"role=" + strings.Repeat("a", 64), "role=org:" + strings.Repeat("a", 64)},
		{"role=org:" + strings.Repeat("a", 65), "error"},
		{"role=org:", "error"},
		{"role=org", "role=org:org"},
		{"role=org:org:admin", "error"},
		{"permission=org:a_1:b-2", "permission=org:a_1:b-2"},
		{"permission=org::read", "error"},
		{"permission=org:invoices:", "error"},
		{"permission=org:invoices:read:x", "error"},
		{"permission=org:" + strings.Repeat("a", 65) + ":read", "error"},
		{"token=api_key", "signed_in token=api_key"},
		{"token=session_token", "signed_in token=session_token"},
		{"token=session_token,api_key", "signed_in token=session_token,api_key"},
		{"token=session_token&token=m2m_token", "signed_in token=session_token,m2m_token"},
		{"token=oauth_token, api_key", "signed_in token=oauth_token,api_key"},
		{"token=api_key,api_key", "signed_in token=api_key"},
		{"token=any", "signed_in token=any"},
		{"token=any,api_key", "error"},
		{"token=api_key&token=any", "error"},
		{"token=apikey", "error"},
		{"token=", "error"},
		{"token=API_KEY", "error"},
		{"public=true&token=any", "public token=any"},
		{"scope=read:users&token=oauth_token", "scope=read:users token=oauth_token"},
		{"scope=a&scope=b&token=any", "scope=a scope=b token=any"},
		{"scope=read:users", "error"},
		{"scope=read:users&token=session_token", "error"},
		{"scope=a,b&token=api_key", "error"},
		{"scope=a b&token=api_key", "error"},
		{"scope=&token=api_key", "error"},
		{"scope=" + strings.Repeat("s", 257) + "&token=api_key", "error"},
		{"public=true&scope=a&token=api_key", "error"},
		{"feature=export", "feature=export"},
		{"feature=o:sso&feature=u:premium", "feature=o:sso feature=u:premium"},
		{"feature=organization:sso", "feature=organization:sso"},
		{"plan=pro&plan=user:free", "plan=pro plan=user:free"},
		{"feature=x:export", "error"},
		{"feature=o:", "error"},
		{"feature=o:a:b", "error"},
		{"plan=", "error"},
		{"plan=pro plan", "error"},
		{"public=true&feature=export", "error"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			r, err := ParseRuleQuery(q)
			got := "error"
			if err == nil {
				got = describe(r)
			}
			if got != tt.want {
				t.Fatalf("ParseRuleQuery(%q) = %s (%v), want %s", tt.query, got, err, tt.want)
			}
		})
	}
	if r, err := ParseRuleQuery(nil); r != nil || err != nil {
		t.Fatalf("empty query: %v, %v; want nil, nil (use the policy file)", r, err)
	}
}
