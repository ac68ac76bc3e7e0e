package handlers

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/observe"
)

// AuthorizationService is the gRPC service Envoy's ext_authz filter calls,
// and the health service name that reports readiness (keys loaded).
const AuthorizationService = "envoy.service.auth.v3.Authorization"

// readinessInterval is how often the health status of
// AuthorizationService follows authz.Engine.Ready.
const readinessInterval = time.Second

// GRPCServer serves Envoy ext_authz in gRPC mode (Envoy, Istio
// envoyExtAuthzGrpc) and the standard gRPC health service: "" reports the
// process is up, AuthorizationService that it is ready.
//
// It is the same adapter as extauthz.go with another wire format: the
// CheckRequest becomes an authz.Request, the engine decides, and the
// decision is rendered by render.go and carried in a CheckResponse.
type GRPCServer struct {
	srv      *grpc.Server
	health   *health.Server
	engine   *authz.Engine
	stop     chan struct{}
	stopOnce sync.Once
}

// NewGRPCServer builds the gRPC server from the router's Options: the same
// engine, logger and observability. o.TrustedProxies, when set, limits
// Check to those peers, as it limits the HTTP auth endpoints; health is
// exempt.
func NewGRPCServer(o Options) *GRPCServer {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	g := &GRPCServer{
		srv: grpc.NewServer(
			grpc.ForceServerCodecV2(newCheckCodec()),
			grpc.ChainUnaryInterceptor(recoverPanics(o.Logger), trustedPeers(o.TrustedProxies, o.Logger)),
		),
		health: health.NewServer(),
		engine: o.Engine,
		stop:   make(chan struct{}),
	}
	s := newServer(o)
	g.srv.RegisterService(&authorizationDesc, &authorization{server: s, observation: s.obs.observation(grpcEndpoint, true)})
	healthpb.RegisterHealthServer(g.srv, g.health)
	g.updateReadiness()
	return g
}

// Serve accepts connections on ln until Shutdown. It returns nil after
// Shutdown.
func (g *GRPCServer) Serve(ln net.Listener) error {
	go g.followReadiness()
	return g.srv.Serve(ln)
}

// Shutdown turns health to NOT_SERVING, sends GOAWAY and waits for
// in-flight checks; when ctx ends first it closes every connection.
func (g *GRPCServer) Shutdown(ctx context.Context) error {
	g.stopOnce.Do(func() { close(g.stop) })
	g.health.Shutdown()
	done := make(chan struct{})
	go func() {
		g.srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		g.srv.Stop()
		<-done
		return ctx.Err()
	}
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
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if g.engine.Ready() {
		st = healthpb.HealthCheckResponse_SERVING
	}
	g.health.SetServingStatus(AuthorizationService, st)
}

// recoverPanics answers a panic with INTERNAL, as net/http survives a
// handler's panic: Envoy then applies status_on_error (fail closed) and the
// process keeps serving.
func recoverPanics(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "panic in gRPC handler", "method", info.FullMethod, "panic", observe.Redact(fmt.Sprint(p)), "stack", string(debug.Stack()))
				resp, err = nil, status.Error(codes.Internal, "internal error")
			}
		}()
		return next(ctx, req)
	}
}

// trustedPeers refuses Check from peers outside TRUSTED_PROXIES with a
// gRPC error (the caller is not Envoy, so no CheckResponse is owed).
func trustedPeers(trusted []netip.Prefix, log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if len(trusted) == 0 || !strings.HasPrefix(info.FullMethod, "/"+AuthorizationService+"/") {
			return next(ctx, req)
		}
		addr := ""
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			addr = p.Addr.String()
		}
		if !peerTrusted(trusted, addr) {
			log.Warn("untrusted proxy refused", "remote_addr", addr, "method", info.FullMethod)
			return nil, status.Error(codes.PermissionDenied, "untrusted-proxy")
		}
		return next(ctx, req)
	}
}

// authorization implements envoy.service.auth.v3.Authorization.
type authorization struct {
	*server
	observation *observation
}

// authorizationServer is what authorizationDesc serves.
type authorizationServer interface {
	Check(ctx context.Context, in *checkRequest) (*checkReply, error)
}

// authorizationDesc is envoy.service.auth.v3.Authorization, its messages
// read and written by checkCodec (extauthzwire.go).
var authorizationDesc = grpc.ServiceDesc{
	ServiceName: AuthorizationService,
	HandlerType: (*authorizationServer)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Check", Handler: checkHandler}},
	Streams:     []grpc.StreamDesc{},
	Metadata:    "envoy/service/auth/v3/external_auth.proto",
}

// checkHandler decodes a Check and calls it through the interceptors.
func checkHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(checkRequest)
	if err := dec(in); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return srv.(authorizationServer).Check(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + AuthorizationService + "/Check"}
	return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
		return srv.(authorizationServer).Check(ctx, req.(*checkRequest))
	})
}

// grpcEndpoint names gRPC checks in logs, metrics and spans.
const grpcEndpoint = "ext-authz-grpc"

// Check answers one ext_authz check inside the same observation as the
// HTTP endpoints: span, decision, access log line and metrics. The
// checked request's X-Request-Id names it in the log, which joins the
// line to Envoy's.
func (a *authorization) Check(ctx context.Context, in *checkRequest) (resp *checkReply, err error) {
	a.observation.run(ctx, checkTraceHeaders(ctx, in), observe.RequestID(checkHeader(in, "x-request-id")), func(ctx context.Context) outcome {
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
		return outcome{bad: err, code: codes.InvalidArgument}, deniedReply(codes.InvalidArgument, "bad_request", rec), nil
	}
	var d authz.Decision
	req.Rule, err = ruleFromExtensions(in.extensions)
	if err != nil {
		d = authz.Decision{Outcome: authz.Misconfigured, Reason: authz.ReasonInvalidRule, Message: "context_extensions: " + err.Error()}
	} else {
		d = a.engine.Decide(ctx, req)
	}
	resp, err := replyTo(d)
	out := outcome{req: req, d: d, code: status.Code(err)}
	if resp != nil {
		out.code = resp.code
	}
	return out, resp, err
}

// checkTraceHeaders is where a check's trace context is: the gRPC metadata,
// where a tracing Envoy puts its ext_authz span's context (the parent, as
// the subrequest's traceparent is over HTTP), else the checked request's
// own. nil when neither carries a traceparent.
func checkTraceHeaders(ctx context.Context, in *checkRequest) http.Header {
	// ValueFromIncomingContext copies one key's values; FromIncomingContext
	// would copy all the metadata on every check.
	if tp := metadata.ValueFromIncomingContext(ctx, "traceparent"); len(tp) > 0 {
		return traceHeaders(tp[0], strings.Join(metadata.ValueFromIncomingContext(ctx, "tracestate"), ","))
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
		return nil, status.Error(codes.Unavailable, string(d.Reason))
	case authz.Misconfigured:
		return nil, status.Error(codes.Internal, string(d.Reason))
	case authz.Unauthenticated, authz.SignIn, authz.Handshake, authz.Forbidden:
	}
	code := codes.Unauthenticated
	if d.Outcome == authz.Forbidden {
		code = codes.PermissionDenied
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
	ok := &checkReply{code: codes.OK, ok: true}
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
func deniedReply(code codes.Code, msg string, rec *recorder) *checkReply {
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
