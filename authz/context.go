package authz

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// authContext is the request read once, as @clerk/backend's
// AuthenticateContext reads it: the header token, the cookie family
// (suffixed or not), __client_uat, dev-browser and handshake values.
type authContext struct {
	req     *Request
	cookies clerk.Cookies

	tokenInHeader  string // "" when absent
	sessionCookie  string // from the chosen family
	clientUAT      int64
	refreshName    string // __refresh_<suffix>; see refreshCookie
	devBrowser     string // development instances only
	handshakeToken string
	handshakeNonce string
	suffixed       bool

	// decoded remembers the tokens this request has decoded: clerk-js
	// writes one token to both __session and __session_<suffix>, and the
	// cookie choice and the cookie flow both read it, so the same string
	// would otherwise be hashed and looked up three times.
	decoded  [2]decodedToken
	ndecoded int
}

type decodedToken struct {
	token string
	jwt   *clerk.JWT
	err   error
}

// decode is Verifier.Decode, once per distinct token in the request.
func (c *authContext) decode(v *clerk.Verifier, token string) (*clerk.JWT, error) {
	for i := range c.ndecoded {
		if d := &c.decoded[i]; d.token == token {
			return d.jwt, d.err
		}
	}
	t, err := v.Decode(token)
	if c.ndecoded < len(c.decoded) {
		c.decoded[c.ndecoded] = decodedToken{token: token, jwt: t, err: err}
		c.ndecoded++
	}
	return t, err
}

// newAuthContext returns the context by value: callers keep it on their
// stack and pass its address down, which saves a heap allocation per
// request (nothing below keeps the pointer).
func (e *Engine) newAuthContext(r *Request) authContext {
	c := authContext{req: r, cookies: clerk.ParseCookies(r.Header.Values("Cookie"))}
	c.tokenInHeader = parseAuthorization(r.Header.Get("Authorization"))
	f := e.readCookies(&c)
	c.suffixed = e.usesSuffixedCookies(&c, &f)
	// The chosen family's values were read above: no second lookup.
	if c.suffixed {
		c.sessionCookie, c.clientUAT = f.suffixedSession, parseIntLikeJS(f.suffixedUAT)
	} else {
		c.sessionCookie, c.clientUAT = f.session, parseIntLikeJS(f.uat)
	}
	c.refreshName = e.names.refresh
	var q url.Values // most requests have no query: no map to build
	if r.URL.RawQuery != "" {
		q = r.URL.Query()
	}
	if !e.cfg.PublishableKey.Production {
		devBrowser := f.devBrowser
		if c.suffixed {
			devBrowser = f.suffixedDevBrowser
		}
		c.devBrowser = firstNonEmpty(q.Get(clerk.CookieDevBrowser), devBrowser)
	}
	c.handshakeToken = firstNonEmpty(q.Get(clerk.CookieHandshake), f.handshake)
	c.handshakeNonce = firstNonEmpty(q.Get(clerk.CookieHandshakeNonce), f.handshakeNonce)
	return c
}

// refreshCookie and redirectCount are read when asked rather than up
// front: only expired tokens and handshakes need them, and each read scans
// the whole Cookie header, session tokens included.
func (c *authContext) refreshCookie() string { return c.cookies.Value(c.refreshName) }

func (c *authContext) redirectCount() float64 {
	return parseNumberLikeJS(c.cookies.Value(clerk.CookieRedirectCount))
}

// requestCookies are the cookies every decision reads: the two families'
// session and __client_uat cookies, the handshake's, and on development
// instances the dev-browser token's.
type requestCookies struct {
	uat, suffixedUAT               string
	hasUAT, hasSuffixedUAT         bool
	session, suffixedSession       string
	handshake, handshakeNonce      string
	devBrowser, suffixedDevBrowser string
}

// The names readCookies looks up, at these indexes of suffixedNames.read.
const (
	readSuffixedUAT = iota
	readUAT
	readSuffixedSession
	readSession
	readHandshake
	readHandshakeNonce
	readDevBrowser // the rest on development instances only
	readSuffixedDevBrowser
	readCookieCount
)

// readCookies finds them in one pass over the Cookie header: it carries the
// session token twice on browsers (~2 KiB), and was scanned once per name.
// The SDK reads the dev-browser token on every instance but only
// development ones use it, so production instances do not look for it.
func (e *Engine) readCookies(c *authContext) requestCookies {
	var v [readCookieCount]string
	var found [readCookieCount]bool
	n := readCookieCount
	if e.cfg.PublishableKey.Production {
		n = readDevBrowser
	}
	c.cookies.GetAll(e.names.read[:n], v[:n], found[:n])
	return requestCookies{
		uat: v[readUAT], suffixedUAT: v[readSuffixedUAT],
		hasUAT: found[readUAT], hasSuffixedUAT: found[readSuffixedUAT],
		session: v[readSession], suffixedSession: v[readSuffixedSession],
		handshake: v[readHandshake], handshakeNonce: v[readHandshakeNonce],
		devBrowser: v[readDevBrowser], suffixedDevBrowser: v[readSuffixedDevBrowser],
	}
}

// sessionToken is the token a handshake carries to FAPI: cookie, else header.
func (c *authContext) sessionToken() string {
	return firstNonEmpty(c.sessionCookie, c.tokenInHeader)
}

// parseAuthorization mirrors parseAuthorizationHeader: split on single
// spaces and keep two fields; a lone value is the token itself; only the
// exact scheme "Bearer" yields the second field; other schemes yield none.
// (Cut rather than SplitN: no slice to allocate per request.)
func parseAuthorization(h string) string {
	scheme, rest, _ := strings.Cut(h, " ")
	token, _, _ := strings.Cut(rest, " ")
	if token == "" {
		return scheme
	}
	if scheme == "Bearer" {
		return token
	}
	return ""
}

// usesSuffixedCookies is the SDK's eight-step choice between __session and
// __session_<suffix> (docs/clerk-protocol.md §2.1).
func (e *Engine) usesSuffixedCookies(c *authContext, f *requestCookies) bool {
	suffixedUAT, clientUAT := f.suffixedUAT, f.uat
	suffixedSession, session := f.suffixedSession, f.session
	hasSuffixedUAT := f.hasSuffixedUAT && suffixedUAT != ""
	hasUAT := f.hasUAT && clientUAT != ""

	var sessionJWT, suffixedJWT *clerk.JWT
	if session != "" {
		sessionJWT, _ = c.decode(e.verifier, session)
		if sessionJWT == nil || sessionJWT.Claims.Issuer == "" {
			return false // 1
		}
		if strings.TrimPrefix(strings.TrimPrefix(sessionJWT.Claims.Issuer, "https://"), "http://") != e.cfg.PublishableKey.FAPIHost {
			return true // 2: another instance's cookie on the same domain
		}
	}
	if !hasSuffixedUAT && suffixedSession == "" {
		return false // 3
	}
	if suffixedSession != "" {
		suffixedJWT, _ = c.decode(e.verifier, suffixedSession)
	}
	sessionIat, suffixedIat := iatOf(sessionJWT), iatOf(suffixedJWT)
	// "absent" is not "0": a missing cookie compares unequal to "0".
	suffixedUATIsZero := hasSuffixedUAT && suffixedUAT == "0"
	uatIsZero := hasUAT && clientUAT == "0"
	if !suffixedUATIsZero && !uatIsZero && sessionIat > suffixedIat {
		return false // 4
	}
	if suffixedUATIsZero && !uatIsZero {
		return false // 5
	}
	if !e.cfg.PublishableKey.Production && !suffixedUATIsZero && uatIsZero && expired(suffixedJWT, e.now()) {
		return false // 6
	}
	if !hasSuffixedUAT && suffixedSession != "" {
		return false // 7
	}
	return true // 8
}

func iatOf(t *clerk.JWT) float64 {
	if t == nil || t.Claims.IssuedAt == nil {
		return 0
	}
	return *t.Claims.IssuedAt
}

// expired is the SDK's sessionExpired: exp <= now in whole seconds; a token
// that does not decode is not "expired".
func expired(t *clerk.JWT, now time.Time) bool {
	return t != nil && t.Claims.Expiry != nil && *t.Claims.Expiry <= float64(now.Unix())
}

// parseIntLikeJS is Number.parseInt(s) || 0: optional sign and leading
// digits after leading white space; "123abc" → 123, "abc" → 0, "-5" → -5.
func parseIntLikeJS(s string) int64 {
	s = strings.TrimLeft(s, " \t\n\r\f\v")
	end := 0
	if end < len(s) && (s[end] == '-' || s[end] == '+') {
		end++
	}
	digits := end
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == digits {
		return 0
	}
	n, err := strconv.ParseInt(s[:end], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// parseNumberLikeJS is Number(s) || 0 for the small integers the redirect
// counter holds: the whole string must be a number.
func parseNumberLikeJS(s string) float64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != f {
		return 0
	}
	return f
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
