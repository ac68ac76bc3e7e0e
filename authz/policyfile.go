package authz

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/yaml.v3"
)

// maxPolicyFile bounds what we read from POLICY_FILE.
const maxPolicyFile = 1 << 20

// PolicyFileOptions are the policy file's optional parts.
type PolicyFileOptions struct {
	Logger *slog.Logger
	// OnReload observes every reload attempt that found new content (or
	// was asked for): err nil means the new rules are live (metrics).
	OnReload func(err error)
}

// PolicyFile is the central policy (POLICY_FILE): ordered rules matched on
// host, path and method, first match wins. It implements Policy. Reload
// swaps the rules atomically; a file that does not load leaves the rules
// in force unchanged. A rule on the auth URL's query string wins over it.
type PolicyFile struct {
	path  string
	opts  PolicyFileOptions
	rules atomic.Pointer[[]policyRule]

	mu       sync.Mutex // serialises reloads
	lastSeen [sha256.Size]byte
	lastErr  string
}

// policyRule is one compiled entry of the file.
type policyRule struct {
	host     *hostPattern // nil: any host
	segments []string     // path pattern segments; nil = any path
	globs    []bool       // segments[i] holds glob characters
	methods  []string     // nil = any
	rule     *Rule
}

// LoadPolicyFile reads the file; it must load (a start-up error otherwise).
func LoadPolicyFile(file string, opts PolicyFileOptions) (*PolicyFile, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &PolicyFile{path: file, opts: opts}
	data, err := readPolicyFile(file)
	if err != nil {
		return nil, err
	}
	rules, err := parsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("policy file %s: %w", file, err)
	}
	p.rules.Store(&rules)
	p.lastSeen = sha256.Sum256(data)
	return p, nil
}

// Match returns the first rule whose host, path and method match, or nil
// (the engine's default: signed in). host is a Host header's value
// (canonicalHost drops its port); path is the normalised (decoded) path.
func (p *PolicyFile) Match(host, reqPath, method string) *Rule {
	host = canonicalHost(host)
	rules := *p.rules.Load()
	for i := range rules {
		if r := &rules[i]; r.matches(host, reqPath, method) {
			return r.rule
		}
	}
	return nil
}

// Len is the number of rules in force.
func (p *PolicyFile) Len() int { return len(*p.rules.Load()) }

// Reload reads the file again now (SIGHUP). On error the rules in force
// stay, and the error says why.
func (p *PolicyFile) Reload() error { return p.reload(true) }

// Watch reloads when the file's content changes (checked every interval:
// the file is small and read whole, so a same-size rewrite within the
// mtime granularity, or a Kubernetes ConfigMap symlink swap, is seen too)
// and on every value received from hup (signal.Notify with SIGHUP). It
// returns when ctx ends.
func (p *PolicyFile) Watch(ctx context.Context, interval time.Duration, hup <-chan os.Signal) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = p.reload(false)
		case <-hup:
			_ = p.reload(true)
		}
	}
}

func (p *PolicyFile) reload(force bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	data, err := readPolicyFile(p.path)
	if err != nil {
		// Log a missing or unreadable file once, not every poll.
		if force || err.Error() != p.lastErr {
			p.lastErr = err.Error()
			p.failed(err)
		}
		return err
	}
	sum := sha256.Sum256(data)
	if !force && sum == p.lastSeen && p.lastErr == "" {
		return nil
	}
	if !force && sum == p.lastSeen {
		return errors.New(p.lastErr) // same broken content: already logged
	}
	p.lastSeen = sum
	rules, err := parsePolicy(data)
	if err != nil {
		err = fmt.Errorf("policy file %s: %w", p.path, err)
		p.lastErr = err.Error()
		p.failed(err)
		return err
	}
	p.lastErr = ""
	p.rules.Store(&rules)
	p.opts.Logger.Info("policy file loaded", "path", p.path, "rules", len(rules))
	if p.opts.OnReload != nil {
		p.opts.OnReload(nil)
	}
	return nil
}

func (p *PolicyFile) failed(err error) {
	p.opts.Logger.Error("policy file not reloaded; the previous policy stays in force", "path", p.path, "error", err.Error())
	if p.opts.OnReload != nil {
		p.opts.OnReload(err)
	}
}

func readPolicyFile(file string) ([]byte, error) {
	f, err := os.Open(file) //nolint:gosec // POLICY_FILE is the operator's own path, read once at start-up
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	defer func() { _ = f.Close() }() // read-only: a close error loses nothing
	data, err := io.ReadAll(io.LimitReader(f, maxPolicyFile+1))
	if err != nil {
		return nil, fmt.Errorf("policy file %s: %w", file, err)
	}
	if len(data) > maxPolicyFile {
		return nil, fmt.Errorf("policy file %s: larger than %d bytes", file, maxPolicyFile)
	}
	return data, nil
}

// policyDoc is the file's shape; unknown keys are errors (KnownFields).
type policyDoc struct {
	Rules []fileRule `yaml:"rules"`
}

type fileRule struct {
	Host           string     `yaml:"host"`
	Path           string     `yaml:"path"`
	Methods        stringList `yaml:"methods"`
	Public         *bool      `yaml:"public"`
	SignedIn       *bool      `yaml:"signed_in"`
	Org            stringList `yaml:"org"`
	Role           stringList `yaml:"role"`
	Permission     stringList `yaml:"permission"`
	Token          stringList `yaml:"token"`
	Scope          stringList `yaml:"scope"`
	Feature        stringList `yaml:"feature"`
	Plan           stringList `yaml:"plan"`
	Reverification stringList `yaml:"reverification"`
}

// stringList is a YAML string or list of strings.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	scalar := func(n *yaml.Node) (string, error) {
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Tag == "!!bool" || n.Value == "" {
			return "", fmt.Errorf("line %d: want a non-empty string", n.Line)
		}
		return n.Value, nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		v, err := scalar(n)
		if err != nil {
			return err
		}
		*l = stringList{v}
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			return fmt.Errorf("line %d: empty list", n.Line)
		}
		for _, c := range n.Content {
			v, err := scalar(c)
			if err != nil {
				return err
			}
			*l = append(*l, v)
		}
	case yaml.DocumentNode, yaml.MappingNode, yaml.AliasNode:
		fallthrough
	default: // and any kind a later yaml adds

		return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
	}
	return nil
}

// parsePolicy compiles a policy file's YAML. Every mistake is an error:
// unknown keys, a rule that says nothing, a malformed host, path, method,
// organization, role or permission.
func parsePolicy(data []byte) ([]policyRule, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty file (want a rules: list)")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var doc policyDoc
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	// Line numbers for messages, from a second, lenient look.
	var lines struct {
		Rules []yaml.Node `yaml:"rules"`
	}
	_ = yaml.Unmarshal(data, &lines)
	out := make([]policyRule, 0, len(doc.Rules))
	for i, fr := range doc.Rules {
		r, err := fr.compile()
		if i < len(lines.Rules) {
			// "role:" with no value decodes as absent, which would make
			// the rule weaker than written.
			if key := nullKey(&lines.Rules[i]); key != "" {
				err = fmt.Errorf("%s has no value", key)
			}
		}
		if err != nil {
			if i < len(lines.Rules) {
				return nil, fmt.Errorf("rule %d (line %d): %w", i+1, lines.Rules[i].Line, err)
			}
			return nil, fmt.Errorf("rule %d: %w", i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// nullKey names the first key of a mapping whose value is null, or "".
func nullKey(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if v := n.Content[i+1]; v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			return n.Content[i].Value
		}
	}
	return ""
}

func (fr *fileRule) compile() (policyRule, error) {
	var pr policyRule
	rule := &Rule{}
	for _, kv := range []struct {
		key  string
		vals []string
	}{{"org", fr.Org}, {"role", fr.Role}, {"permission", fr.Permission}, {"token", fr.Token}, {"scope", fr.Scope}, {"feature", fr.Feature}, {"plan", fr.Plan}, {"reverification", fr.Reverification}} {
		for _, v := range kv.vals {
			if err := rule.add(kv.key, v); err != nil {
				return pr, err
			}
		}
	}
	switch {
	case fr.Public != nil && !*fr.Public:
		return pr, errors.New("public: false means nothing; write signed_in: true")
	case fr.SignedIn != nil && !*fr.SignedIn:
		return pr, errors.New("signed_in: false is ambiguous; write public: true for an optional session")
	case fr.Public != nil && (fr.SignedIn != nil || rule.restricts()):
		return pr, errors.New("public: true cannot be combined with signed_in, org, role, permission, feature, plan, reverification or scope")
	case fr.Public == nil && fr.SignedIn == nil && !rule.restricts() && fr.Token == nil:
		return pr, errors.New("the rule says nothing: add public: true, signed_in: true, token, or org/role/permission/feature/plan/reverification/scope")
	}
	if err := rule.check(); err != nil {
		return pr, err
	}
	rule.Public = fr.Public != nil
	pr.rule = rule

	if fr.Host != "" {
		// A host name only: the policy matches the Host header without its
		// port, so a port here could never match.
		p := parseHostPattern(fr.Host)
		if !validHostName(p.domain) {
			if p.wildcard {
				return pr, fmt.Errorf("host %q: want a host name or *.domain", fr.Host)
			}
			return pr, fmt.Errorf("host %q: want a host name (no port, scheme or path) or *.domain", fr.Host)
		}
		pr.host = &p
	}

	if fr.Path != "" {
		if !strings.HasPrefix(fr.Path, "/") {
			return pr, fmt.Errorf("path %q must start with /", fr.Path)
		}
		if strings.ContainsAny(fr.Path, "%?#") {
			return pr, fmt.Errorf("path %q: write the decoded path, without query or fragment", fr.Path)
		}
		if err := checkDecodedPath(fr.Path); err != nil {
			return pr, fmt.Errorf("path %q: %w", fr.Path, err)
		}
		if trimmed := strings.TrimSuffix(fr.Path, "/"); trimmed != "" {
			pr.segments = strings.Split(trimmed[1:], "/")
			pr.globs = make([]bool, len(pr.segments))
			for i, seg := range pr.segments {
				if strings.ContainsAny(seg, "*?[\\") {
					if _, err := path.Match(seg, ""); err != nil {
						return pr, fmt.Errorf("path %q: bad glob %q", fr.Path, seg)
					}
					pr.globs[i] = true
				}
			}
		} else {
			pr.segments = []string{} // "/": every path
		}
	}

	for _, m := range fr.Methods {
		m = strings.ToUpper(m)
		if _, err := checkMethod(m); err != nil {
			return pr, err
		}
		pr.methods = append(pr.methods, m)
	}
	return pr, nil
}

func checkMethod(m string) (string, error) {
	if m == "" || len(m) > 16 {
		return "", fmt.Errorf("method %q is not an HTTP method", m)
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return "", fmt.Errorf("method %q is not an HTTP method", m)
		}
	}
	return m, nil
}

// validHostName: DNS labels (or an IPv4 literal) in lower case.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func (r *policyRule) matches(host, reqPath, method string) bool {
	if r.host != nil && !r.host.matches(host) {
		return false
	}
	if r.methods != nil {
		found := false
		for _, m := range r.methods {
			if m == method {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return r.segments == nil || r.matchPath(reqPath)
}

// matchPath: the pattern is a prefix of the path in whole segments ("/admin"
// matches "/admin" and "/admin/x", never "/administrator"); a segment may
// be a glob (path.Match: *, ?, [..]), which never crosses a "/".
func (r *policyRule) matchPath(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	rest := p[1:]
	for i, want := range r.segments {
		if rest == "" && i > 0 {
			return false // the path is shorter than the pattern
		}
		seg, tail, _ := strings.Cut(rest, "/")
		if r.globs[i] {
			if ok, _ := path.Match(want, seg); !ok {
				return false
			}
		} else if seg != want {
			return false
		}
		rest = tail
	}
	return true
}
