package handlers

import (
	"bytes"
	gogzip "compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The gRPC transport checked two ways: with raw HTTP/2 requests, which
// can say what no gRPC client would (a truncated prefix, two messages on
// a unary call), and with grpc-go's client, an independent implementation
// that must read our answers as grpc-go's server's. The expected statuses
// and messages are grpc-go's server's for the same requests.

// h2cClient speaks HTTP/2 without TLS, with prior knowledge, as Envoy does.
func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}}
}

// grpcFrame is one length-prefixed message.
func grpcFrame(flag byte, msg []byte) []byte {
	b := []byte{flag, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg))) //nolint:gosec // test messages are small
	return append(b, msg...)
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gogzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawReply is a raw call's answer.
type rawReply struct {
	httpStatus  int
	contentType string
	code        string // grpc-status
	message     string // grpc-message, as sent
	body        []byte
	trailersOly bool // grpc-status came in the headers
}

func rawCall(t *testing.T, addr, path string, header http.Header, body []byte) rawReply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	for k, v := range header {
		req.Header[k] = v
	}
	if m := header.Get("X-Method"); m != "" {
		req.Method = m
		req.Header.Del("X-Method")
	}
	resp, err := h2cClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := rawReply{httpStatus: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: got}
	if v, ok := resp.Header["Grpc-Status"]; ok {
		r.trailersOly, r.code, r.message = true, v[0], resp.Header.Get("Grpc-Message")
	} else {
		r.code, r.message = resp.Trailer.Get("Grpc-Status"), resp.Trailer.Get("Grpc-Message")
	}
	return r
}

// rawCase is a raw call and the answer grpc-go's server gives it.
type rawCase struct {
	name       string
	path       string
	header     http.Header
	body       []byte
	httpStatus int
	code       codes.Code
	message    string
	ours       bool // the message is ours: grpc-go's decoder words it otherwise
}

func rawCases(t *testing.T) []rawCase {
	t.Helper()
	check, err := proto.Marshal(envoyCheck("GET", "/", []string{"Accept", "application/json"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	health, err := proto.Marshal(&healthpb.HealthCheckRequest{Service: ""})
	if err != nil {
		t.Fatal(err)
	}
	checkPath := "/" + AuthorizationService + "/Check"
	oversized := []byte{0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(oversized[1:], grpcMaxRecvMessage+1)
	return []rawCase{
		{"wrong content-type", checkPath, http.Header{"Content-Type": {"text/plain"}}, grpcFrame(0, check),
			415, codes.InvalidArgument, `invalid gRPC request content-type "text/plain"`, false},
		{"another message encoding", checkPath, http.Header{"Content-Type": {"application/grpc+json"}}, grpcFrame(0, check),
			415, codes.InvalidArgument, `invalid gRPC request content-type "application/grpc+json"`, true},
		{"not POST", checkPath, http.Header{"X-Method": {"PUT"}}, grpcFrame(0, check),
			405, codes.Internal, `Received a HEADERS frame with :method "PUT" which should be POST`, false},
		{"unknown method", "/" + AuthorizationService + "/Nope", nil, grpcFrame(0, check),
			200, codes.Unimplemented, "unknown method Nope for service " + AuthorizationService, false},
		{"unknown service", "/pkg.Svc/Check", nil, grpcFrame(0, check),
			200, codes.Unimplemented, "unknown service pkg.Svc", false},
		{"malformed method name", "/Check", nil, grpcFrame(0, check),
			200, codes.Unimplemented, `malformed method name: "/Check"`, false},
		{"oversized message", checkPath, nil, oversized,
			200, codes.ResourceExhausted, "grpc: received message larger than max (4194305 vs. 4194304)", false},
		{"truncated length prefix", checkPath, nil, []byte{0, 0, 0},
			200, codes.Internal, "unexpected EOF", false},
		{"truncated message", checkPath, nil, grpcFrame(0, check)[:20],
			200, codes.Internal, "unexpected EOF", false},
		{"no message", checkPath, nil, nil,
			200, codes.Internal, "cardinality violation: received no request message from non-client-streaming RPC", false},
		{"two messages on a unary call", checkPath, nil, append(grpcFrame(0, check), grpcFrame(0, check)...),
			200, codes.Internal, "cardinality violation: received multiple request messages for non-client-streaming RPC", false},
		{"compressed flag without grpc-encoding", checkPath, nil, grpcFrame(1, check),
			200, codes.Internal, "grpc: compressed flag set with identity or empty encoding", false},
		{"unknown payload format", checkPath, nil, grpcFrame(7, check),
			200, codes.Internal, "grpc: received unexpected payload format 7", false},
		{"compressed with an unknown encoding", checkPath, http.Header{"Grpc-Encoding": {"deflate"}}, grpcFrame(1, check),
			200, codes.Unimplemented, `grpc: Decompressor is not installed for grpc-encoding "deflate"`, false},
		{"gzip: not gzip data", checkPath, http.Header{"Grpc-Encoding": {"gzip"}}, grpcFrame(1, check),
			200, codes.Internal, "grpc: failed to decompress the message: gzip: invalid header", false},
		{"gzip: larger than the limit once decompressed", checkPath, http.Header{"Grpc-Encoding": {"gzip"}}, grpcFrame(1, gzipped(t, make([]byte, grpcMaxRecvMessage+1))),
			200, codes.ResourceExhausted, "grpc: received message after decompression larger than max 4194304", false},
		{"gzip: health", "/grpc.health.v1.Health/Check", http.Header{"Grpc-Encoding": {"gzip"}}, grpcFrame(1, gzipped(t, health)),
			200, codes.OK, "", false},
		{"gzip encoding, message not compressed", "/grpc.health.v1.Health/Check", http.Header{"Grpc-Encoding": {"gzip"}}, grpcFrame(0, health),
			200, codes.OK, "", false},
		{"malformed grpc-timeout", checkPath, http.Header{"Grpc-Timeout": {"1x"}}, grpcFrame(0, check),
			400, codes.Internal, `malformed grpc-timeout: transport: timeout unit is not recognized: "1x"`, false},
		{"expired grpc-timeout", checkPath, http.Header{"Grpc-Timeout": {"0n"}}, grpcFrame(0, check),
			200, codes.DeadlineExceeded, "context deadline exceeded", false},
		{"malformed CheckRequest", checkPath, nil, grpcFrame(0, []byte{0x0a, 0x05, 0x01}),
			200, codes.Internal, "grpc: failed to unmarshal the received message: envoy.service.auth.v3.CheckRequest: field 1: unexpected EOF", true},
		{"health: unknown service", "/grpc.health.v1.Health/Check", nil, grpcFrame(0, []byte{0x0a, 0x03, 'f', 'o', 'o'}),
			200, codes.NotFound, "unknown service", false},
		{"health: not UTF-8", "/grpc.health.v1.Health/Check", nil, grpcFrame(0, []byte{0x0a, 0x01, 0xff}),
			200, codes.Internal, "grpc: failed to unmarshal the received message: grpc.health.v1.HealthCheckRequest: string field contains invalid UTF-8", true},
		{"a denial is a reply", checkPath, nil, grpcFrame(0, check), 200, codes.OK, "", false},
		{"health", "/grpc.health.v1.Health/Check", nil, grpcFrame(0, health), 200, codes.OK, "", false},
	}
}

func TestGRPCRawRequestsGetGRPCGoAnswers(t *testing.T) {
	e := newGRPCEnv(t, nil)
	tests := rawCases(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rawCall(t, e.addr, tt.path, tt.header, tt.body)
			if r.httpStatus != tt.httpStatus || r.code != strconv.Itoa(int(tt.code)) || r.message != tt.message {
				t.Fatalf("HTTP %d, grpc-status %s %q; want HTTP %d, %d %q", r.httpStatus, r.code, r.message, tt.httpStatus, tt.code, tt.message)
			}
			if r.contentType != "application/grpc" {
				t.Errorf("content-type %q", r.contentType)
			}
			if tt.code != codes.OK {
				if !r.trailersOly || len(r.body) != 0 {
					t.Errorf("an error is a trailers-only reply: trailers-only %v, body %d bytes", r.trailersOly, len(r.body))
				}
				return
			}
			if r.trailersOly || len(r.body) < grpcPrefixLen || r.body[0] != 0 || int(binary.BigEndian.Uint32(r.body[1:])) != len(r.body)-grpcPrefixLen {
				t.Fatalf("not one framed message and trailers: trailers-only %v, body % x", r.trailersOly, r.body)
			}
		})
	}
}

// TestGRPCRawAnswersAreGRPCGoServersAnswers: the expectations above are
// what grpc-go's own server answers (with the same services and no
// decompressor), so our transport is held to grpc-go's, not to our
// reading of it.
func TestGRPCRawAnswersAreGRPCGoServersAnswers(t *testing.T) {
	srv := grpc.NewServer()
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: AuthorizationService,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Check", Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(new(authv3.CheckRequest)); err != nil {
				return nil, err
			}
			return &authv3.CheckResponse{}, nil
		}}},
	}, struct{}{})
	healthpb.RegisterHealthServer(srv, grpchealth.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	for _, tt := range rawCases(t) {
		if tt.ours {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			r := rawCall(t, ln.Addr().String(), tt.path, tt.header, tt.body)
			if r.httpStatus != tt.httpStatus || r.code != strconv.Itoa(int(tt.code)) || r.message != tt.message {
				t.Fatalf("grpc-go: HTTP %d, grpc-status %s %q; expected HTTP %d, %d %q", r.httpStatus, r.code, r.message, tt.httpStatus, tt.code, tt.message)
			}
		})
	}
}

// TestGRPCProtoContentSubtypeIsEchoed: application/grpc+proto is served,
// and the reply names the same content type, as grpc-go's does.
func TestGRPCProtoContentSubtypeIsEchoed(t *testing.T) {
	e := newGRPCEnv(t, nil)
	r := rawCall(t, e.addr, "/grpc.health.v1.Health/Check", http.Header{"Content-Type": {"application/grpc+proto"}}, grpcFrame(0, nil))
	if r.code != "0" || r.contentType != "application/grpc+proto" {
		t.Fatalf("grpc-status %s %q, content-type %q", r.code, r.message, r.contentType)
	}
	var resp healthpb.HealthCheckResponse
	if err := proto.Unmarshal(r.body[grpcPrefixLen:], &resp); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health reply %v, %v", &resp, err)
	}
}

// TestGRPCClientSeesGRPCGoStatuses: grpc-go's client reads our answers to
// what it can be made to send as it read grpc-go's server's.
func TestGRPCClientSeesGRPCGoStatuses(t *testing.T) {
	e := newGRPCEnv(t, nil)
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	check := envoyCheck("GET", "/", nil, nil)
	big := envoyCheck("GET", "/", []string{"X-Big", strings.Repeat("a", grpcMaxRecvMessage)}, nil)
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		method  string
		in      proto.Message
		opts    []grpc.CallOption
		code    codes.Code
		message string
	}{
		{"unknown method", context.Background(), "/" + AuthorizationService + "/Nope", check, nil,
			codes.Unimplemented, "unknown method Nope for service " + AuthorizationService},
		{"unknown service", context.Background(), "/pkg.Svc/Check", check, nil,
			codes.Unimplemented, "unknown service pkg.Svc"},
		{"oversized message", context.Background(), "/" + AuthorizationService + "/Check", big, []grpc.CallOption{grpc.MaxCallSendMsgSize(8 << 20)},
			codes.ResourceExhausted, "grpc: received message larger than max"},
		{"deadline passed", expired, "/" + AuthorizationService + "/Check", check, nil,
			codes.DeadlineExceeded, "context deadline exceeded"},
		{"health: unknown service", context.Background(), "/grpc.health.v1.Health/Check", &healthpb.HealthCheckRequest{Service: "nope"}, nil,
			codes.NotFound, "unknown service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := conn.Invoke(tt.ctx, tt.method, tt.in, new(authv3.CheckResponse), tt.opts...)
			if st := status.Convert(err); st.Code() != tt.code || !strings.HasPrefix(st.Message(), tt.message) {
				t.Fatalf("got %v; want %v %q", err, tt.code, tt.message)
			}
		})
	}

	compressed := new(authv3.CheckResponse)
	if err := conn.Invoke(context.Background(), "/"+AuthorizationService+"/Check", check, compressed, grpc.UseCompressor(gzip.Name)); err != nil || codes.Code(compressed.GetStatus().GetCode()) != codes.Unauthenticated {
		t.Fatalf("a gzip-compressed check: %v %v", compressed, err)
	}

	list, err := healthpb.NewHealthClient(conn).List(context.Background(), &healthpb.HealthListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]healthpb.HealthCheckResponse_ServingStatus{}
	for k, v := range list.GetStatuses() {
		got[k] = v.GetStatus()
	}
	if len(got) != 2 || got[""] != healthpb.HealthCheckResponse_SERVING || got[AuthorizationService] != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health list %v", got)
	}
}

// TestGRPCTimeoutIsTheCallsDeadline: grpc-timeout, in each unit, becomes
// the handler's context deadline.
func TestGRPCTimeoutIsTheCallsDeadline(t *testing.T) {
	deadlines := make(chan time.Time, 1)
	e := newGRPCEnvWith(t, grpcEnvOptions{setup: func(g *GRPCServer) {
		g.transport.methods["/"+AuthorizationService+"/Deadline"] = grpcMethod{handle: func(ctx context.Context, call *grpcCall, _ []byte) error {
			d, _ := ctx.Deadline()
			deadlines <- d
			return call.send(nil)
		}}
	}})
	tests := []struct {
		timeout string
		want    time.Duration
	}{
		{"1H", time.Hour}, {"2M", 2 * time.Minute}, {"30S", 30 * time.Second},
		{"1500m", 1500 * time.Millisecond}, {"9000000u", 9 * time.Second}, {"99999999n", 99999999},
	}
	for _, tt := range tests {
		t.Run(tt.timeout, func(t *testing.T) {
			start := time.Now()
			r := rawCall(t, e.addr, "/"+AuthorizationService+"/Deadline", http.Header{"Grpc-Timeout": {tt.timeout}}, grpcFrame(0, nil))
			if r.code != "0" {
				t.Fatalf("grpc-status %s %q", r.code, r.message)
			}
			got := (<-deadlines).Sub(start)
			if got < tt.want-time.Second || got > tt.want+time.Second {
				t.Fatalf("deadline in %v, want %v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"1", "123456789S", "1x", "-1S", "S"} {
		if _, err := decodeGRPCTimeout(bad); err == nil {
			t.Errorf("grpc-timeout %q read", bad)
		}
	}
	if d, err := decodeGRPCTimeout("99999999H"); err != nil || d <= 0 {
		t.Errorf("an overflowing grpc-timeout is %v, %v; want the longest", d, err)
	}
}

// TestGRPCDeadlineEndsASlowCheck: a check still deciding at its
// grpc-timeout ends with DEADLINE_EXCEEDED, whatever the engine answers
// after it.
func TestGRPCDeadlineEndsASlowCheck(t *testing.T) {
	e := newGRPCEnv(t, nil)
	e.fake.SetLatency(time.Second) // the first decision waits for the JWKS
	token := e.fake.Sign(e.fake.SessionClaims("user_1"))
	check, err := proto.Marshal(envoyCheck("GET", "/", []string{"Authorization", "Bearer " + token}, nil))
	if err != nil {
		t.Fatal(err)
	}
	r := rawCall(t, e.addr, "/"+AuthorizationService+"/Check", http.Header{"Grpc-Timeout": {"100m"}}, grpcFrame(0, check))
	if r.code != strconv.Itoa(int(codes.DeadlineExceeded)) {
		t.Fatalf("grpc-status %s %q; want DEADLINE_EXCEEDED", r.code, r.message)
	}
}

// TestGRPCClientCancelEndsTheCall: a client's reset (its context
// canceled) cancels the call's context on the server.
func TestGRPCClientCancelEndsTheCall(t *testing.T) {
	started, ended := make(chan struct{}), make(chan error, 1)
	e := newGRPCEnvWith(t, grpcEnvOptions{setup: func(g *GRPCServer) {
		g.transport.methods["/"+AuthorizationService+"/Block"] = grpcMethod{handle: func(ctx context.Context, _ *grpcCall, _ []byte) error {
			close(started)
			select {
			case <-ctx.Done():
				ended <- ctx.Err()
			case <-time.After(5 * time.Second):
				ended <- errors.New("the call's context outlived the client")
			}
			return ctx.Err()
		}}
	}})
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	err = conn.Invoke(ctx, "/"+AuthorizationService+"/Block", &healthpb.HealthCheckRequest{}, new(healthpb.HealthCheckResponse))
	if status.Code(err) != codes.Canceled {
		t.Fatalf("client: %v", err)
	}
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("server: %v", err)
	}
}

// TestGRPCStatusMessageIsPercentEncoded: a grpc-message outside printable
// ASCII reaches grpc-go's client as it was.
func TestGRPCStatusMessageIsPercentEncoded(t *testing.T) {
	const msg = "refusé: 100% \"sure\"\nnext line"
	e := newGRPCEnvWith(t, grpcEnvOptions{setup: func(g *GRPCServer) {
		g.transport.methods["/"+AuthorizationService+"/Fail"] = grpcMethod{handle: func(context.Context, *grpcCall, []byte) error {
			return grpcErr(grpcFailedPrecondition, msg)
		}}
	}})
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	err = conn.Invoke(context.Background(), "/"+AuthorizationService+"/Fail", &healthpb.HealthCheckRequest{}, new(healthpb.HealthCheckResponse))
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || st.Message() != msg {
		t.Fatalf("got %v", err)
	}
	if got := encodeGRPCMessage(msg); got != "refus%C3%A9: 100%25 \"sure\"%0Anext line" {
		t.Fatalf("grpc-message %q", got)
	}
}

// TestGRPCPanicIsInternalError: a panic while deciding becomes INTERNAL
// (Envoy's status_on_error), logged with its stack, not a dead process:
// the server goes on serving checks.
func TestGRPCPanicIsInternalError(t *testing.T) {
	e := newGRPCEnvWith(t, grpcEnvOptions{setup: func(g *GRPCServer) {
		g.transport.methods["/"+AuthorizationService+"/Panic"] = grpcMethod{handle: func(context.Context, *grpcCall, []byte) error {
			panic("boom")
		}}
	}})
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	err = conn.Invoke(context.Background(), "/"+AuthorizationService+"/Panic", envoyCheck("GET", "/", nil, nil), new(authv3.CheckResponse))
	if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != "internal error" {
		t.Fatalf("got %v; want INTERNAL", err)
	}
	if !strings.Contains(e.logs.String(), "boom") || !strings.Contains(e.logs.String(), "panic in gRPC handler") {
		t.Fatal("panic not logged")
	}
	resp, err := e.client.Check(context.Background(), envoyCheck("GET", "/", []string{"Accept", "application/json"}, nil))
	if err != nil || codes.Code(resp.GetStatus().GetCode()) != codes.Unauthenticated {
		t.Fatalf("check after the panic: %v %v", resp, err)
	}
}

// TestGRPCRefusesHTTP1: an HTTP/1.1 request is told this port speaks
// HTTP/2, instead of a closed connection.
func TestGRPCRefusesHTTP1(t *testing.T) {
	e := newGRPCEnv(t, nil)
	resp, err := http.Post("http://"+e.addr+"/"+AuthorizationService+"/Check", "application/grpc", bytes.NewReader(grpcFrame(0, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusHTTPVersionNotSupported || !strings.Contains(string(body), "HTTP/2") {
		t.Fatalf("HTTP/1.1: %d %q", resp.StatusCode, body)
	}
}

// TestGRPCTrustedPeersRefusedBeforeTheMessage: with TRUSTED_PROXIES, an
// untrusted peer's Check is refused whatever it sends; health is open.
func TestGRPCTrustedPeersRefusedBeforeTheMessage(t *testing.T) {
	e := newGRPCEnv(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	for _, body := range [][]byte{grpcFrame(0, nil), {0, 1}, grpcFrame(0, []byte{0xff})} {
		r := rawCall(t, e.addr, "/"+AuthorizationService+"/Check", nil, body)
		if r.code != strconv.Itoa(int(codes.PermissionDenied)) || r.message != "untrusted-proxy" {
			t.Errorf("body % x: grpc-status %s %q; want PERMISSION_DENIED", body, r.code, r.message)
		}
	}
	if r := rawCall(t, e.addr, "/grpc.health.v1.Health/Check", nil, grpcFrame(0, nil)); r.code != "0" {
		t.Fatalf("health: grpc-status %s %q", r.code, r.message)
	}
}

// TestGRPCHealthWatch: Watch sends the status at once, then each change;
// Shutdown sends NOT_SERVING and ends the stream, so it does not hold the
// drain. An unknown service is SERVICE_UNKNOWN, as grpc-go's says.
func TestGRPCHealthWatch(t *testing.T) {
	e := newGRPCEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unknown, err := e.health.Watch(ctx, &healthpb.HealthCheckRequest{Service: "nope"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := unknown.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVICE_UNKNOWN {
		t.Fatalf("unknown service: %v %v", r, err)
	}
	w, err := e.health.Watch(ctx, &healthpb.HealthCheckRequest{Service: AuthorizationService})
	if err != nil {
		t.Fatal(err)
	}
	next := func() healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		r, err := w.Recv()
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		return r.GetStatus()
	}
	if got := next(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("before keys: %v", got)
	}
	token := e.fake.Sign(e.fake.SessionClaims("user_1"))
	if _, err := e.client.Check(ctx, envoyCheck("GET", "/", []string{"Authorization", "Bearer " + token}, nil)); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("after keys: %v", got)
	}
	shutdown := make(chan error, 1)
	go func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		shutdown <- e.server.Shutdown(sctx)
	}()
	if got := next(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("on shutdown: %v", got)
	}
	if _, err := w.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("after shutdown the stream ends UNAVAILABLE: %v", err)
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("shutdown waited for the watch: %v", err)
	}
}

// TestGRPCShutdownClosesWhenTheContextEnds: a check still in progress
// when Shutdown's context ends is cut off, Shutdown says so, and Serve
// returns nil.
func TestGRPCShutdownClosesWhenTheContextEnds(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	e := newGRPCEnvWith(t, grpcEnvOptions{setup: func(g *GRPCServer) {
		g.transport.methods["/"+AuthorizationService+"/Block"] = grpcMethod{handle: func(context.Context, *grpcCall, []byte) error {
			close(started)
			<-release
			return nil
		}}
	}})
	defer close(release)
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	called := make(chan error, 1)
	go func() {
		called <- conn.Invoke(context.Background(), "/"+AuthorizationService+"/Block", &healthpb.HealthCheckRequest{}, new(healthpb.HealthCheckResponse))
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.server.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: %v; want the context's end", err)
	}
	if err := <-called; status.Code(err) != codes.Unavailable {
		t.Fatalf("the cut-off call: %v; want UNAVAILABLE", err)
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
	if c, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
		_ = c.Close()
		t.Fatal("the listener still accepts connections")
	}
}

// TestGRPCCodeNamesMatchGRPCGo: logs and metrics print a code as
// grpc-go's codes.Code did.
func TestGRPCCodeNamesMatchGRPCGo(t *testing.T) {
	for c := range uint32(20) {
		if got, want := grpcCode(c).String(), codes.Code(c).String(); got != want {
			t.Errorf("code %d: %q, want %q", c, got, want)
		}
	}
}
