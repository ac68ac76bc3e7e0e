package clerk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// RefreshRequest is the Backend API call @clerk/backend makes to refresh an
// expired session token server-side (SessionAPI.refreshSession, from
// authenticateRequest's refreshToken).
type RefreshRequest struct {
	// SessionID is the expired token's sid: the path parameter.
	SessionID string
	// ExpiredToken is the expired session token (cookie, else header).
	ExpiredToken string
	// RefreshToken is the __refresh_<suffix> cookie.
	RefreshToken string
	// RequestOrigin is the public origin of the browser's request; Clerk
	// mints the new token's azp from it.
	RequestOrigin string
	// RequestHeaders are the browser request's headers, one value each
	// (the SDK sends Object.fromEntries(headers) as name → [value]).
	RequestHeaders map[string][]string
	// SuffixedCookies asks for __session_<suffix> twins; the query
	// parameter is only sent when true, as the SDK drops falsy query
	// values (@clerk/backend api/endpoints/SessionApi.ts refreshSession;
	// docs/clerk-protocol.md, "Where we differ from the SDK", erratum 11).
	SuffixedCookies bool
}

// refreshBody is the JSON body, in the SDK's snake_case.
type refreshBody struct {
	Format         string              `json:"format"`
	ExpiredToken   string              `json:"expired_token"`
	RefreshToken   string              `json:"refresh_token"`
	RequestOrigin  string              `json:"request_origin"`
	RequestHeaders map[string][]string `json:"request_headers"`
}

// RefreshError is a refresh that produced no cookies. Reason is the
// sub-reason the SDK reports as "session-token-expired-refresh-<Reason>":
// one of the Refresh* reasons or the Backend API's error code.
type RefreshError struct {
	Reason Reason
	Err    error
}

func (e *RefreshError) Error() string {
	if e.Err == nil {
		return "session refresh: " + string(e.Reason)
	}
	return "session refresh: " + string(e.Reason) + ": " + e.Err.Error()
}

func (e *RefreshError) Unwrap() error { return e.Err }

// RefreshSession calls POST /v1/sessions/{sid}/refresh with format
// "cookie" and returns the Set-Cookie directives Clerk answers with
// ({"object":"cookies","cookies":[…]}), in order. The caller must verify
// the session token they carry before trusting them.
//
// Every failure is a *RefreshError carrying the SDK's sub-reason:
//   - a Clerk error answer: its first error code; "unexpected_error" (the
//     SDK's own code for a failed fetch) reads fetch-error, an empty code
//     unexpected-sdk-error, an answer without errors unexpected-bapi-error;
//   - no answer, or a body labelled JSON that is not: fetch-error (the
//     SDK's fetch wrapper turns both into "unexpected_error");
//   - a 2xx answer without a cookie list: unexpected-sdk-error.
//
// The SDK's handling is mirrored to the letter, including its reading of
// bodies by exact Content-Type, so that reasons match it (and Clerk).
func (a *API) RefreshSession(ctx context.Context, r RefreshRequest) ([]string, error) {
	if r.SessionID == "" {
		return nil, &RefreshError{Reason: RefreshExpiredTokenMissingSidClaim}
	}
	var query url.Values
	if r.SuffixedCookies {
		query = url.Values{"suffixed_cookies": {"true"}}
	}
	headers := r.RequestHeaders
	if headers == nil {
		headers = map[string][]string{}
	}
	body := refreshBody{
		Format:         "cookie",
		ExpiredToken:   r.ExpiredToken,
		RefreshToken:   r.RefreshToken,
		RequestOrigin:  r.RequestOrigin,
		RequestHeaders: headers,
	}
	b, err := json.Marshal(body) //nolint:gosec // the refresh request must carry the refresh token to Clerk's API
	if err != nil {
		return nil, &RefreshError{Reason: RefreshUnexpectedSDKError, Err: fmt.Errorf("encode refresh body: %w", err)}
	}
	var cookies []string
	decode := func(contentType string, answer []byte) error {
		var err error
		cookies, err = readRefreshAnswer(contentType, answer)
		return err
	}
	path := "/sessions/" + url.PathEscape(r.SessionID) + "/refresh"
	if err := a.do(ctx, call{method: http.MethodPost, path: path, query: query, body: b}, decode); err != nil {
		var re *RefreshError
		if errors.As(err, &re) {
			return nil, re
		}
		return nil, &RefreshError{Reason: refreshErrorReason(err), Err: fmt.Errorf("refresh session: %w", err)}
	}
	return cookies, nil
}

// refreshErrorReason maps a failed call to the SDK's sub-reason. The SDK's
// fetch wrapper reads a body as JSON only when Content-Type is exactly
// application/json: then a body that does not parse is a fetch failure
// ("unexpected_error", fetch-error); any other body yields no errors
// (unexpected-bapi-error).
func refreshErrorReason(err error) Reason {
	apiErr, ok := AsAPIError(err)
	if !ok {
		return RefreshFetchError // no answer (network, timeout)
	}
	if apiErr.ContentType != "application/json" {
		return RefreshUnexpectedBAPIError
	}
	if apiErr.MalformedBody {
		return RefreshFetchError
	}
	if len(apiErr.Errors) == 0 {
		return RefreshUnexpectedBAPIError
	}
	switch code := apiErr.Errors[0].Code; code {
	case "unexpected_error":
		return RefreshFetchError
	case "":
		// error.cause.reason is falsy in the SDK.
		return RefreshUnexpectedSDKError
	default:
		return Reason(code)
	}
}

// readRefreshAnswer reads a 2xx answer as the SDK does: JSON only with
// Content-Type exactly application/json (else the text has no cookies);
// JSON that does not parse is a fetch failure; a missing or empty cookie
// list is unexpected-sdk-error (the SDK gets neither data nor an error). A
// list holding anything but strings makes the SDK throw: failed the same
// way here.
func readRefreshAnswer(contentType string, answer []byte) ([]string, error) {
	if contentType != "application/json" {
		return nil, &RefreshError{Reason: RefreshUnexpectedSDKError, Err: fmt.Errorf("answer is %q, not application/json", contentType)}
	}
	var out struct {
		Cookies json.RawMessage `json:"cookies"`
	}
	if err := json.Unmarshal(answer, &out); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || len(answer) == 0 {
			return nil, &RefreshError{Reason: RefreshFetchError, Err: fmt.Errorf("answer is not JSON: %w", err)}
		}
		return nil, &RefreshError{Reason: RefreshUnexpectedSDKError, Err: fmt.Errorf("answer is not an object: %w", err)}
	}
	cookies, err := decodeCookieList(out.Cookies)
	if err == nil && len(cookies) == 0 {
		err = errors.New("answer has no cookies")
	}
	if err != nil {
		return nil, &RefreshError{Reason: RefreshUnexpectedSDKError, Err: err}
	}
	return cookies, nil
}

func decodeCookieList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var cookies []string
	if err := json.Unmarshal(raw, &cookies); err != nil {
		return nil, fmt.Errorf("cookies is not a list of strings: %w", err)
	}
	return cookies, nil
}
