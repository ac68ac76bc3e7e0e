package observe

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// otlpConfig is where and how the OTLP exporter sends spans, read from
// the standard OTEL_EXPORTER_OTLP_* variables as the OpenTelemetry
// specification gives them for OTLP/HTTP. A bad value is an error naming
// the variable, so that the service refuses to start rather than drop
// its spans (or send them in the clear) without a word.
type otlpConfig struct {
	url      string // scheme, host and path only
	headers  http.Header
	timeout  time.Duration // 0: no limit of the exporter's own
	gzip     bool
	tls      *tls.Config // nil: the system roots, no client certificate
	insecure bool        // plain HTTP
}

// otlpDefaultTimeout is the specification's default for
// OTEL_EXPORTER_OTLP_TIMEOUT.
const otlpDefaultTimeout = 10 * time.Second

// otlpEnv reads a variable, the signal-specific one (…_TRACES_…) winning
// over the generic one; name is the one it came from, for errors.
type otlpEnv func(string) string

func (env otlpEnv) get(suffix string) (value, name string) {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_" + suffix, "OTEL_EXPORTER_OTLP_" + suffix} {
		if v := strings.TrimSpace(env(name)); v != "" {
			return v, name
		}
	}
	return "", ""
}

// newOTLPConfig reads the configuration through getenv; readFile reads
// the certificate files (os.ReadFile when nil).
func newOTLPConfig(getenv func(string) string, readFile func(string) ([]byte, error)) (*otlpConfig, error) {
	if readFile == nil {
		readFile = os.ReadFile
	}
	env := otlpEnv(getenv)
	c := &otlpConfig{timeout: otlpDefaultTimeout}
	if err := c.readEndpoint(env); err != nil {
		return nil, err
	}
	if v, name := env.get("HEADERS"); v != "" {
		h, err := parseOTLPHeaders(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		c.headers = h
	}
	if v, name := env.get("TIMEOUT"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 || ms > int64(time.Hour/time.Millisecond) {
			return nil, fmt.Errorf("%s=%q: want milliseconds, from 0 (no limit) to 3600000", name, v)
		}
		c.timeout = time.Duration(ms) * time.Millisecond
	}
	if v, name := env.get("COMPRESSION"); v != "" {
		switch strings.ToLower(v) {
		case "gzip":
			c.gzip = true
		case "none":
		default:
			return nil, fmt.Errorf("%s=%q: want gzip or none", name, v)
		}
	}
	if err := c.readTLS(env, readFile); err != nil {
		return nil, err
	}
	return c, nil
}

// readEndpoint: the traces endpoint is used as it is (the root path when
// it has none); the generic one is a base to which /v1/traces is added.
// INSECURE, as the Go SDK's exporter read it, chooses the scheme over the
// endpoint's: true sends plain HTTP, false TLS.
func (c *otlpConfig) readEndpoint(env otlpEnv) error {
	name, suffix := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""
	raw := strings.TrimSpace(env(name))
	if raw == "" {
		name, suffix = "OTEL_EXPORTER_OTLP_ENDPOINT", "/v1/traces"
		raw = strings.TrimSpace(env(name))
	}
	if raw == "" {
		return errors.New("OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: not set")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the URL, which may hold a password.
		return fmt.Errorf("%s: not a URL", name)
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		c.insecure = true
	case "https":
	default:
		return fmt.Errorf("%s: want an http:// or https:// URL", name)
	}
	if u.Host == "" {
		return fmt.Errorf("%s: the URL has no host", name)
	}
	p := u.Path
	if suffix != "" {
		p = path.Join(p, suffix)
	} else if p == "" {
		p = "/"
	}
	if v, name := env.get("INSECURE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s=%q: want true or false", name, v)
		}
		c.insecure = b
	}
	scheme := "https"
	if c.insecure {
		scheme = "http"
	}
	c.url = (&url.URL{Scheme: scheme, Host: u.Host, Path: p}).String()
	return nil
}

// readTLS reads the CA and client certificate files. They are refused
// with plain HTTP, where they would do nothing.
func (c *otlpConfig) readTLS(env otlpEnv, readFile func(string) ([]byte, error)) error {
	ca, caName := env.get("CERTIFICATE")
	cert, certName := env.get("CLIENT_CERTIFICATE")
	key, keyName := env.get("CLIENT_KEY")
	if ca == "" && cert == "" && key == "" {
		return nil
	}
	if c.insecure {
		for _, name := range []string{caName, certName, keyName} {
			if name != "" {
				return fmt.Errorf("%s: set for a plain HTTP endpoint", name)
			}
		}
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := readFile(ca)
		if err != nil {
			return fmt.Errorf("%s: %w", caName, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: %s holds no PEM certificate", caName, ca)
		}
		conf.RootCAs = pool
	}
	switch {
	case cert != "" && key != "":
		certPEM, err := readFile(cert)
		if err != nil {
			return fmt.Errorf("%s: %w", certName, err)
		}
		keyPEM, err := readFile(key)
		if err != nil {
			return fmt.Errorf("%s: %w", keyName, err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return fmt.Errorf("%s and %s: %w", certName, keyName, err)
		}
		conf.Certificates = []tls.Certificate{pair}
	case cert != "":
		return fmt.Errorf("%s: set without OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_KEY", certName)
	case key != "":
		return fmt.Errorf("%s: set without OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_CERTIFICATE", keyName)
	}
	c.tls = conf
	return nil
}

// parseOTLPHeaders reads comma-separated key=value pairs, values
// URL-encoded. Errors name the key at most: the values are often API
// keys.
func parseOTLPHeaders(v string) (http.Header, error) {
	h := http.Header{}
	for i, pair := range strings.Split(v, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, val, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return nil, fmt.Errorf("entry %d has no '='", i+1)
		}
		if !validHeaderName(k) {
			// Not quoted: a malformed entry may be a key pasted whole.
			return nil, fmt.Errorf("entry %d: the name is not an HTTP header name", i+1)
		}
		decoded, err := url.PathUnescape(val)
		if err != nil {
			return nil, fmt.Errorf("the value of %s is not URL-encoded", k)
		}
		decoded = strings.TrimSpace(decoded)
		if strings.ContainsAny(decoded, "\r\n\x00") {
			return nil, fmt.Errorf("the value of %s holds a line break or NUL", k)
		}
		h.Set(k, decoded)
	}
	return h, nil
}

// validHeaderName: an HTTP token (RFC 9110).
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range []byte(k) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
