//go:build e2e

package integrations

// The upstream app behind each proxy: records every request it gets and
// answers 200, or upgrades to a WebSocket echo. Also a transparent tap in
// front of the service that records each auth request and its answer.

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// testIDHeader tags each test request so that the upstream and the tap can
// tell which recorded request belongs to which scenario.
const testIDHeader = "X-E2e-Test-Id"

// appSetCookieHeader asks the app to answer each value as a Set-Cookie.
const appSetCookieHeader = "X-E2e-App-Set-Cookie"

// seenRequest is one request as an HTTP server received it.
type seenRequest struct {
	Method     string
	Host       string
	RequestURI string // raw, as on the request line
	Path       string
	RawPath    string
	RawQuery   string
	Header     http.Header
	// For the tap only: the service's answer.
	Status     int
	RespHeader http.Header
	RespBody   string
}

// recorder is a concurrency-safe list of seen requests.
type recorder struct {
	mu   sync.Mutex
	reqs []seenRequest
}

func (r *recorder) add(s seenRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, s)
}

// byID returns the requests tagged with id, oldest first.
func (r *recorder) byID(id string) []seenRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []seenRequest
	for _, s := range r.reqs {
		if s.Header.Get(testIDHeader) == id {
			out = append(out, s)
		}
	}
	return out
}

func snapshot(r *http.Request) seenRequest {
	return seenRequest{
		Method:     r.Method,
		Host:       r.Host,
		RequestURI: r.RequestURI,
		Path:       r.URL.Path,
		RawPath:    r.URL.RawPath,
		RawQuery:   r.URL.RawQuery,
		Header:     r.Header.Clone(),
	}
}

// upstream is the recording app server.
type upstream struct {
	recorder
	addr string
}

// startUpstream starts the app on a free 127.0.0.1 port.
func startUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{}
	u.addr = serveLoopback(t, u)
	return u
}

// serveLoopback serves h on a free 127.0.0.1 port until the test ends and
// returns its address.
func serveLoopback(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.add(snapshot(r))
	_, _ = io.Copy(io.Discard, r.Body)
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		serveWebSocketEcho(w, r)
		return
	}
	// A test asks the app to set cookies of its own, to see what the proxy
	// does with them next to the service's.
	for _, c := range r.Header.Values(appSetCookieHeader) {
		w.Header().Add("Set-Cookie", c)
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Upstream", "app")
	_, _ = io.WriteString(w, "hello from the app\n")
}

// websocketAccept computes Sec-WebSocket-Accept (RFC 6455 §4.2.2).
func websocketAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// serveWebSocketEcho upgrades the connection and echoes frames until close.
func serveWebSocketEcho(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if key == "" || !headerHasToken(r.Header, "Connection", "upgrade") {
		http.Error(w, "bad websocket handshake", http.StatusBadRequest)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "no hijacker", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer func() { _ = conn.Close() }()
	// The client's handshake check relies on this reply; without it, hang up.
	if _, err := fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", websocketAccept(key)); err != nil {
		return
	}
	if err := rw.Flush(); err != nil {
		return
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	for {
		op, payload, err := readFrame(rw.Reader)
		if err != nil {
			return
		}
		if op == 0x8 { // close
			_ = writeFrame(conn, 0x8, payload, false)
			return
		}
		if err := writeFrame(conn, op, payload, false); err != nil {
			return
		}
	}
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// readFrame reads one unfragmented WebSocket frame and unmasks it.
func readFrame(r *bufio.Reader) (byte, []byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	if hdr[0]&0x80 == 0 {
		return 0, nil, errors.New("fragmented frames are not supported")
	}
	op := hdr[0] & 0x0f
	masked := hdr[1]&0x80 != 0
	n := uint64(hdr[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 1<<20 {
		return 0, nil, errors.New("frame too large")
	}
	var mask [4]byte
	if masked {
		if _, err := io.ReadFull(r, mask[:]); err != nil {
			return 0, nil, err
		}
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	if masked {
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	return op, payload, nil
}

// writeFrame writes one final frame; clients must mask, servers must not.
func writeFrame(w io.Writer, op byte, payload []byte, mask bool) error {
	b := []byte{0x80 | op}
	maskBit := byte(0)
	if mask {
		maskBit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, maskBit|byte(n))
	case n < 1<<16:
		b = append(b, maskBit|126, byte(n>>8), byte(n))
	default:
		b = append(b, maskBit|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	body := append([]byte(nil), payload...)
	if mask {
		key := [4]byte{0x12, 0x34, 0x56, 0x78}
		b = append(b, key[:]...)
		for i := range body {
			body[i] ^= key[i%4]
		}
	}
	_, err := w.Write(append(b, body...))
	return err
}

// authTap is a transparent recording proxy between a proxy and the service:
// it keeps method, Host, raw request URI and every header (it adds no
// X-Forwarded-* of its own), and records the service's status and headers.
type authTap struct {
	recorder
	addr string
}

func startAuthTap(t testing.TB, service string) *authTap {
	t.Helper()
	target, err := url.Parse(service)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tap := &authTap{addr: ln.Addr().String()}
	transport := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16}
	// Hand-built rather than httputil.ReverseProxy, which would add to
	// X-Forwarded-For (Director) or delete X-Forwarded-* (Rewrite).
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := &http.Request{
			Method:        r.Method,
			URL:           &url.URL{Scheme: target.Scheme, Host: target.Host, Opaque: r.RequestURI},
			Header:        r.Header.Clone(),
			Host:          r.Host,
			Body:          r.Body,
			ContentLength: r.ContentLength,
			Proto:         "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		}
		if r.ContentLength == 0 {
			out.Body = nil
		}
		for _, h := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
			out.Header.Del(h)
		}
		res, err := transport.RoundTrip(out.WithContext(r.Context()))
		s := snapshot(r)
		if err != nil {
			s.Status = -1
			s.RespBody = err.Error()
			tap.add(s)
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer func() { _ = res.Body.Close() }()
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
		s.Status = res.StatusCode
		s.RespHeader = res.Header.Clone()
		s.RespBody = string(body)
		tap.add(s)
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(body)
	})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); transport.CloseIdleConnections() })
	return tap
}
