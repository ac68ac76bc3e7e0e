package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/cache"
	"github.com/clerk-forward-auth/clerk-forward-auth/observe"
)

// Options are the router's parts.
type Options struct {
	Engine *authz.Engine
	Logger *slog.Logger
	// TrustedProxies (TRUSTED_PROXIES) are the only peers the auth
	// endpoints answer; nil accepts every peer. Health endpoints are exempt.
	TrustedProxies []netip.Prefix
	// Observability (observe/): nil Metrics and Tracing record nothing; a
	// nil AccessLog logs every decision to Logger. MetricsHandler, when
	// set, is served at /metrics (unset when METRICS_ADDR has its own
	// listener). ReadyChecks add to /readyz's "keys loaded".
	Metrics        *observe.Metrics
	AccessLog      *observe.AccessLog
	Tracing        *observe.Tracing
	MetricsHandler http.Handler
	ReadyChecks    []ReadyCheck
	// Webhook, when set, is served at WebhookPath (Clerk's webhooks,
	// verified by the handler itself); the proxy routes it to the
	// service like CALLBACK_PATH.
	Webhook     http.Handler
	WebhookPath string
}

// NewRouter builds the service's HTTP handler.
func NewRouter(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := newServer(o)
	trusted := guardAuthEndpoints(o.TrustedProxies, o.Logger)
	return &router{
		forwardAuth:  trusted(s.observed("forward-auth", s.endpoint(readForwardAuth, dialect{redirects: true}, true))),
		authRequest:  trusted(s.observed("auth-request", s.endpoint(readAuthRequest, dialect{}, true))),
		extAuthz:     trusted(s.observed("ext-authz", s.endpoint(readExtAuthz, dialect{redirects: true, envoy: true}, false))),
		callbackPath: o.Engine.CallbackPath(),
		callback:     trusted(s.observed("callback", s.callback)),
		readyz:       s.ready(o.ReadyChecks),
		metrics:      o.MetricsHandler,
		webhookPath:  o.WebhookPath,
		webhook:      webhookOrNil(o),
	}
}

// webhookOrNil gates the webhook behind TRUSTED_PROXIES like the
// callback, since Clerk's deliveries come through the proxy; but not
// behind guardFraming, which is for bodiless subrequests: a webhook has a
// body, which its handler reads whole and bounded.
func webhookOrNil(o Options) http.Handler {
	if o.Webhook == nil {
		return nil
	}
	return requireTrustedProxy(o.TrustedProxies, o.Logger)(o.Webhook)
}

// router maps a path to its handler with a switch: there are nine routes
// and no path parameters, and a general router such as chi
// copies the request and its context for every request it routes, a cost
// comparable to the rest of the path around a cached decision
// (bench/README.md, "Routing").
//
// The path is matched as sent: its escaped form when it has escapes
// (URL.RawPath), never cleaned, so /forward%2Dauth and //forward-auth are
// unknown paths, not /forward-auth. The auth paths take every method
// (the subrequest's method is the proxy's business); /ext-authz takes any
// method, since its method is the original request's, which the reader
// validates; health and the callback are GET only.
type router struct {
	forwardAuth, authRequest, extAuthz http.Handler
	callbackPath                       string // CALLBACK_PATH
	callback, readyz                   http.Handler
	metrics                            http.Handler // nil: /metrics is on METRICS_ADDR
	webhookPath                        string
	webhook                            http.Handler // nil: no webhook route
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.RawPath
	if p == "" {
		p = r.URL.Path
	}
	// CALLBACK_PATH is the operator's: when it names a path under an
	// auth route, GET goes to the callback and other methods stay with
	// the auth route.
	if p == rt.callbackPath && r.Method == http.MethodGet {
		rt.callback.ServeHTTP(w, r)
		return
	}
	// /ext-authz's method is the original request's, which its reader
	// judges (originalMethod) as gRPC Check does: a WebDAV method is
	// decided there, a malformed one is its 400, not this router's 405.
	if p == extAuthzPrefix || strings.HasPrefix(p, extAuthzPrefix+"/") {
		rt.extAuthz.ServeHTTP(w, r)
		return
	}
	if !routedMethod(r.Method) {
		methodNotAllowed(w, "")
		return
	}
	switch {
	case p == "/forward-auth":
		rt.forwardAuth.ServeHTTP(w, r)
	case p == "/auth-request":
		rt.authRequest.ServeHTTP(w, r)
	case p == rt.callbackPath:
		methodNotAllowed(w, http.MethodGet)
	case p == "/healthz":
		getOnly(w, r, http.HandlerFunc(healthz))
	case p == "/readyz":
		getOnly(w, r, rt.readyz)
	case rt.webhook != nil && p == rt.webhookPath:
		rt.webhook.ServeHTTP(w, r)
	case p == "/metrics" && rt.metrics != nil:
		rt.metrics.ServeHTTP(w, r)
	default:
		writeJSON(w, http.StatusNotFound, "not_found", "unknown endpoint")
	}
}

// routedMethod: the methods any route but /ext-authz answers, the
// standard ones and QUERY. Any other (a WebDAV method, a lower-case "get")
// is 405 on those paths.
func routedMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodOptions, http.MethodConnect, http.MethodTrace, "QUERY":
		return true
	}
	return false
}

func getOnly(w http.ResponseWriter, r *http.Request, h http.Handler) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, http.MethodGet)
		return
	}
	h.ServeHTTP(w, r)
}

// methodNotAllowed answers 405 with no body; allow ("" for none) is the
// path's one method.
func methodNotAllowed(w http.ResponseWriter, allow string) {
	if allow != "" {
		w.Header().Set("Allow", allow)
	}
	w.WriteHeader(http.StatusMethodNotAllowed)
}

type server struct {
	engine *authz.Engine
	log    *slog.Logger
	obs    *observer // observability.go
	rules  ruleCache
}

type reader func(*http.Request) (*authz.Request, error)

// endpoint serves one proxy dialect. ruleInQuery: the auth URL's query
// string is the operator's per-route rule (not so for Envoy, whose query is
// the original request's).
func (s *server) endpoint(read reader, dl dialect, ruleInQuery bool) observedFunc {
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, hs *headerSetter) outcome {
		req, err := read(r)
		if err != nil {
			return outcome{bad: err, status: hs.writeJSON(w, http.StatusBadRequest, "bad_request", err.Error())}
		}
		var d authz.Decision
		if ruleInQuery {
			req.Rule, err = s.rules.fromQuery(r, req)
		}
		if err != nil {
			d = authz.Decision{Outcome: authz.Misconfigured, Reason: authz.ReasonInvalidRule, Message: err.Error()}
		} else {
			d = s.engine.Decide(ctx, req)
		}
		return outcome{req: req, d: d, status: hs.render(w, d, dl)}
	}
}

// ruleFromQuery reads the operator's rule from the auth URL. Caddy appends
// the client's query to a uri without "?", which would let clients write
// policy: a rule query equal to the original query is refused.
func ruleFromQuery(r *http.Request, req *authz.Request) (*authz.Rule, error) {
	if r.URL.RawQuery == "" {
		return nil, nil
	}
	if r.URL.RawQuery == req.URL.RawQuery {
		return nil, errQueryIsClients
	}
	return authz.ParseRuleQuery(r.URL.Query())
}

var errQueryIsClients = errors.New("the auth URL's query equals the original request's query: write the proxy's auth URI with a '?' (e.g. uri /forward-auth?) so the client's query is not appended")

// maxCachedRuleQueries bounds ruleCache. Auth URLs are written by the
// operator, a handful per deployment; a query beyond the bound (a client's,
// say, through a misconfigured proxy) is parsed on every request instead
// of growing memory.
const maxCachedRuleQueries = 256

// ruleCache remembers the rule (or the error) each auth URL query parses
// to, so ?org=…&role=… is not parsed again on every request. Rules are
// read-only once parsed.
type ruleCache struct {
	m *cache.ReadMostly[string, parsedRule]
}

func newRuleCache() ruleCache {
	return ruleCache{m: cache.NewReadMostly[string, parsedRule](maxCachedRuleQueries)}
}

type parsedRule struct {
	rule *authz.Rule
	err  error
}

// fromQuery is ruleFromQuery through the cache.
func (c *ruleCache) fromQuery(r *http.Request, req *authz.Request) (*authz.Rule, error) {
	q := r.URL.RawQuery
	if q == "" {
		return nil, nil
	}
	if q == req.URL.RawQuery { // depends on the request: never cached
		return nil, errQueryIsClients
	}
	if p, ok := c.m.Get(q); ok {
		return p.rule, p.err
	}
	rule, err := ruleFromQuery(r, req)
	if !c.m.Full() {
		// q is part of the request; keep only what the map needs.
		c.m.Add(strings.Clone(q), parsedRule{rule, err})
	}
	return rule, err
}
