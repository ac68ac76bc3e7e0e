// Command load is the benchmark's load generator: a closed loop of
// keep-alive HTTP/1.1 connections to 127.0.0.1, each sending a request,
// reading the whole answer and timing it. It writes pre-formatted request
// bytes and parses only the status line and the body length, so that on a
// shared machine it costs less CPU than the server it measures (Go's
// net/http client would cost more).
//
// Token sources (-tokens):
//
//	repeat   the first token of -token-file, every time
//	unique   never the same string twice: variant k of token b (b = i mod
//	         count, k = i / count) is token b with k "=" appended to its
//	         signature segment, a distinct but valid token (see fakeclerk)
//	garbage  JWT-shaped garbage, never the same twice
//	badsig   a valid header and payload with a forged signature, never the
//	         same twice
//	list     token i mod count of -token-file, as written (API keys: with
//	         -start 1 and -n count-1, each request a key never seen before)
//
// It prints one line of key=value pairs.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type config struct {
	target      *url.URL
	conns       int
	duration    time.Duration
	maxRequests int64
	mode        string
	source      string
	tokens      []string
	start       int64
	suffix      string
	clientUAT   string
	expect      int
}

func main() {
	var (
		c         config
		rawURL    = flag.String("url", "", "URL to load, http://127.0.0.1:port/path?query")
		tokenFile = flag.String("token-file", "", "valid tokens, one per line")
		wait      = flag.String("wait", "", "only wait until this URL answers 200 (30 s at most), then exit")
	)
	flag.IntVar(&c.conns, "c", 32, "connections")
	flag.DurationVar(&c.duration, "d", 10*time.Second, "duration (upper bound)")
	flag.Int64Var(&c.maxRequests, "n", 0, "requests to send (0: as many as the duration allows)")
	flag.StringVar(&c.mode, "mode", "header", "where the token goes: header (Authorization: Bearer) or cookie (__session and __session_<suffix>)")
	flag.StringVar(&c.source, "tokens", "repeat", "repeat, unique, garbage, badsig or list")
	flag.Int64Var(&c.start, "start", 0, "first variant index for -tokens unique/garbage/badsig/list")
	flag.StringVar(&c.suffix, "suffix", "", "cookie suffix (mode cookie)")
	flag.StringVar(&c.clientUAT, "client-uat", "1", "__client_uat value (mode cookie)")
	flag.IntVar(&c.expect, "expect", 200, "expected status; others are counted as unexpected")
	flag.Parse()
	if *wait != "" {
		if err := waitFor(*wait); err != nil {
			log.Fatalf("load: %v", err)
		}
		return
	}
	u, err := url.Parse(*rawURL)
	if err != nil || u.Scheme != "http" {
		log.Fatalf("load: -url must be an http:// URL")
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
		log.Fatalf("load: refusing to load %s: loopback only", h)
	}
	c.target = u
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			log.Fatalf("load: %v", err)
		}
		c.tokens = strings.Fields(string(b))
	}
	if len(c.tokens) == 0 && (c.source == "repeat" || c.source == "unique" || c.source == "badsig" || c.source == "list") {
		log.Fatalf("load: -tokens %s needs -token-file", c.source)
	}
	res := run(&c)
	fmt.Println(res)
}

// waitFor polls url until it answers 200.
func waitFor(u string) error {
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		resp, err := client.Get(u)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer 200 within 30 s", u)
}

type result struct {
	requests   int64
	elapsed    time.Duration
	latencies  []time.Duration
	statuses   map[int]int64
	unexpected int64
	errors     int64
}

func (r *result) String() string {
	slices.Sort(r.latencies)
	pct := func(p float64) float64 {
		if len(r.latencies) == 0 {
			return 0
		}
		i := int(p * float64(len(r.latencies)-1))
		return float64(r.latencies[i]) / float64(time.Microsecond)
	}
	var codes []string
	for code, n := range r.statuses {
		codes = append(codes, fmt.Sprintf("%d:%d", code, n))
	}
	slices.Sort(codes)
	return fmt.Sprintf("requests=%d seconds=%.2f rps=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f statuses=%s unexpected=%d errors=%d",
		r.requests, r.elapsed.Seconds(), float64(r.requests)/r.elapsed.Seconds(), pct(0.50), pct(0.90), pct(0.99), pct(0.999), pct(1),
		strings.Join(codes, ","), r.unexpected, r.errors)
}

func run(c *config) *result {
	ctx, cancel := context.WithTimeout(context.Background(), c.duration)
	defer cancel()
	var next atomic.Int64
	results := make([]*result, c.conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range results {
		results[i] = &result{statuses: map[int]int64{}, latencies: make([]time.Duration, 0, 1<<15)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker(ctx, c, &next, results[i])
		}()
	}
	wg.Wait()
	total := &result{elapsed: time.Since(start), statuses: map[int]int64{}}
	for _, r := range results {
		total.requests += r.requests
		total.latencies = append(total.latencies, r.latencies...)
		total.unexpected += r.unexpected
		total.errors += r.errors
		for code, n := range r.statuses {
			total.statuses[code] += n
		}
	}
	return total
}

// worker keeps one connection busy until the deadline or the request
// budget is spent, reconnecting after errors.
func worker(ctx context.Context, c *config, next *atomic.Int64, r *result) {
	var (
		conn net.Conn
		br   *bufio.Reader
		buf  []byte
		tb   tokenBuilder
	)
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	for ctx.Err() == nil {
		i := next.Add(1) - 1
		if c.maxRequests > 0 && i >= c.maxRequests {
			return
		}
		if conn == nil {
			var err error
			conn, err = (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", c.target.Host)
			if err != nil {
				r.errors++
				time.Sleep(10 * time.Millisecond)
				continue
			}
			br = bufio.NewReaderSize(conn, 16<<10)
		}
		buf = c.request(buf[:0], tb.token(c, c.start+i))
		t0 := time.Now()
		if deadline, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(deadline.Add(2 * time.Second))
		}
		_, err := conn.Write(buf)
		var status int
		var closeAfter bool
		if err == nil {
			status, closeAfter, err = readResponse(br)
		}
		if err != nil {
			if ctx.Err() == nil {
				r.errors++
			}
			_ = conn.Close()
			conn = nil
			continue
		}
		r.latencies = append(r.latencies, time.Since(t0))
		r.requests++
		r.statuses[status]++
		if status != c.expect {
			r.unexpected++
		}
		if closeAfter {
			_ = conn.Close()
			conn = nil
		}
	}
}

// request formats a Traefik-style forwardAuth request carrying token.
func (c *config) request(b []byte, token []byte) []byte {
	b = append(b, "GET "...)
	b = append(b, c.target.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, c.target.Host...)
	b = append(b, "\r\nUser-Agent: clerk-forward-auth-bench\r\nAccept: application/json\r\n"...)
	b = append(b, "X-Forwarded-Method: GET\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: app.example.test\r\nX-Forwarded-Uri: /dashboard\r\nX-Forwarded-For: 203.0.113.7\r\n"...)
	switch c.mode {
	case "cookie":
		b = append(b, "Cookie: _ga=GA1.2.1234567890.1700000000; __client_uat="...)
		b = append(b, c.clientUAT...)
		b = append(b, "; __client_uat_"...)
		b = append(b, c.suffix...)
		b = append(b, '=')
		b = append(b, c.clientUAT...)
		b = append(b, "; __session="...)
		b = append(b, token...)
		b = append(b, "; __session_"...)
		b = append(b, c.suffix...)
		b = append(b, '=')
		b = append(b, token...)
		b = append(b, "; theme=dark\r\n"...)
	default:
		b = append(b, "Authorization: Bearer "...)
		b = append(b, token...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// tokenBuilder makes the i-th token of the source without allocating.
type tokenBuilder struct{ b []byte }

// garbagePayload is random base64url: it decodes, but not to JSON.
const garbagePayload = "q83vEjRWeJq8HkwhM0Gu6F1z7J-XyZ0bdQk4pYlT2e3rNcVa_8mXoBgLHsWfDiUK" +
	"tR5n9PjwOyA1CxE7GzIqMdhS6bVuFlZe4KaNiJ2o0gTs3rWcX8yQv-_mHpLfDBkUw" +
	"A9eYnRjP7tZ1lGxC5sKqVhM3bOiEdF0uJaW4g6NzT2oQyLc8SpXvB-rmI_kHfUeDw" +
	"Z1aYnRjP7tZ1lGxC5sKqVhM3bOiEdF0uJaW4g6NzT2oQyLc8SpXvB-rmI_kHfUeDw" +
	"q83vEjRWeJq8HkwhM0Gu6F1z7J-XyZ0bdQk4pYlT2e3rNcVa_8mXoBgLHsWfDiUK" +
	"tR5n9PjwOyA1CxE7GzIqMdhS6bVuFlZe4KaNiJ2o0gTs3rWcX8yQv-_mHpLfDBkUw"

const hexDigits = "0123456789abcdef"

func appendHex16(b []byte, i int64) []byte {
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hexDigits[(i>>shift)&0xf])
	}
	return b
}

func (tb *tokenBuilder) token(c *config, i int64) []byte {
	b := tb.b[:0]
	switch c.source {
	case "repeat":
		b = append(b, c.tokens[0]...)
	case "unique":
		n := int64(len(c.tokens))
		b = append(b, c.tokens[i%n]...)
		for k := i / n; k > 0; k-- {
			b = append(b, '=')
		}
	case "list":
		b = append(b, c.tokens[i%int64(len(c.tokens))]...)
	case "garbage":
		b = append(b, "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."...)
		b = appendHex16(b, i)
		b = append(b, garbagePayload[:len(garbagePayload)-len(garbagePayload)%4]...)
		b = append(b, '.')
		b = append(b, garbagePayload[:342]...)
	case "badsig":
		tok := c.tokens[i%int64(len(c.tokens))]
		// Overwrite low-order signature bytes (not the last character,
		// which holds padding bits): the forged value stays below the
		// modulus, so it costs a full RSA verification, as a real forgery
		// does. A changed top byte could exceed the modulus and be refused
		// before any arithmetic.
		b = append(b, tok[:len(tok)-17]...)
		b = appendHex16(b, i)
		b = append(b, tok[len(tok)-1])
	default:
		log.Fatalf("load: unknown -tokens %q", c.source)
	}
	tb.b = b
	return b
}

var errMalformed = errors.New("malformed response")

// readResponse reads one response and discards its body. It understands
// Content-Length and chunked bodies, which is all net/http servers send.
func readResponse(br *bufio.Reader) (status int, closeAfter bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, false, errMalformed
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, errMalformed
	}
	length, chunked := -1, false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		if len(line) <= 2 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, false, errMalformed
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			length, err = strconv.Atoi(string(value))
			if err != nil {
				return 0, false, errMalformed
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closeAfter = bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		for {
			line, err = br.ReadSlice('\n')
			if err != nil {
				return 0, false, err
			}
			size, perr := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
			if perr != nil {
				return 0, false, errMalformed
			}
			if _, err = br.Discard(int(size) + 2); err != nil {
				return 0, false, err
			}
			if size == 0 {
				return status, closeAfter, nil
			}
		}
	case length > 0:
		_, err = br.Discard(length)
	}
	return status, closeAfter, err
}
