package handlers

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/observe"
)

// AuthorizationService is the gRPC service Envoy's ext_authz filter calls,
// and the health service name that reports readiness (keys loaded).
const AuthorizationService = "envoy.service.auth.v3.Authorization"

// readinessInterval is how often the health status of
// AuthorizationService follows authz.Engine.Ready.
const readinessInterval = time.Second

// The gRPC port's HTTP/2 server settings.
const (
	// grpcMaxConcurrentStreams bounds the calls in progress on one
	// connection. grpc-go's server leaves them unbounded; Envoy multiplexes
	// every check of a worker on few connections, so the bound is well
	// above what one carries, and only stops a runaway client.
	grpcMaxConcurrentStreams = 1000
	// grpcReadHeaderTimeout is how long a new connection may take to send
	// its preface and a request's headers.
	grpcReadHeaderTimeout = 5 * time.Second
	// grpcIdleTimeout closes a connection with no call in progress for
	// that long (with GOAWAY: Envoy opens another when it needs one).
	grpcIdleTimeout = 5 * time.Minute
)

// GRPCServer serves Envoy ext_authz in gRPC mode (Envoy, Istio
// envoyExtAuthzGrpc) and the standard gRPC health service: "" reports the
// process is up, AuthorizationService that it is ready.
//
// It is the same adapter as extauthz.go with another wire format: the
// CheckRequest becomes an authz.Request, the engine decides, and the
// decision is rendered by render.go and carried in a CheckResponse. gRPC
// itself is served by net/http's HTTP/2 server (grpctransport.go).
type GRPCServer struct {
	srv       *http.Server
	transport *grpcTransport
	health    *health
	engine    *authz.Engine
	stop      chan struct{}
	stopOnce  sync.Once
}

// NewGRPCServer builds the gRPC server from the router's Options: the same
// engine, logger and observability. o.TrustedProxies, when set, limits
// Check to those peers, as it limits the HTTP auth endpoints; health is
// exempt.
func NewGRPCServer(o Options) *GRPCServer {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := newServer(o)
	a := &authorization{server: s, observation: s.obs.observation(grpcEndpoint, true)}
	h := newHealth()
	t := &grpcTransport{
		methods: map[string]grpcMethod{
			"/" + AuthorizationService + "/Check": {handle: a.serve, trusted: true},
			"/" + healthService + "/Check":        {handle: h.check},
			"/" + healthService + "/List":         {handle: h.list},
			"/" + healthService + "/Watch":        {handle: h.watch},
		},
		services: map[string]bool{AuthorizationService: true, healthService: true},
		log:      o.Logger,
	}
	if trusted := o.TrustedProxies; len(trusted) > 0 {
		t.trusted = func(addr string) bool { return peerTrusted(trusted, addr) }
	}
	// HTTP/2 without TLS, with prior knowledge, is what gRPC clients
	// speak on a plaintext port. HTTP/1 is accepted only to be refused
	// with a clear error, instead of a connection closed without a word.
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	protocols.SetHTTP1(true)
	g := &GRPCServer{
		srv: &http.Server{
			Handler:           t,
			Protocols:         &protocols,
			HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: grpcMaxConcurrentStreams},
			ReadHeaderTimeout: grpcReadHeaderTimeout,
			IdleTimeout:       grpcIdleTimeout,
			// No read or write timeout: Watch streams for as long as the
			// client follows it, and a call's own deadline is grpc-timeout.
			ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		},
		transport: t,
		health:    h,
		engine:    o.Engine,
		stop:      make(chan struct{}),
	}
	g.updateReadiness()
	return g
}

// Serve accepts connections on ln until Shutdown. It returns nil after
// Shutdown.
func (g *GRPCServer) Serve(ln net.Listener) error {
	go g.followReadiness()
	// main names the failure; the error is the listener's own.
	if err := g.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown turns health to NOT_SERVING, sends GOAWAY and waits for
// in-flight checks; when ctx ends first it closes every connection.
func (g *GRPCServer) Shutdown(ctx context.Context) error {
	g.stopOnce.Do(func() { close(g.stop) })
	g.health.stop()
	if err := g.srv.Shutdown(ctx); err != nil {
		_ = g.srv.Close()
		return err // ctx's own error, which main names
	}
	return nil
}

func (g *GRPCServer) followReadiness() {
	t := time.NewTicker(readinessInterval)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
			g.updateReadiness()
		}
	}
}

func (g *GRPCServer) updateReadiness() {
	st := statusNotServing
	if g.engine.Ready() {
		st = statusServing
	}
	g.health.set(AuthorizationService, st)
}

// authorization implements envoy.service.auth.v3.Authorization.
type authorization struct {
	*server
	observation *observation
}

// serve is Authorization/Check on the wire: the CheckRequest read by
// extauthzwire.go, the CheckResponse written by it.
func (a *authorization) serve(ctx context.Context, call *grpcCall, req []byte) error {
	in := new(checkRequest)
	if err := in.unmarshal(req); err != nil {
		return grpcErr(grpcInternal, "grpc: failed to unmarshal the received message: "+err.Error())
	}
	resp, err := a.Check(ctx, call.r.Header, in)
	if err != nil {
		return err
	}
	b, err := resp.marshal()
	if err != nil {
		return grpcErr(grpcInternal, "grpc: error while marshaling: "+err.Error())
	}
	return call.send(b)
}

// grpcEndpoint names gRPC checks in logs, metrics and spans.
const grpcEndpoint = "ext-authz-grpc"

// Check answers one ext_authz check inside the same observation as the
// HTTP endpoints: span, decision, access log line and metrics. The
// checked request's X-Request-Id names it in the log, which joins the
// line to Envoy's.
func (a *authorization) Check(ctx context.Context, md http.Header, in *checkRequest) (resp *checkReply, err error) {
	a.observation.run(ctx, checkTraceHeaders(md, in), observe.RequestID(checkHeader(in, "x-request-id")), func(ctx context.Context) outcome {
		var out outcome
		out, resp, err = a.check(ctx, in)
		return out
	})
	return resp, err
}

// check decides one check. Denials are CheckResponses with a
// denied_response; an outage or a configuration error is a gRPC error, so
// Envoy applies the operator's status_on_error / failure_mode_allow.
func (a *authorization) check(ctx context.Context, in *checkRequest) (outcome, *checkReply, error) {
	req, err := readCheckRequest(in)
	if err != nil {
		rec := newRecorder()
		writeJSON(rec, http.StatusBadRequest, "bad_request", err.Error())
		return outcome{bad: err, code: grpcInvalidArgument}, deniedReply(grpcInvalidArgument, "bad_request", rec), nil
	}
	var d authz.Decision
	req.Rule, err = ruleFromExtensions(in.extensions)
	if err != nil {
		d = authz.Decision{Outcome: authz.Misconfigured, Reason: authz.ReasonInvalidRule, Message: "context_extensions: " + err.Error()}
	} else {
		d = a.engine.Decide(ctx, req)
	}
	resp, err := replyTo(d)
	out := outcome{req: req, d: d, code: grpcCodeOf(err)}
	if resp != nil {
		out.code = resp.code
	}
	return out, resp, err
}

// checkTraceHeaders is where a check's trace context is: the gRPC metadata
// (md, the call's HTTP/2 headers), where a tracing Envoy puts its
// ext_authz span's context (the parent, as the subrequest's traceparent is
// over HTTP), else the checked request's own. nil when neither carries a
// traceparent.
func checkTraceHeaders(md http.Header, in *checkRequest) http.Header {
	if tp := md["Traceparent"]; len(tp) > 0 {
		return traceHeaders(tp[0], strings.Join(md["Tracestate"], ","))
	}
	if tp := checkHeader(in, "traceparent"); tp != "" {
		return traceHeaders(tp, checkHeader(in, "tracestate"))
	}
	return nil
}

func traceHeaders(traceparent, tracestate string) http.Header {
	h := http.Header{"Traceparent": {traceparent}}
	if tracestate != "" {
		h["Tracestate"] = []string{tracestate}
	}
	return h
}

// checkHeader is the value of the checked request's header name (given in
// lower case, as Envoy sends keys), from the header map or, with
// encode_raw_headers, the header_map list. It reads the raw check, so it
// serves one whose request could not otherwise be read too.
func checkHeader(in *checkRequest, name string) string {
	if v, ok := in.headers[name]; ok {
		return v
	}
	for _, hv := range in.headerMap {
		if strings.EqualFold(hv.key, name) {
			if hv.raw != "" {
				return hv.raw
			}
			return hv.value
		}
	}
	return ""
}

// readCheckRequest reads attributes.request.http with the HTTP adapters'
// validators: method, scheme, host (:authority) and the raw path with its
// query. Envoy fills all of them; a missing one is a request we cannot read.
func readCheckRequest(in *checkRequest) (*authz.Request, error) {
	if !in.hasHTTP {
		return nil, errBad("missing attributes.request.http")
	}
	method, err := originalMethod(in.method)
	if err != nil {
		return nil, err
	}
	scheme, err := originalScheme(in.scheme)
	if err != nil {
		return nil, err
	}
	host, err := originalHost(in.host)
	if err != nil {
		return nil, err
	}
	u, err := buildURL(scheme, host, in.path)
	if err != nil {
		return nil, err
	}
	header := checkHeaders(in)
	return &authz.Request{
		Method:   method,
		URL:      u,
		Header:   header,
		ClientIP: clientIP(header, in.sourceAddress),
	}, nil
}

// checkHeaders converts Envoy's header map (lower-case keys, duplicates
// merged with ",") or, with encode_raw_headers, its header_map list, into
// an http.Header with canonical keys, so the engine reads Cookie,
// Authorization, Accept and Sec-Fetch-Dest as it does over HTTP, a merged
// Cookie as its lines (splitCookieLines). Pseudo headers are left out:
// method, host, path and scheme are read above.
func checkHeaders(h *checkRequest) http.Header {
	out := http.Header{}
	add := func(k, v string) {
		if k == "" || k[0] == ':' {
			return
		}
		out.Add(textproto.CanonicalMIMEHeaderKey(k), v)
	}
	if h.hasHeaderMap && len(h.headers) == 0 {
		for _, hv := range h.headerMap {
			v := hv.value
			if hv.raw != "" {
				v = hv.raw
			}
			add(hv.key, v)
		}
		return out
	}
	keys := make([]string, 0, len(h.headers))
	for k := range h.headers {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic when two keys differ only in case
	for _, k := range keys {
		v := h.headers[k]
		if strings.EqualFold(k, "cookie") && strings.Contains(v, ",") {
			splitCookieLines(v, add)
			continue
		}
		add(k, v)
	}
	return out
}

// splitCookieLines undoes Envoy's merge of repeated Cookie lines into one
// value joined with ",": cookie pairs are joined with "; " and hold no
// ",", so each "," ends a line. The engine then reads the lines HTTP mode
// receives: lines that disagree on the session are refused instead of the
// first one winning, and a line's first cookie is not read as part of the
// previous line's last value.
func splitCookieLines(v string, add func(k, v string)) {
	for line := range strings.SplitSeq(v, ",") {
		if line = strings.TrimSpace(line); line != "" {
			add("cookie", line)
		}
	}
}

// ruleFromExtensions reads the route's rule from context_extensions, set
// by the operator per route or virtual host (never by the client), with the
// auth query's keys (authz.ParseRuleQuery). A value may list
// several entries separated by commas ("role": "org:admin,org:billing"),
// all of which must hold. No extensions: nil, the policy file decides.
func ruleFromExtensions(ext map[string]string) (*authz.Rule, error) {
	if len(ext) == 0 {
		return nil, nil
	}
	q := url.Values{}
	for k, v := range ext {
		for _, item := range strings.Split(v, ",") {
			// An empty item stays, so that "org": "" fails validation
			// instead of silently meaning "any".
			q.Add(k, strings.TrimSpace(item))
		}
	}
	return authz.ParseRuleQuery(q)
}

// replyTo carries a decision to Envoy. Status is always set: Envoy reads
// an unset status as OK, i.e. allow.
func replyTo(d authz.Decision) (*checkReply, error) {
	switch d.Outcome {
	case authz.Allow:
		return allowReply(d), nil
	case authz.Unavailable:
		return nil, grpcErr(grpcUnavailable, string(d.Reason))
	case authz.Misconfigured:
		return nil, grpcErr(grpcInternal, string(d.Reason))
	case authz.Unauthenticated, authz.SignIn, authz.Handshake, authz.Forbidden:
	}
	code := grpcUnauthenticated
	if d.Outcome == authz.Forbidden {
		code = grpcPermissionDenied
	}
	// The same renderer as the HTTP endpoints, redirecting like
	// /ext-authz: status, Location, WWW-Authenticate, body and cookies
	// cannot drift between Envoy's two modes.
	rec := newRecorder()
	render(rec, d, dialect{redirects: true})
	return deniedReply(code, string(d.Reason), rec), nil
}

// allowReply overwrites the identity headers that apply and removes the
// others, so a client's own X-Auth-User-Id never reaches the app. The
// append action is explicit: Envoy's default, APPEND_IF_EXISTS_OR_ADD,
// would keep the client's value next to ours.
func allowReply(d authz.Decision) *checkReply {
	ok := &checkReply{code: grpcOK, ok: true}
	set := func(name, v string) {
		v = asHTTPWritesIt(v)
		if v == "" {
			ok.headersToRemove = append(ok.headersToRemove, name)
			return
		}
		ok.headers = append(ok.headers, headerOption{name, v, overwriteIfExistsOrAdd})
	}
	for i, v := range identityValues(d.Identity) {
		set(identityHeadersLower[i], v)
	}
	if d.Identity.ProfileHeaders { // USER_PROFILE_HEADERS, as over HTTP
		set(lowerHeaderUserEmail, d.Identity.Email)
		set(lowerHeaderUserName, d.Identity.Name)
	}
	for _, c := range d.SetCookies {
		ok.responseHeaders = append(ok.responseHeaders, headerOption{"set-cookie", c, appendIfExistsOrAdd})
	}
	return ok
}

// asHTTPWritesIt is a header value as net/http writes it in /ext-authz's
// reply: CR and LF as spaces, surrounding blanks trimmed. Identity values
// then reach the app the same in Envoy's two modes, and one a user chose
// (X-Auth-User-Name) never carries a line break into a CheckResponse,
// which Envoy either refuses, failing the request, or, in older versions,
// passes on to the upstream as a header line of its own.
func asHTTPWritesIt(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		v = lineBreaksToSpaces.Replace(v)
	}
	return textproto.TrimString(v)
}

var lineBreaksToSpaces = strings.NewReplacer("\r", " ", "\n", " ")

// deniedReply turns a rendered reply into a denied_response. Each
// Set-Cookie is its own header with APPEND_IF_EXISTS_OR_ADD (one line per
// cookie); every other header overwrites.
func deniedReply(code grpcCode, msg string, rec *recorder) *checkReply {
	denied := &checkReply{code: code, message: msg, httpStatus: rec.status, body: rec.body.String()}
	names := make([]string, 0, len(rec.header))
	for k := range rec.header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		name := strings.ToLower(k)
		action := overwriteIfExistsOrAdd
		if name == "set-cookie" {
			action = appendIfExistsOrAdd
		}
		for _, v := range rec.header[k] {
			denied.headers = append(denied.headers, headerOption{name, v, action})
		}
	}
	return denied
}

// recorder is an http.ResponseWriter that keeps what render writes.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
