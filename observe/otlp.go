package observe

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/encoding/protowire"
)

// otlpExporter sends the batch span processor's spans to an OTLP/HTTP
// collector as protobuf. It stands in for the SDK's otlptracehttp, which
// links the generated OTLP messages, gRPC and grpc-gateway: their
// package-level data made every garbage collection cycle longer, and so
// the service's tail latency. It reads the same OTEL_EXPORTER_OTLP_*
// variables (otlpconfig.go).
type otlpExporter struct {
	cfg       *otlpConfig
	userAgent string
	transport *http.Transport
	client    *http.Client
	// stopped is cancelled by Shutdown: later exports fail, and one under
	// way stops.
	stopped context.Context
	stop    context.CancelFunc
	// First wait between retries, doubled up to maxBackoff; tests
	// shorten them.
	backoff, maxBackoff time.Duration
}

var _ sdktrace.SpanExporter = (*otlpExporter)(nil)

// otlpMaxResponse bounds what is read of a collector's answer: a
// misbehaving one must not make the service hold megabytes.
const otlpMaxResponse = 4 << 20

// otlpMaxRetrying bounds retries when neither the exporter's timeout nor
// the caller's context gives a deadline.
const otlpMaxRetrying = time.Minute

var errOTLPShutdown = errors.New("otlp exporter is shut down")

// newOTLPExporter sends as cfg says; userAgent names the service.
func newOTLPExporter(cfg *otlpConfig, userAgent string) *otlpExporter {
	transport := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       cfg.tls,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	stopped, stop := context.WithCancel(context.Background())
	return &otlpExporter{
		cfg:       cfg,
		userAgent: userAgent,
		transport: transport,
		client: &http.Client{
			Transport: transport,
			// A redirect would carry the configured headers (API keys)
			// to wherever it points: the collector's answer is final.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		stopped:    stopped,
		stop:       stop,
		backoff:    500 * time.Millisecond,
		maxBackoff: 5 * time.Second,
	}
}

// ExportSpans sends spans in one request, retrying what the collector
// says may succeed later (429, 502, 503, 504) or a failed connection,
// until the configured timeout.
func (e *otlpExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if e.stopped.Err() != nil {
		return errOTLPShutdown
	}
	if len(spans) == 0 {
		return nil
	}
	body := appendExportRequest(nil, spans)
	if e.cfg.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(body); err != nil {
			return fmt.Errorf("otlp export: gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("otlp export: gzip: %w", err)
		}
		body = buf.Bytes()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(e.stopped, cancel)()
	if e.cfg.timeout > 0 {
		var cancelTimeout context.CancelFunc
		ctx, cancelTimeout = context.WithTimeout(ctx, e.cfg.timeout)
		defer cancelTimeout()
	}
	if err := e.sendWithRetries(ctx, body); err != nil {
		return fmt.Errorf("otlp export of %d spans: %w", len(spans), err)
	}
	return nil
}

// Shutdown makes later exports fail, stops one under way and closes the
// idle connections.
func (e *otlpExporter) Shutdown(context.Context) error {
	e.stop()
	e.transport.CloseIdleConnections()
	return nil
}

func (e *otlpExporter) sendWithRetries(ctx context.Context, body []byte) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(otlpMaxRetrying)
	}
	backoff := e.backoff
	var last error // the previous attempt's, for when time runs out during this one
	for {
		retryAfter, retry, err := e.send(ctx, body)
		if err != nil && last != nil && ctx.Err() != nil {
			return fmt.Errorf("%w, then %w", last, err)
		}
		if err == nil || !retry {
			return err
		}
		last = err
		wait := retryAfter
		if wait <= 0 {
			// Half to all of the backoff: replicas that failed together do
			// not retry together.
			wait = backoff/2 + rand.N(backoff/2+1) //nolint:gosec // jitter, not a secret
			backoff = min(2*backoff, e.maxBackoff)
		}
		if time.Until(deadline) < wait {
			return fmt.Errorf("%w (no time left to retry)", err)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%w (retry abandoned: %w)", err, ctx.Err())
		case <-timer.C:
		}
	}
}

// send makes one attempt. retry says whether another may succeed, after
// retryAfter when the collector said how long. Errors never quote the
// request's headers.
func (e *otlpExporter) send(ctx context.Context, body []byte) (retryAfter time.Duration, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.url, bytes.NewReader(body))
	if err != nil {
		return 0, false, fmt.Errorf("request: %w", err)
	}
	for k, v := range e.cfg.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", e.userAgent)
	if e.cfg.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, ctx.Err() == nil && transientNetError(err), err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return 0, false, readOTLPResponse(resp)
	}
	// Drain (boundedly) so that the connection can be reused; the body
	// itself is the collector's prose, not needed to act.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, otlpMaxResponse))
	statusErr := fmt.Errorf("collector answered %s", resp.Status)
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return parseRetryAfter(resp.Header.Get("Retry-After")), true, statusErr
	}
	return 0, false, statusErr
}

// transientNetError: the collector could not be reached or dropped the
// connection, which a restart or a rollout of collectors does; another
// attempt may succeed. A TLS failure (an untrusted certificate) is not
// retried: it would fail the same way.
func transientNetError(err error) bool {
	var netErr net.Error
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		(errors.As(err, &netErr) && netErr.Timeout())
}

// readOTLPResponse reads a successful answer; a partial success (spans
// the collector rejected) is an error.
func readOTLPResponse(resp *http.Response) error {
	data, err := io.ReadAll(io.LimitReader(resp.Body, otlpMaxResponse+1))
	if err != nil {
		return fmt.Errorf("reading the collector's answer: %w", err)
	}
	if len(data) > otlpMaxResponse {
		return fmt.Errorf("the collector's answer is over %d bytes", otlpMaxResponse)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/x-protobuf" || len(data) == 0 {
		return nil
	}
	rejected, msg, err := parsePartialSuccess(data)
	if err != nil {
		return fmt.Errorf("the collector's answer: %w", err)
	}
	if rejected != 0 || msg != "" {
		const maxMsg = 512
		if len(msg) > maxMsg {
			msg = msg[:maxMsg] + "…"
		}
		return fmt.Errorf("the collector rejected %d spans: %q", rejected, msg)
	}
	return nil
}

// parsePartialSuccess reads ExportTraceServiceResponse.partial_success.
// A field that appears twice is merged as protobuf merges it: the later
// value of each inner field wins.
func parsePartialSuccess(b []byte) (rejected int64, msg string, err error) {
	readPartial := func(num protowire.Number, typ protowire.Type, v []byte) bool {
		switch {
		case num == fieldPartialRejectedSpans && typ == protowire.VarintType:
			x, _ := protowire.ConsumeVarint(v)
			rejected = int64(x) //nolint:gosec // an int64 field is its two's complement on the wire
		case num == fieldPartialErrorMessage && typ == protowire.BytesType:
			msg, _ = protowire.ConsumeString(v)
		}
		return true
	}
	ok := walkWireFields(b, func(num protowire.Number, typ protowire.Type, v []byte) bool {
		if num != fieldResponsePartialSuccess || typ != protowire.BytesType {
			return true
		}
		ps, _ := protowire.ConsumeBytes(v)
		return walkWireFields(ps, readPartial)
	})
	if !ok {
		return 0, "", errors.New("malformed ExportTraceServiceResponse")
	}
	return rejected, msg, nil
}

// walkWireFields calls visit with each field of message b and its value's
// bytes (after the tag), already checked to be whole, so visit's own
// protowire.Consume* calls cannot fail. It stops at visit's false and
// returns false then, or when b is malformed.
func walkWireFields(b []byte, visit func(num protowire.Number, typ protowire.Type, v []byte) bool) bool {
	for len(b) > 0 {
		num, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return false
		}
		n := protowire.ConsumeFieldValue(num, typ, b[tagLen:])
		if n < 0 || !visit(num, typ, b[tagLen:tagLen+n]) {
			return false
		}
		b = b[tagLen+n:]
	}
	return true
}

// parseRetryAfter reads Retry-After's seconds or HTTP date; 0 when absent
// or unreadable (the exporter's own backoff then applies).
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(otlpMaxRetrying/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), otlpMaxRetrying)
	}
	return 0
}
