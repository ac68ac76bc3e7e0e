package authz

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

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
	return e.maybeHandshake(c, clerk.Reason(string(clerk.ReasonSessionTokenExpired)+"-refresh-"+string(sub)), err.Error())
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
		t, err := e.verifyRefreshed(ctx, token)
		if err == nil {
			return authState{status: signedIn, token: t, setCookies: cookies, message: "session refreshed"}, ""
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

// verifyRefreshed verifies the new session token like any other, and, as
// for a handshake's, refuses machine and non-session tokens.
func (e *Engine) verifyRefreshed(ctx context.Context, token string) (*clerk.JWT, error) {
	t, err := e.verifier.Decode(token)
	if err != nil {
		return nil, err
	}
	if t.IsMachineJWT() || t.HasNonSessionCategory() {
		return nil, &clerk.TokenError{Reason: clerk.ReasonTokenTypeMismatch, Message: "refresh answered a machine or non-session token"}
	}
	if err := e.verifier.VerifyDecoded(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
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
// Only successful answers are remembered, keyed by a SHA-256 of the
// inputs, never the tokens themselves.
type refreshGroup struct {
	timeout time.Duration

	mu       sync.Mutex
	inflight map[[sha256.Size]byte]*refreshCall
	answers  *simplelru.LRU[[sha256.Size]byte, []string]
}

type refreshCall struct {
	done    chan struct{}
	cookies []string
	sub     clerk.Reason
}

func newRefreshGroup(timeout time.Duration) *refreshGroup {
	if timeout <= 0 {
		timeout = DefaultRefreshTimeout
	}
	answers, _ := simplelru.NewLRU[[sha256.Size]byte, []string](refreshCacheSize, nil)
	return &refreshGroup{timeout: timeout, inflight: map[[sha256.Size]byte]*refreshCall{}, answers: answers}
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
	key := refreshKey(r)
	g.mu.Lock()
	if cookies, ok := g.answers.Get(key); ok {
		g.mu.Unlock()
		return cookies, true, ""
	}
	if call, ok := g.inflight[key]; ok {
		g.mu.Unlock()
		select {
		case <-call.done:
			return call.cookies, false, call.sub
		case <-ctx.Done():
			return nil, false, clerk.RefreshFetchError
		}
	}
	call := &refreshCall{done: make(chan struct{})}
	g.inflight[key] = call
	g.mu.Unlock()

	// The call is shared: it must not end with the first caller's request,
	// only with its own deadline.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.timeout)
	r.RequestHeaders = requestHeaders(header)
	got, err := e.refresher.RefreshSession(callCtx, r)
	cancel()
	if err != nil {
		call.sub = clerk.RefreshUnexpectedBAPIError
		var re *clerk.RefreshError
		if errors.As(err, &re) {
			call.sub = re.Reason
		}
		e.log.Warn("Clerk: session refresh failed", "reason", string(call.sub), "error", err.Error(), "session_id", r.SessionID)
	} else {
		call.cookies = got
	}

	g.mu.Lock()
	delete(g.inflight, key)
	if call.sub == "" {
		g.answers.Add(key, got)
	}
	g.mu.Unlock()
	close(call.done)
	return call.cookies, false, call.sub
}

// forget drops a remembered answer whose token no longer verifies
// (expired, or keys rotated away), so the next request refreshes again.
func (g *refreshGroup) forget(r clerk.RefreshRequest) {
	g.mu.Lock()
	g.answers.Remove(refreshKey(r))
	g.mu.Unlock()
}
