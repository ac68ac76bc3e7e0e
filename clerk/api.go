package clerk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// APIVersion is the Clerk-API-Version header we send, the one the
// @clerk/backend release we mirror sends.
const APIVersion = "2026-05-12"

// maxAPIResponse bounds what we read from the Backend API.
const maxAPIResponse = 8 << 20

// API is a small Backend API client: base URL, version path, secret key.
type API struct {
	root      *url.URL // the base URL as given, for unversioned calls
	base      *url.URL // root with the version segment
	secretKey string
	client    *http.Client
	userAgent string

	// OnCall, when set before the first call, observes every call (for
	// metrics): route is the path as a bounded template
	// ("/users/{id}/organization_memberships", see RouteTemplate), status
	// is 0 when no answer came.
	OnCall func(route string, status int, err error, took time.Duration)
}

// NewAPI builds a client for baseURL (e.g. https://api.clerk.com) and the
// path version (e.g. "v1"). The http.Client should carry a timeout.
func NewAPI(baseURL, version, secretKey, userAgent string, client *http.Client) (*API, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid Backend API URL %q", baseURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	root, base := *u, *u
	base.Path += "/" + strings.Trim(version, "/")
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	return &API{root: &root, base: &base, secretKey: secretKey, client: client, userAgent: userAgent}, nil
}

// APIError is a non-2xx answer from the Backend API, decoded from Clerk's
// error shape {"errors":[{code,message,long_message}],"clerk_trace_id"}.
type APIError struct {
	Status     int
	Errors     []APIErrorItem `json:"errors"`
	TraceID    string         `json:"clerk_trace_id"`
	RetryAfter time.Duration
	// ContentType is the answer's Content-Type; MalformedBody reports a
	// body that is not JSON (an HTML error page, say).
	ContentType   string `json:"-"`
	MalformedBody bool   `json:"-"`
}

// APIErrorItem is one entry of Clerk's "errors" array.
type APIErrorItem struct {
	Code        string `json:"code"`
	Message     string `json:"message"`
	LongMessage string `json:"long_message"`
}

func (e *APIError) Error() string {
	code := "unknown"
	if len(e.Errors) > 0 {
		code = e.Errors[0].Code
	}
	s := fmt.Sprintf("clerk backend api: status %d, code %s", e.Status, code)
	if e.TraceID != "" {
		s += ", clerk_trace_id " + e.TraceID
	}
	return s
}

// Code is the first error code, or "" when the body had none.
func (e *APIError) Code() string {
	if len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// Get calls GET {base}/{path}?{query} and decodes a 2xx JSON body into out.
// A non-2xx answer is an *APIError.
func (a *API) Get(ctx context.Context, path string, query url.Values, out any) error {
	return a.do(ctx, call{method: http.MethodGet, path: path, query: query}, decodeInto(out))
}

// Post calls POST {base}/{path}?{query} with body as JSON and decodes a 2xx
// JSON answer into out. A non-2xx answer is an *APIError.
func (a *API) Post(ctx context.Context, path string, query url.Values, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("POST %s: encode body: %w", path, err)
	}
	return a.do(ctx, call{method: http.MethodPost, path: path, query: query, body: b}, decodeInto(out))
}

// PostUnversioned is Post on the root URL, without the version segment:
// Clerk serves the machine-token endpoints (api_keys, m2m_tokens,
// oauth_applications/access_tokens) there, and the SDK calls them so
// (skipApiVersionInUrl). bearer, when not "", is sent in Authorization
// instead of the secret key: M2M tokens are verified with the machine's
// own secret key when one is configured.
func (a *API) PostUnversioned(ctx context.Context, path, bearer string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("POST %s: encode body: %w", path, err)
	}
	return a.do(ctx, call{method: http.MethodPost, path: path, body: b, unversioned: true, bearer: bearer}, decodeInto(out))
}

// errDecode marks a 2xx answer whose body could not be decoded, so that a
// caller can tell Clerk's garbage from a network failure (errors.Is).
var errDecode = errors.New("decode")

// decodeInto decodes any 2xx JSON body into out, whatever its content type.
func decodeInto(out any) func(contentType string, body []byte) error {
	return func(_ string, body []byte) error { return json.Unmarshal(body, out) }
}

// call is one request's parameters.
type call struct {
	method, path string
	query        url.Values
	body         []byte // nil: none
	unversioned  bool   // on the root URL, without the version segment
	bearer       string // replaces the secret key when not ""
}

// do makes one call; decode reads a 2xx answer.
func (a *API) do(ctx context.Context, c call, decode func(contentType string, body []byte) error) (err error) {
	method, path := c.method, c.path
	start, status := time.Now(), 0
	if a.OnCall != nil {
		defer func() { a.OnCall(RouteTemplate(path), status, err, time.Since(start)) }()
	}
	u := *a.base
	if c.unversioned {
		u = *a.root
	}
	u.Path = u.Path + "/" + strings.TrimLeft(path, "/")
	u.RawQuery = c.query.Encode()
	var rb io.Reader
	if c.body != nil {
		rb = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rb)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	bearer := a.secretKey
	if c.bearer != "" {
		bearer = c.bearer
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Clerk-API-Version", APIVersion)
	req.Header.Set("Content-Type", "application/json")
	if a.userAgent != "" {
		req.Header.Set("User-Agent", a.userAgent)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	// The body is read to the end (or the limit) below; closing it
	// reports nothing the caller could act on.
	defer func() { _ = resp.Body.Close() }()
	status = resp.StatusCode
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIResponse))
	if err != nil {
		return fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		apiErr := &APIError{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
		// A body that is not Clerk's shape still yields the status.
		apiErr.MalformedBody = json.Unmarshal(body, apiErr) != nil
		if apiErr.TraceID == "" {
			apiErr.TraceID = resp.Header.Get("Clerk-Trace-Id")
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			apiErr.RetryAfter = time.Duration(s) * time.Second
		}
		return apiErr
	}
	if err := decode(resp.Header.Get("Content-Type"), body); err != nil {
		return fmt.Errorf("%s %s: %w: %w", method, path, errDecode, err)
	}
	return nil
}

// apiPathWords are the Backend API's fixed path segments; RouteTemplate
// keeps these and replaces every other segment (ids, slugs) with "{id}".
var apiPathWords = map[string]bool{
	"jwks": true, "users": true, "organizations": true, "organization_memberships": true,
	"memberships": true, "sessions": true, "clients": true, "verify": true, "tokens": true,
	"invitations": true, "organization_invitations": true, "email_addresses": true,
	"phone_numbers": true, "oauth_access_tokens": true, "api_keys": true, "m2m_tokens": true,
	"machines": true, "domains": true, "metadata": true, "handshake_payload": true,
	"refresh": true, "oauth_applications": true, "access_tokens": true,
}

// RouteTemplate is a Backend API path with ids and slugs replaced by
// "{id}" ("users/user_2x/organization_memberships" →
// "/users/{id}/organization_memberships"), so that metrics and spans name
// a bounded set of routes. Version segments ("v1") are kept.
func RouteTemplate(path string) string {
	var b strings.Builder
	for _, seg := range strings.Split(strings.Trim(path, "/"), "/") {
		if seg == "" {
			continue
		}
		b.WriteByte('/')
		if apiPathWords[seg] || isVersionSegment(seg) {
			b.WriteString(seg)
		} else {
			b.WriteString("{id}")
		}
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

func isVersionSegment(s string) bool {
	if len(s) < 2 || len(s) > 4 || s[0] != 'v' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// AsAPIError unwraps an *APIError.
func AsAPIError(err error) (*APIError, bool) {
	var e *APIError
	ok := errors.As(err, &e)
	return e, ok
}
