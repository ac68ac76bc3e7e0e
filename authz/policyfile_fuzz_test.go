package authz

import (
	"testing"
)

// FuzzParsePolicy: any file either fails to compile or yields rules that
// hold the Rule invariants (public never with org requirements, no empty
// org/role/permission), and matching any host, path and method against
// them never panics and returns one of them.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("rules:\n  - host: app.example.com\n    path: /public/\n    methods: [GET, HEAD]\n    public: true\n  - host: \"*.example.com\"\n    path: /admin/\n    org: beta\n    role: org:admin\n  - signed_in: true\n"), "app.example.com", "/public/x", "GET")
	f.Add([]byte("rules:\n  - path: /a/*/b\n    permission: org:invoices:read\n"), "x", "/a/z/b/c", "POST")
	f.Add([]byte("rules:\n  - path: /[\n    public: true\n"), "x", "/[", "GET")
	f.Add([]byte("rules:\n  - public: false\n"), "x", "/", "GET")
	f.Add([]byte("rules:\n  - public: true\n    role:\n"), "x", "/", "GET")
	f.Add([]byte("rules:\n  - public: true\n    org: acme\n"), "x", "/", "GET")
	f.Add([]byte("a: &a [*a, *a]\nrules: *a\n"), "x", "/", "GET")
	f.Add([]byte("rules:\n  - path: /x\n    public: true\n---\nrules: []\n"), "x", "/x", "GET")
	f.Add([]byte("rules:\n  - host: \"*.\"\n    public: true\n"), ".", "/", "GET")
	f.Add([]byte("rules:\n  - path: \"/public/../admin\"\n    public: true\n"), "x", "/admin", "GET")
	f.Fuzz(func(t *testing.T, data []byte, host, reqPath, method string) {
		rules, err := parsePolicy(data)
		if err != nil {
			return
		}
		for i, r := range rules {
			if r.rule == nil {
				t.Fatalf("rule %d has no Rule", i)
			}
			if r.rule.Public && r.rule.RequiresOrganization() {
				t.Fatalf("rule %d is public and requires an organization", i)
			}
			for _, v := range append(append(append([]string(nil), r.rule.Orgs...), r.rule.Roles...), r.rule.Permissions...) {
				if v == "" {
					t.Fatalf("rule %d holds an empty requirement", i)
				}
			}
		}
		p := &PolicyFile{}
		p.rules.Store(&rules)
		got := p.Match(host, reqPath, method)
		if got == nil {
			return
		}
		for _, r := range rules {
			if r.rule == got {
				return
			}
		}
		t.Fatal("Match returned a rule that is not in the file")
	})
}
