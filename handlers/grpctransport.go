package handlers

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/observe"
)

// gRPC over Go's own HTTP/2 server, as the gRPC-over-HTTP/2 protocol
// describes it, instead of grpc-go's server: every method this service
// serves takes one request message, so a call is an HTTP/2 request whose
// body is one length-prefixed message and whose reply is zero or more
// messages followed by grpc-status trailers. Where the protocol leaves a
// choice (which status for which malformed call), the answers are
// grpc-go's, so clients see what they saw before.

const (
	// grpcMaxRecvMessage is grpc-go's default receive limit.
	grpcMaxRecvMessage = 4 << 20
	// grpcPrefixLen is a message's prefix: a compressed flag and a
	// big-endian length.
	grpcPrefixLen = 5
)

// grpcHandler serves one method. req is the call's one request message;
// the handler sends its reply messages with call.send and returns nil, or
// returns the error the call ends with.
type grpcHandler func(ctx context.Context, call *grpcCall, req []byte) error

// grpcMethod is a method the server serves.
type grpcMethod struct {
	handle grpcHandler
	// trusted: only peers in TRUSTED_PROXIES may call it (when set).
	trusted bool
}

// grpcCall is one call in progress.
type grpcCall struct {
	w           http.ResponseWriter
	r           *http.Request
	contentType []string
	sent        bool // the headers, and a message, went out
	gzip        bool // grpc-encoding: gzip, a compressed message is gzip
	prefix      [grpcPrefixLen]byte
}

var (
	grpcContentType      = []string{"application/grpc"}
	grpcProtoContentType = []string{"application/grpc+proto"}
	grpcEmptyMessage     = []string{""}
)

// grpcTransport routes HTTP/2 requests to the methods, by path
// (/<service>/<method>).
type grpcTransport struct {
	methods  map[string]grpcMethod
	services map[string]bool
	log      *slog.Logger
	trusted  func(remoteAddr string) bool // nil: every peer
}

func (t *grpcTransport) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 {
		refuseHTTP1(w)
		return
	}
	call := &grpcCall{w: w, r: r, contentType: grpcContentType}
	subtype, ok := grpcContentSubtype(r.Header.Get("Content-Type"))
	if !ok {
		call.fail(http.StatusUnsupportedMediaType, grpcInvalidArgument, fmt.Sprintf("invalid gRPC request content-type %q", r.Header.Get("Content-Type")))
		return
	}
	if subtype == "proto" {
		call.contentType = grpcProtoContentType
	}
	ctx := r.Context()
	if v := r.Header["Grpc-Timeout"]; len(v) > 0 {
		timeout, err := decodeGRPCTimeout(v[0])
		if err != nil {
			call.fail(http.StatusBadRequest, grpcInternal, "malformed grpc-timeout: "+err.Error())
			return
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
		// The body read ends at the deadline too, as it would not
		// otherwise: a client that never sends its message is held to
		// its own timeout.
		deadline, _ := ctx.Deadline()
		_ = http.NewResponseController(w).SetReadDeadline(deadline)
	}
	if r.Method != http.MethodPost {
		call.fail(http.StatusMethodNotAllowed, grpcInternal, fmt.Sprintf("Received a HEADERS frame with :method %q which should be POST", r.Method))
		return
	}
	if ctx.Err() != nil {
		call.fail(http.StatusOK, grpcDeadlineExceeded, context.DeadlineExceeded.Error())
		return
	}
	m, ok := t.route(call)
	if !ok {
		return
	}
	// An untrusted peer is refused before anything it sent is read
	// further.
	if m.trusted && t.trusted != nil && !t.trusted(r.RemoteAddr) {
		t.log.Warn("untrusted proxy refused", "remote_addr", r.RemoteAddr, "method", r.RequestURI)
		call.fail(http.StatusOK, grpcPermissionDenied, "untrusted-proxy")
		return
	}
	switch enc := r.Header.Get("Grpc-Encoding"); enc {
	case "", "identity":
	case "gzip":
		// grpc-go's server read gzip, registered by a package the binary
		// linked; replies go uncompressed, which the protocol allows.
		call.gzip = true
	default:
		call.fail(http.StatusOK, grpcUnimplemented, fmt.Sprintf("grpc: Decompressor is not installed for grpc-encoding %q", enc))
		return
	}
	req, err := call.recvOne()
	if err != nil {
		call.end(err)
		return
	}
	call.end(t.handle(ctx, call, m, req))
}

// route finds the call's method, answering UNIMPLEMENTED, in grpc-go's
// words, when there is none.
func (t *grpcTransport) route(call *grpcCall) (grpcMethod, bool) {
	path := call.r.RequestURI // the raw :path, as grpc-go reads it
	if m, ok := t.methods[path]; ok {
		return m, true
	}
	sm, found := strings.CutPrefix(path, "/")
	pos := strings.LastIndex(sm, "/")
	switch {
	case !found || pos < 0:
		call.fail(http.StatusOK, grpcUnimplemented, fmt.Sprintf("malformed method name: %q", path))
	case !t.services[sm[:pos]]:
		call.fail(http.StatusOK, grpcUnimplemented, "unknown service "+sm[:pos])
	default:
		call.fail(http.StatusOK, grpcUnimplemented, fmt.Sprintf("unknown method %v for service %v", sm[pos+1:], sm[:pos]))
	}
	return grpcMethod{}, false
}

// handle runs the method, answering a panic with INTERNAL as net/http
// survives a handler's panic: Envoy then applies status_on_error (fail
// closed) and the process keeps serving.
func (t *grpcTransport) handle(ctx context.Context, call *grpcCall, m grpcMethod, req []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			t.log.ErrorContext(ctx, "panic in gRPC handler", "method", call.r.RequestURI, "panic", observe.Redact(fmt.Sprint(p)), "stack", string(debug.Stack()))
			err = grpcErr(grpcInternal, "internal error")
		}
	}()
	err = m.handle(ctx, call, req)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		// The client gave up at its deadline: whatever failed after it
		// failed because of it.
		err = context.DeadlineExceeded
	}
	return err
}

// recvOne reads the call's request message and the end of the request
// body after it: every method here takes exactly one. The errors are
// grpc-go's for the same malformed bodies.
func (c *grpcCall) recvOne() ([]byte, error) {
	msg, err := c.recv()
	if err == io.EOF {
		return nil, grpcErr(grpcInternal, "cardinality violation: received no request message from non-client-streaming RPC")
	}
	if err != nil {
		return nil, err
	}
	switch _, err := c.recv(); {
	case err == io.EOF:
		return msg, nil
	case err != nil:
		return nil, err
	}
	return nil, grpcErr(grpcInternal, "cardinality violation: received multiple request messages for non-client-streaming RPC")
}

// recv reads one message: io.EOF when the body ends before one starts.
func (c *grpcCall) recv() ([]byte, error) {
	if _, err := io.ReadFull(c.r.Body, c.prefix[:]); err != nil {
		return nil, bodyError(err)
	}
	switch c.prefix[0] {
	case 0:
	case 1:
		if !c.gzip {
			return nil, grpcErr(grpcInternal, "grpc: compressed flag set with identity or empty encoding")
		}
	default:
		return nil, grpcErr(grpcInternal, fmt.Sprintf("grpc: received unexpected payload format %d", c.prefix[0]))
	}
	n := binary.BigEndian.Uint32(c.prefix[1:])
	if n > grpcMaxRecvMessage {
		return nil, grpcErr(grpcResourceExhausted, fmt.Sprintf("grpc: received message larger than max (%d vs. %d)", n, grpcMaxRecvMessage))
	}
	// The buffer grows with what arrives, not with what the prefix
	// claims: a peer announcing 4 MiB and sending nothing holds no 4 MiB.
	// A message of up to 64 KiB (a CheckRequest is a few) is read into
	// one allocation: its size, and the room ReadFrom wants free before
	// the read that finds the end.
	buf := bytes.NewBuffer(make([]byte, 0, min(n, 64<<10)+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(c.r.Body, int64(n))); err != nil {
		return nil, bodyError(err)
	}
	msg := buf.Bytes()
	if len(msg) < int(n) {
		return nil, bodyError(io.ErrUnexpectedEOF)
	}
	if c.prefix[0] == 1 {
		return gunzipMessage(msg)
	}
	return msg, nil
}

// gunzipMessage decompresses a message, to the receive limit at most (a
// small message must not expand without bound).
func gunzipMessage(msg []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(msg))
	if err != nil {
		return nil, grpcErr(grpcInternal, "grpc: failed to decompress the message: "+err.Error())
	}
	out, err := io.ReadAll(io.LimitReader(zr, grpcMaxRecvMessage+1))
	if err != nil {
		return nil, grpcErr(grpcInternal, "grpc: failed to read decompressed data: "+err.Error())
	}
	if len(out) > grpcMaxRecvMessage {
		return nil, grpcErr(grpcResourceExhausted, fmt.Sprintf("grpc: received message after decompression larger than max %d", grpcMaxRecvMessage))
	}
	return out, nil
}

// bodyError is the status of a failed body read: a truncated message is
// INTERNAL, a deadline DEADLINE_EXCEEDED, a reset stream CANCELED.
func bodyError(err error) error {
	if err == io.EOF {
		return err
	}
	if err == io.ErrUnexpectedEOF {
		return grpcErr(grpcInternal, err.Error())
	}
	if code, _ := grpcStatusOf(err); code == grpcDeadlineExceeded {
		return err
	}
	return grpcErr(grpcCanceled, "reading the request: "+err.Error())
}

// send writes one reply message, after the headers on the first.
func (c *grpcCall) send(msg []byte) error {
	if len(msg) > math.MaxUint32 {
		return grpcErr(grpcResourceExhausted, "reply message too large")
	}
	if !c.sent {
		c.sent = true
		h := c.w.Header()
		h["Content-Type"] = c.contentType
		c.w.WriteHeader(http.StatusOK)
	}
	c.prefix[0] = 0
	binary.BigEndian.PutUint32(c.prefix[1:], uint32(len(msg))) //nolint:gosec // bounded above
	if _, err := c.w.Write(c.prefix[:]); err != nil {
		return fmt.Errorf("write reply: %w", err)
	}
	if _, err := c.w.Write(msg); err != nil {
		return fmt.Errorf("write reply: %w", err)
	}
	return nil
}

// flush sends what send wrote now: a streaming reply's message must not
// wait for the next.
func (c *grpcCall) flush() error {
	if err := http.NewResponseController(c.w).Flush(); err != nil {
		return fmt.Errorf("flush reply: %w", err)
	}
	return nil
}

// end finishes the call with err's status: in trailers after a message,
// else as a trailers-only reply.
func (c *grpcCall) end(err error) {
	code, msg := grpcStatusOf(err)
	if !c.sent {
		c.fail(http.StatusOK, code, msg)
		return
	}
	h := c.w.Header()
	h[http.TrailerPrefix+"Grpc-Status"] = code.statusValue()
	h[http.TrailerPrefix+"Grpc-Message"] = grpcMessageValue(msg)
}

// fail answers a call with no message: a trailers-only reply (one HEADERS
// frame ending the stream), with an HTTP status other than 200 where
// grpc-go sends one.
func (c *grpcCall) fail(httpStatus int, code grpcCode, msg string) {
	c.sent = true
	h := c.w.Header()
	h["Content-Type"] = c.contentType
	h["Grpc-Status"] = code.statusValue()
	h["Grpc-Message"] = grpcMessageValue(msg)
	c.w.WriteHeader(httpStatus)
}

func grpcMessageValue(msg string) []string {
	if msg == "" {
		return grpcEmptyMessage
	}
	return []string{encodeGRPCMessage(msg)}
}

// grpcContentSubtype reads a gRPC content-type: application/grpc, or
// application/grpc+proto (subtype "proto"), the only message encoding
// served.
func grpcContentSubtype(ct string) (string, bool) {
	switch ct {
	case "application/grpc":
		return "", true
	case "application/grpc+proto":
		return "proto", true
	}
	return "", false
}

// decodeGRPCTimeout reads grpc-timeout: at most 8 digits and a unit, H M
// S m u n, as grpc-go reads it (an overflowing value is the longest
// duration).
func decodeGRPCTimeout(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("transport: timeout string is too short: %q", s)
	}
	if len(s) > 9 {
		return 0, fmt.Errorf("transport: timeout string is too long: %q", s)
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, fmt.Errorf("transport: timeout unit is not recognized: %q", s)
	}
	v, err := strconv.ParseUint(s[:len(s)-1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("transport: timeout value %q: %w", s, err)
	}
	if v > uint64(math.MaxInt64/unit) {
		return time.Duration(math.MaxInt64), nil
	}
	return time.Duration(v) * unit, nil //nolint:gosec // bounded above
}

// refuseHTTP1 answers a request that is not HTTP/2: gRPC needs HTTP/2,
// here without TLS and with prior knowledge (no Upgrade), which is what
// Envoy's and grpc-go's clients speak on a plaintext port.
func refuseHTTP1(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	http.Error(w, "this is a gRPC port: it speaks HTTP/2 without TLS (prior knowledge, h2c), not HTTP/1.x", http.StatusHTTPVersionNotSupported)
}
