package authz

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// authContext is the request read once, as @clerk/backend's
// AuthenticateContext reads it: the header token, the cookie family
// (suffixed or not), __client_uat, dev-browser and handshake values.
type authContext struct {
	req     *Request
	cookies clerk.Cookies
	site    *site // the primary, or the satellite the request is for

	ambiguous      string // why the credentials read more than one way, or ""
	tokenInHeader  string // "" when absent
	sessionCookie  string // from the chosen family
	clientUAT      int64
	refreshName    string // __refresh_<suffix>; see refreshCookie
	devBrowser     string // development instances only
	handshakeToken string
	handshakeNonce string
	suffixed       bool

	// seen remembers the tokens this request has inspected (at most
	// three: both session cookies and the header's): clerk-js writes one
	// token to both __session and __session_<suffix>, and the cookie
	// choice and the cookie flow both read it, so the same string would
	// otherwise be hashed and looked up three times.
	seen  [3]seenToken
	nseen int
}

// seenToken is what a request knows of one token before deciding on it:
// either the Session of a token verified before (with err its clock
// error, if any), or the token decoded but not verified (jwt), or the
// decoding error (err, with neither).
type seenToken struct {
	token   string
	session *clerk.Session
	jwt     *clerk.JWT
	err     error
}

// inspect is Verifier.Lookup, then Decode on a miss, once per distinct
// token in the request.
func (c *authContext) inspect(v *clerk.Verifier, token string) *seenToken {
	for i := range c.nseen {
		if t := &c.seen[i]; t.token == token {
			return t
		}
	}
	var t *seenToken
	if c.nseen < len(c.seen) {
		t = &c.seen[c.nseen]
		c.nseen++
	} else {
		t = new(seenToken) // more tokens than a request can name: not remembered
	}
	t.token = token
	if t.session, t.err = v.Lookup(token); t.session == nil {
		t.jwt, t.err = v.Decode(token)
	}
	return t
}

// decodeFailed reports a token that is not even a JWT.
func (t *seenToken) decodeFailed() bool { return t.session == nil && t.jwt == nil }

// The claims the cookie choice and the cookie flow read before
// verification: from the session when verified before, else from the
// decoded token; a token that did not decode has none.
func (t *seenToken) issuer() string {
	switch {
	case t.session != nil:
		return t.session.Issuer
	case t.jwt != nil:
		return t.jwt.Claims.Issuer
	}
	return ""
}

func (t *seenToken) issuedAt() (float64, bool) {
	switch {
	case t.session != nil:
		return t.session.IssuedAt, t.session.HasIssuedAt
	case t.jwt != nil && t.jwt.Claims.IssuedAt != nil:
		return *t.jwt.Claims.IssuedAt, true
	}
	return 0, false
}

func (t *seenToken) expiry() (float64, bool) {
	switch {
	case t.session != nil:
		return t.session.Expiry, true
	case t.jwt != nil && t.jwt.Claims.Expiry != nil:
		return *t.jwt.Claims.Expiry, true
	}
	return 0, false
}

// newAuthContext returns the context by value: callers keep it on their
// stack and pass its address down, which saves a heap allocation per
// request (nothing below keeps the pointer).
func (e *Engine) newAuthContext(r *Request) authContext {
	cookieHeaders, auth := r.Header.Values("Cookie"), r.Header.Values("Authorization")
	c := authContext{req: r, cookies: clerk.ParseCookies(cookieHeaders), site: e.siteOf(r)}
	c.ambiguous = ambiguousCredentials(auth, cookieHeaders, &e.names)
	if len(auth) > 0 {
		c.tokenInHeader = parseAuthorization(auth[0])
	}
	f := e.readCookies(&c)
	c.suffixed = e.usesSuffixedCookies(&c, &f)
	// The chosen family's values were read above: no second lookup.
	if c.suffixed {
		c.sessionCookie, c.clientUAT = f.suffixedSession, parseIntLikeJS(f.suffixedUAT)
	} else {
		c.sessionCookie, c.clientUAT = f.session, parseIntLikeJS(f.uat)
	}
	c.refreshName = e.names.refresh
	// Read as the SDK's URLSearchParams reads them: Go's url.Query drops a
	// pair with a bad escape or a ';', and a handshake nonce the SDK
	// would redeem (and sign out on) would go unseen.
	var q queryPairs // most requests name none of Clerk's parameters: nothing to parse
	if mayNameClerkParams(r.URL.RawQuery) {
		q = parseQueryLikeJS(r.URL.RawQuery)
	}
	if !e.cfg.PublishableKey.Production {
		devBrowser := f.devBrowser
		if c.suffixed {
			devBrowser = f.suffixedDevBrowser
		}
		c.devBrowser = firstNonEmpty(q.get(clerk.CookieDevBrowser), devBrowser)
	}
	c.handshakeToken = firstNonEmpty(q.get(clerk.CookieHandshake), f.handshake)
	c.handshakeNonce = firstNonEmpty(q.get(clerk.CookieHandshakeNonce), f.handshakeNonce)
	return c
}

// mayNameClerkParams reports whether a raw query could hold one of the
// parameters the decision reads (__clerk_db_jwt, __clerk_handshake,
// __clerk_handshake_nonce): only a query with "__clerk" in it, or with a
// percent escape that could decode to it. Parsing every query built a map
// and its strings on every request of a URL like /search?q=x.
func mayNameClerkParams(rawQuery string) bool {
	return strings.Contains(rawQuery, "__clerk") || strings.IndexByte(rawQuery, '%') >= 0
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

// ambiguousCredentials describes why a request's credentials cannot be
// read one way only, or returns "": more than one Authorization header
// (a singleton field), one holding a Bearer token and a comma (Bearer
// tokens have no comma: it is two headers that a proxy merged, as Envoy
// does), or Cookie headers that disagree on a session cookie (HTTP/2 may
// split one Cookie header into several, so several alone are fine).
func ambiguousCredentials(auth, cookieHeaders []string, names *suffixedNames) string {
	switch {
	case len(auth) > 1:
		return "more than one Authorization header"
	case len(auth) == 1 && strings.Contains(auth[0], ",") && strings.Contains(auth[0], "Bearer "):
		return "an Authorization header holding more than one credential"
	}
	if len(cookieHeaders) < 2 {
		return ""
	}
	for _, name := range [...]string{names.read[readSession], names.read[readSuffixedSession]} {
		first, found := "", false
		for _, h := range cookieHeaders {
			v, ok := clerk.ParseCookies([]string{h}).Get(name)
			if !ok {
				continue
			}
			if !found {
				first, found = v, true
			} else if v != first {
				return "Cookie headers with different " + name + " values"
			}
		}
	}
	return ""
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
// __session_<suffix> (usesSuffixedCookies, tokens/authenticateContext.ts;
// the steps are tabled in docs/clerk-protocol.md, "Suffixed or un-suffixed
// cookies").
func (e *Engine) usesSuffixedCookies(c *authContext, f *requestCookies) bool {
	suffixedUAT, clientUAT := f.suffixedUAT, f.uat
	suffixedSession, session := f.suffixedSession, f.session
	hasSuffixedUAT := f.hasSuffixedUAT && suffixedUAT != ""
	hasUAT := f.hasUAT && clientUAT != ""

	var sessionToken, suffixedToken *seenToken
	if session != "" {
		sessionToken = c.inspect(e.verifier, session)
		iss := sessionToken.issuer()
		if iss == "" {
			return false // 1
		}
		if strings.TrimPrefix(strings.TrimPrefix(iss, "https://"), "http://") != c.site.fapiHost {
			return true // 2: another instance's cookie on the same domain
		}
	}
	if !hasSuffixedUAT && suffixedSession == "" {
		return false // 3
	}
	if suffixedSession != "" {
		suffixedToken = c.inspect(e.verifier, suffixedSession)
	}
	sessionIat, suffixedIat := iatOf(sessionToken), iatOf(suffixedToken)
	// "absent" is not "0": a missing cookie compares unequal to "0".
	suffixedUATIsZero := hasSuffixedUAT && suffixedUAT == "0"
	uatIsZero := hasUAT && clientUAT == "0"
	if !suffixedUATIsZero && !uatIsZero && sessionIat > suffixedIat {
		return false // 4
	}
	if suffixedUATIsZero && !uatIsZero {
		return false // 5
	}
	if !e.cfg.PublishableKey.Production && !suffixedUATIsZero && uatIsZero && expired(suffixedToken, e.now()) {
		return false // 6
	}
	if !hasSuffixedUAT && suffixedSession != "" {
		return false // 7
	}
	return true // 8
}

// iatOf is a cookie's token's iat, 0 when absent or not decodable.
func iatOf(t *seenToken) float64 {
	if t == nil {
		return 0
	}
	iat, _ := t.issuedAt()
	return iat
}

// expired is the SDK's sessionExpired: exp <= now in whole seconds; a token
// that does not decode is not "expired".
func expired(t *seenToken, now time.Time) bool {
	if t == nil {
		return false
	}
	exp, ok := t.expiry()
	return ok && exp <= float64(now.Unix())
}

// parseIntLikeJS is Number.parseInt(s) || 0: optional sign and leading
// digits after leading white space; "123abc" → 123, "abc" → 0, "-5" → -5.
// White space is JavaScript's (a no-break space too), and a number beyond
// int64 is clamped, not 0: parseInt reads it as a huge number, so the SDK
// sees an active client there.
func parseIntLikeJS(s string) int64 {
	s = strings.TrimLeftFunc(s, isJSWhiteSpace)
	sign := ""
	if s != "" && (s[0] == '-' || s[0] == '+') {
		sign, s = s[:1], s[1:]
	}
	// Without a radix, parseInt reads "0x"/"0X" and hex digits as hex
	// ("0x10" is 16, "0x" alone NaN): the SDK then sees an active client.
	base := 10
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		base, s = 16, s[2:]
	}
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || base == 16 && isHexLetter(s[end])) {
		end++
	}
	if end == 0 {
		return 0
	}
	n, err := strconv.ParseInt(sign+s[:end], base, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0
	}
	return n // on ErrRange, math.MaxInt64 or math.MinInt64
}

func isHexLetter(c byte) bool { return c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// isJSWhiteSpace is ECMAScript's StrWhiteSpaceChar, which parseInt skips:
// WhiteSpace (tab, vertical tab, form feed, U+FEFF and every Zs space) and
// LineTerminator (LF, CR, U+2028, U+2029). unicode.IsSpace differs: it
// takes U+0085 and not U+FEFF.
func isJSWhiteSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', '\ufeff', '\u2028', '\u2029':
		return true
	}
	return unicode.Is(unicode.Zs, r)
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
