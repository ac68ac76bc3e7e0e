package authz

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/cache"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// SessionRefresher refreshes an expired session token through Clerk's
// Backend API (clerk.API: POST /v1/sessions/{sid}/refresh with the secret
// key). Failures are *clerk.RefreshError carrying the SDK's sub-reason.
type SessionRefresher interface {
	RefreshSession(ctx context.Context, r clerk.RefreshRequest) ([]string, error)
}

// DefaultRefreshTimeout bounds one refresh call. It stays below the 2 s
// auth timeouts our proxy examples use, so that when Clerk is slow the
// browser still gets the fallback (a handshake) rather than a proxy error.
const DefaultRefreshTimeout = 1500 * time.Millisecond

// refreshCacheSize bounds the remembered refresh answers.
const refreshCacheSize = 4096

// expiredToken is handleSessionTokenError for token-expired: a GET
// carrying __refresh_<suffix> is refreshed server-side (signed in with the
// new cookies); otherwise, or when the refresh fails, the request may
// hand-shake with "session-token-expired-refresh-<sub>", sub saying why no
// refresh happened. It never allows on a failed refresh.
func (e *Engine) expiredToken(ctx context.Context, c *authContext, err error) authState {
	var sub clerk.Reason
	switch {
	case c.req.Method != http.MethodGet:
		sub = clerk.RefreshNonEligibleNonGet
	case c.refreshCookie() == "":
		sub = clerk.RefreshNonEligibleNoRefreshCookie
	default:
		st, failed := e.refresh(ctx, c)
		if failed == "" {
			return st
		}
		sub = failed
	}
	return e.maybeHandshake(c, clerk.RefreshPrefix+sub, err.Error())
}

// refresh is the SDK's attemptRefresh: it returns a signed-in state with
// Clerk's cookies, or the sub-reason of the failure.
func (e *Engine) refresh(ctx context.Context, c *authContext) (authState, clerk.Reason) {
	if e.refresher == nil {
		return authState{}, clerk.RefreshMissingAPIClient
	}
	expired := c.sessionToken()
	if expired == "" {
		return authState{}, clerk.RefreshMissingSessionToken
	}
	refreshToken := c.refreshCookie()
	if refreshToken == "" {
		return authState{}, clerk.RefreshMissingRefreshToken
	}
	old, err := e.verifier.Decode(expired)
	if err != nil {
		return authState{}, clerk.RefreshExpiredTokenDecodeFailed
	}
	if old.Claims.SessionID == "" {
		return authState{}, clerk.RefreshExpiredTokenMissingSidClaim
	}
	r := clerk.RefreshRequest{
		SessionID:       old.Claims.SessionID,
		ExpiredToken:    expired,
		RefreshToken:    refreshToken,
		RequestOrigin:   webOrigin(c.req.URL),
		SuffixedCookies: c.suffixed,
	}
	for attempt := 0; ; attempt++ {
		cookies, remembered, sub := e.refreshes.do(ctx, e, r, c.req.Header)
		if sub != "" {
			return authState{}, sub
		}
		// The session token is the value of the last directive named
		// __session…, read as the SDK's getCookieName/getCookieValue do.
		token := ""
		for _, d := range cookies {
			if strings.HasPrefix(clerk.DirectiveName(d), clerk.CookieSession) {
				token = clerk.DirectiveValue(d)
			}
		}
		s, err := e.verifier.VerifySessionToken(ctx, token)
		if err == nil {
			return authState{status: signedIn, session: s, setCookies: cookies, message: "session refreshed"}, ""
		}
		e.refreshes.forget(r)
		if remembered && attempt == 0 {
			continue // a remembered answer has expired: ask Clerk again
		}
		// The SDK reports any failure here, key outages included, as
		// invalid-session-token and falls back to the handshake.
		e.log.Warn("Clerk: unable to verify refreshed session token", "reason", string(clerk.ReasonOf(err)), "error", err.Error(), "session_id", r.SessionID)
		return authState{}, clerk.RefreshInvalidSessionToken
	}
}

// requestHeaders is the SDK's request_headers: every header of the
// browser's request, name lower-cased, values joined into one (as the
// Fetch API's Headers does: "; " for Cookie, ", " otherwise).
func requestHeaders(h http.Header) map[string][]string {
	out := make(map[string][]string, len(h))
	for name, values := range h {
		sep := ", "
		lower := strings.ToLower(name)
		if lower == "cookie" {
			sep = "; "
		}
		if prev, ok := out[lower]; ok {
			values = append([]string{prev[0]}, values...)
		}
		out[lower] = []string{strings.Join(values, sep)}
	}
	return out
}

// refreshGroup makes refresh calls and remembers their answers.
//
// A page load sends many requests with the same expired token at once, and
// proxies that drop Set-Cookie on an allowed request (NGINX keeps one,
// Envoy ext_authz none by default) leave the browser with its expired
// token, so without this every such request would call the Backend API
// (rate-limited per instance). Concurrent identical refreshes share one
// call, and an answer is reused for the same (expired token, refresh
// token, origin, cookie family) while the token it carries still verifies.
// The SDK calls every time; the outcome is the same as long as Clerk would
// answer the same. The one difference: a session revoked after a refresh
// keeps working until the refreshed token expires (60 s), exactly as a
// token issued before the revocation does.
//
// It is a cache.Cache: its single flight survives a refresher that panics
// (the waiters get an error, the next request calls again), and only
// successful answers are remembered, keyed by a SHA-256 of the inputs,
// never the tokens themselves.
type refreshGroup struct {
	answers *cache.Cache[[sha256.Size]byte, refreshAnswer]
}

// refreshAnswer is Clerk's cookies and when they were fetched, which tells
// a caller whether it got a remembered answer or the call it waited for.
type refreshAnswer struct {
	cookies []string
	at      time.Time
}

// refreshCall is what the cache's Load needs beyond the key; it rides on
// the context, which Load receives with the first caller's values.
type refreshCall struct {
	engine *Engine
	req    clerk.RefreshRequest
	header http.Header
}

type refreshCallKey struct{}

// refreshFailed is a refresher's error, logged once by the call that got
// it rather than by every request that waited on that call.
type refreshFailed struct{ err error }

func (f refreshFailed) Error() string { return f.err.Error() }
func (f refreshFailed) Unwrap() error { return f.err }

// refreshAnswerTTL is a session token's lifetime: a remembered answer is
// no use after its token has expired.
const refreshAnswerTTL = time.Minute

func newRefreshGroup(timeout time.Duration) *refreshGroup {
	if timeout <= 0 {
		timeout = DefaultRefreshTimeout
	}
	answers, err := cache.New(cache.Options[[sha256.Size]byte, refreshAnswer]{
		Size: refreshCacheSize,
		TTL:  refreshAnswerTTL,
		Load: func(ctx context.Context, _ [sha256.Size]byte) (refreshAnswer, error) {
			call := ctx.Value(refreshCallKey{}).(*refreshCall)
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			r := call.req
			r.RequestHeaders = requestHeaders(call.header)
			cookies, err := call.engine.refresher.RefreshSession(ctx, r)
			if err != nil {
				// Logged here, once per call, not by each waiter.
				call.engine.log.Warn("Clerk: session refresh failed", "reason", string(refreshFailure(err)), "error", err.Error(), "session_id", r.SessionID)
				return refreshAnswer{}, refreshFailed{err}
			}
			return refreshAnswer{cookies: cookies, at: time.Now()}, nil
		},
	})
	if err != nil {
		panic(err) // the options above are constants: cannot happen
	}
	return &refreshGroup{answers: answers}
}

func refreshKey(r clerk.RefreshRequest) [sha256.Size]byte {
	h := sha256.New()
	for _, s := range []string{r.SessionID, r.ExpiredToken, r.RefreshToken, r.RequestOrigin} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if r.SuffixedCookies {
		h.Write([]byte{1})
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// do returns Clerk's cookies for r (remembered: from an earlier answer),
// or the sub-reason of the failure.
func (g *refreshGroup) do(ctx context.Context, e *Engine, r clerk.RefreshRequest, header http.Header) (cookies []string, remembered bool, sub clerk.Reason) {
	start := time.Now()
	ctx = context.WithValue(ctx, refreshCallKey{}, &refreshCall{engine: e, req: r, header: header})
	answer, err := g.answers.Get(ctx, refreshKey(r))
	if err == nil {
		return answer.cookies, answer.at.Before(start), ""
	}
	sub = refreshFailure(err)
	if ctx.Err() != nil {
		sub = clerk.RefreshFetchError // this request gave up waiting
	}
	if errors.As(err, new(refreshFailed)) {
		return nil, false, sub // the call logged it
	}
	// The refresher panicked, or this request gave up waiting.
	e.log.Warn("Clerk: session refresh failed", "reason", string(sub), "error", err.Error(), "session_id", r.SessionID)
	return nil, false, sub
}

// refreshFailure is the sub-reason of a refresher's error.
func refreshFailure(err error) clerk.Reason {
	var re *clerk.RefreshError
	if errors.As(err, &re) {
		return re.Reason
	}
	return clerk.RefreshUnexpectedBAPIError
}

// forget drops a remembered answer whose token no longer verifies
// (expired, or keys rotated away), so the next request refreshes again.
func (g *refreshGroup) forget(r clerk.RefreshRequest) {
	g.answers.Delete(refreshKey(r))
}
