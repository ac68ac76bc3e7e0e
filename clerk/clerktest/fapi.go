package clerktest

import (
	"crypto/sha1" //nolint:gosec // Clerk's cookie suffix is defined as SHA-1 of the key; not a security use
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// Routes of the fake Frontend API handshake, for Calls.
const (
	RouteHandshake        = "GET /v1/client/handshake"
	RouteHandshakePayload = "GET /v1/clients/handshake_payload"
	// RouteSync is the primary's half of a satellite's handshake: it reads
	// the browser's client on the primary domain and links it to the
	// satellite.
	RouteSync = "GET /v1/client/sync"
)

// HandshakeFormat chooses how the fake hands the cookies back.
type HandshakeFormat int

const (
	// HandshakeAuto is Clerk's behaviour: a __clerk_handshake JWT, or a
	// __clerk_handshake_nonce when the SDK asked for format=nonce and the
	// directives exceed nonceThreshold bytes.
	HandshakeAuto HandshakeFormat = iota
	// HandshakeToken always answers with the JWT.
	HandshakeToken
	// HandshakeNonce answers with a nonce whenever format=nonce was asked.
	HandshakeNonce
)

// nonceThreshold is the payload size above which Clerk switches to a nonce
// (about 2 KB, per @clerk/backend's changelog).
const nonceThreshold = 2048

// fapiState is the fake Frontend API's memory: browsers ("clients") and
// unredeemed nonces.
type fapiState struct {
	mu       sync.Mutex
	clients  map[string]*fakeClient // by credential (__client or dev browser)
	ended    map[string]string      // session id → how it ended (RevokeSession)
	nonces   map[string][]string
	format   HandshakeFormat
	requests []url.Values
	// satellites are the Frontend API hosts (clerk.<domain>) of the
	// instance's satellite domains.
	satellites map[string]bool
}

type fakeClient struct {
	userID       string // "" = signed out
	sessionID    string
	refreshToken string // the session's __refresh_<suffix> value
	activeOrg    string // the session's active organization's id; "" = none
}

func (s *Server) fapiRoutes() {
	s.mux.HandleFunc(RouteHandshake, s.serveHandshake)
	s.mux.HandleFunc(RouteSync, s.serveSync)
	s.Handle(RouteHandshakePayload, s.serveHandshakePayload)
}

// AddSatelliteDomain makes domain one of the instance's satellites. In
// production its Frontend API is clerk.<domain>, which reaches the fake
// when a test routes that host to it: a handshake there has no client of
// its own, so it goes through the primary's Frontend API (RouteSync) to
// link the browser's client, and the session it mints is issued by
// https://clerk.<domain>.
func (s *Server) AddSatelliteDomain(domain string) {
	s.fapi.mu.Lock()
	defer s.fapi.mu.Unlock()
	if s.fapi.satellites == nil {
		s.fapi.satellites = map[string]bool{}
	}
	s.fapi.satellites["clerk."+domain] = true
}

func (s *Server) isSatelliteFAPI(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	s.fapi.mu.Lock()
	defer s.fapi.mu.Unlock()
	return s.Production && s.fapi.satellites[host]
}

// serveSync is the primary Frontend API's answer to a satellite: it sends
// the browser back to the satellite's handshake (redirect_url, which must
// be on a satellite's Frontend API) with a link to its client there.
func (s *Server) serveSync(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls[RouteSync]++
	s.mu.Unlock()
	back, err := url.Parse(r.URL.Query().Get("redirect_url"))
	if err != nil || !s.isSatelliteFAPI(back.Host) {
		WriteError(w, http.StatusBadRequest, "form_param_value_invalid", "redirect_url is not a satellite domain of this instance")
		return
	}
	cred := ""
	if ck, err := r.Cookie("__client"); err == nil {
		cred = ck.Value
	}
	q := back.Query()
	q.Set(satelliteLinkParam, cred)
	back.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, back.String(), http.StatusTemporaryRedirect) //nolint:gosec // checked above: a satellite's Frontend API
}

// satelliteLinkParam carries the primary's client to the satellite's
// handshake (the fake's stand-in for Clerk's link token).
const satelliteLinkParam = "__clerk_link"

// SignInBrowser registers a browser with a signed-in session for userID and
// returns the credential the browser presents to the Frontend API: in
// production the HttpOnly __client cookie of the FAPI domain, in development
// the dev-browser token __clerk_db_jwt (which clerk-js also keeps as a cookie
// on the app's domain). Put it in the test's cookie jar: on 127.0.0.1 a jar
// shares cookies across ports, so the app and the fake both see it.
func (s *Server) SignInBrowser(userID string) *http.Cookie {
	return s.CredentialCookie(s.NewSession(userID))
}

// Session is a signed-in browser of the fake instance.
type Session struct {
	UserID    string
	SessionID string
	// Credential is what the browser presents to the Frontend API (the
	// __client cookie, or in development the dev-browser token).
	Credential string
	// RefreshToken is the value of the __refresh_<suffix> cookie Clerk's
	// handshake sets on the app's domain, for POST
	// /v1/sessions/{id}/refresh.
	RefreshToken string
}

// NewSession registers a browser with a signed-in session for userID.
func (s *Server) NewSession(userID string) Session {
	cred := s.newClient(userID)
	s.fapi.mu.Lock()
	defer s.fapi.mu.Unlock()
	c := s.fapi.clients[cred]
	return Session{UserID: userID, SessionID: c.sessionID, Credential: cred, RefreshToken: c.refreshToken}
}

// CredentialCookie is a session's Frontend API credential as a cookie
// (see SignInBrowser).
func (s *Server) CredentialCookie(ss Session) *http.Cookie {
	name := "__client"
	if !s.Production {
		name = "__clerk_db_jwt"
	}
	return &http.Cookie{Name: name, Value: ss.Credential, Path: "/"} //nolint:gosec // a test fixture: the cookie a test sends, as Clerk names it
}

// RefreshCookieName is __refresh_<suffix>: Clerk only ever uses the
// suffixed name.
func (s *Server) RefreshCookieName() string { return "__refresh_" + s.CookieSuffix() }

// SignOutBrowser ends the session of the browser holding credential.
func (s *Server) SignOutBrowser(credential string) {
	s.fapi.mu.Lock()
	defer s.fapi.mu.Unlock()
	if c, ok := s.fapi.clients[credential]; ok {
		c.userID, c.sessionID = "", ""
	}
}

// SetHandshakeFormat picks token, nonce or Clerk's automatic choice.
func (s *Server) SetHandshakeFormat(f HandshakeFormat) {
	s.fapi.mu.Lock()
	defer s.fapi.mu.Unlock()
	s.fapi.format = f
}

// HandshakeRequests returns the query of every handshake request so far.
func (s *Server) HandshakeRequests() []url.Values {
	s.fapi.mu.Lock()
	defer s.fapi.mu.Unlock()
	return append([]url.Values(nil), s.fapi.requests...)
}

// HandshakeToken signs {"handshake": directives} with the instance's
// current key, as the Frontend API does.
func (s *Server) HandshakeToken(directives []string) string {
	k := s.Key()
	return SignWith(k, Header{"alg": "RS256", "kid": k.Kid, "typ": "JWT"}, Claims{"handshake": directives})
}

// AddHandshakeNonce stores directives under a fresh nonce for
// /v1/clients/handshake_payload and returns the nonce.
func (s *Server) AddHandshakeNonce(directives []string) string {
	n := randomID(32)
	s.fapi.mu.Lock()
	defer s.fapi.mu.Unlock()
	if s.fapi.nonces == nil {
		s.fapi.nonces = map[string][]string{}
	}
	s.fapi.nonces[n] = directives
	return n
}

// CookieSuffix is the instance's cookie suffix (the same computation as
// clerk.CookieSuffix; clerktest does not import clerk, whose own tests use
// this package).
func (s *Server) CookieSuffix() string {
	sum := sha1.Sum([]byte(s.PublishableKey)) //nolint:gosec // Clerk's cookie suffix is defined as SHA-1 of the key; not a security use
	return base64.URLEncoding.EncodeToString(sum[:])[:8]
}

func (s *Server) newClient(userID string) string {
	cred := randomID(40)
	if !s.Production {
		cred = "dvb_" + cred
	}
	c := &fakeClient{userID: userID}
	if userID != "" {
		c.sessionID = NewID("sess")
		c.refreshToken = randomID(48)
	}
	s.fapi.mu.Lock()
	defer s.fapi.mu.Unlock()
	if s.fapi.clients == nil {
		s.fapi.clients = map[string]*fakeClient{}
	}
	s.fapi.clients[cred] = c
	return cred
}

// serveHandshake is GET /v1/client/handshake: find the browser's client
// (production: the __client cookie; development: the __clerk_db_jwt query
// parameter, else cookie), compute the cookies the app's domain needs, and
// 307 back to redirect_url with them as a __clerk_handshake JWT or a
// __clerk_handshake_nonce (development: query parameter; production:
// cookie).
func (s *Server) serveHandshake(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls[RouteHandshake]++
	s.mu.Unlock()
	q := r.URL.Query()
	back, err := url.Parse(q.Get("redirect_url"))
	if err != nil || (back.Scheme != "http" && back.Scheme != "https") || back.Host == "" {
		WriteError(w, http.StatusBadRequest, "form_param_format_invalid", "redirect_url must be an absolute URL")
		return
	}
	s.fapi.mu.Lock()
	s.fapi.requests = append(s.fapi.requests, q)
	format := s.fapi.format
	s.fapi.mu.Unlock()

	issuer := "https://" + s.FAPIHost
	var cred string
	if s.isSatelliteFAPI(r.Host) {
		// A satellite's Frontend API knows the browser only once the
		// primary has linked it.
		linked, ok := q[satelliteLinkParam]
		if !ok {
			self := url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery}
			sync := url.URL{Scheme: "https", Host: s.FAPIHost, Path: "/v1/client/sync", RawQuery: "redirect_url=" + url.QueryEscape(self.String())}
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, sync.String(), http.StatusTemporaryRedirect)
			return
		}
		cred, issuer = linked[0], "https://"+r.Host
	} else if s.Production {
		if ck, err := r.Cookie("__client"); err == nil {
			cred = ck.Value
		}
	} else {
		cred = q.Get("__clerk_db_jwt")
		if cred == "" {
			if ck, err := r.Cookie("__clerk_db_jwt"); err == nil {
				cred = ck.Value
			}
		}
	}
	s.fapi.mu.Lock()
	client := s.fapi.clients[cred]
	s.fapi.mu.Unlock()
	if client == nil && !s.Production {
		cred = s.newClient("") // a new, signed-out dev browser
	}
	userID, sessionID, refreshToken := "", "", ""
	var org *fakeMembership
	if client != nil {
		if v, ok := q["organization_id"]; ok {
			// Organization sync: the SDK asks for the organization the
			// URL names (id or slug), "" for the personal account.
			s.activateOrganization(client, v[0])
		}
		userID, sessionID, refreshToken = client.userID, client.sessionID, client.refreshToken
		org = s.membership(userID, client.activeOrg)
	}
	// The token is minted for the app the browser returns to: azp is
	// redirect_url's origin, as Clerk sets it from the request's origin.
	origin := back.Scheme + "://" + back.Host
	directives := s.handshakeDirectives(userID, sessionID, refreshToken, cred, origin, issuer, org, q.Get("suffixed_cookies") == "true")

	useNonce := q.Get("format") == "nonce" && (format == HandshakeNonce || (format == HandshakeAuto && jsonLen(directives) > nonceThreshold))
	name, value := "__clerk_handshake", ""
	if useNonce {
		name, value = "__clerk_handshake_nonce", s.AddHandshakeNonce(directives)
	} else {
		value = s.HandshakeToken(directives)
	}
	if s.Production {
		http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", SameSite: http.SameSiteLaxMode, HttpOnly: true}) //nolint:gosec // the fake serves plain HTTP on loopback, so no Secure
	} else {
		// Appended, so the app's own query keeps its order.
		if back.RawQuery != "" {
			back.RawQuery += "&"
		}
		back.RawQuery += name + "=" + url.QueryEscape(value)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, back.String(), http.StatusTemporaryRedirect) //nolint:gosec // the fake handshake redirects back to the app's redirect_url, as Clerk's does
}

// handshakeDirectives are the Set-Cookie lines for the app's domain, in the
// order Clerk emits them: handshake cookies cleared, then session and
// client_uat (suffixed twins after the plain ones when asked), then the
// session's refresh token (__refresh_<suffix>, HttpOnly, suffixed name only;
// deleted when signed out), then (dev) the dev-browser cookie.
func (s *Server) handshakeDirectives(userID, sessionID, refreshToken, devBrowser, origin, issuer string, org *fakeMembership, suffixed bool) []string {
	const keep = "; Path=/; Max-Age=315360000; SameSite=Lax"
	d := []string{"__clerk_handshake=; Path=/; Max-Age=0; SameSite=Lax"}
	if s.Production {
		d = append(d, "__clerk_handshake_nonce=; Path=/; Max-Age=0; SameSite=Lax")
	}
	names := []string{""}
	if suffixed {
		names = append(names, "_"+s.CookieSuffix())
	}
	for _, sfx := range names {
		if userID == "" {
			d = append(d, "__session"+sfx+"=; Path=/; Max-Age=0; SameSite=Lax", "__client_uat"+sfx+"=0"+keep)
			continue
		}
		c := s.SessionClaims(userID)
		c["sid"] = sessionID
		c["azp"] = origin
		c["iss"] = issuer
		if org != nil {
			// A v2 "o" claim: the role without "org:", no permissions.
			c.WithOrg(org.org.id, org.org.slug, strings.TrimPrefix(org.role, "org:"), "", "", "")
		}
		// __client_uat is the token's own iat, as Clerk's are: read from
		// the clock again, it could fall a second later than the iat and
		// make the token look issued before the last sign-in.
		d = append(d, "__session"+sfx+"="+s.Sign(c)+"; Path=/; SameSite=Lax",
			"__client_uat"+sfx+"="+strconv.FormatInt(c["iat"].(int64), 10)+keep)
	}
	if userID != "" && refreshToken != "" {
		d = append(d, s.RefreshCookieName()+"="+refreshToken+"; Path=/; HttpOnly; SameSite=Lax")
	} else {
		d = append(d, s.RefreshCookieName()+"=; Path=/; Max-Age=0; SameSite=Lax")
	}
	if !s.Production && devBrowser != "" {
		for _, sfx := range names {
			d = append(d, "__clerk_db_jwt"+sfx+"="+devBrowser+keep)
		}
	}
	return d
}

// activateOrganization makes the organization named by id or slug the
// client's active one when its user is a member ("" = none), as Clerk's
// Frontend API does for a handshake's organization_id; a name the user
// is not a member of changes nothing.
func (s *Server) activateOrganization(client *fakeClient, name string) {
	if name == "" {
		s.fapi.mu.Lock()
		client.activeOrg = ""
		s.fapi.mu.Unlock()
		return
	}
	d := &s.directory
	d.mu.Lock()
	var id string
	for _, m := range d.memberships[client.userID] {
		if m.org.id == name || m.org.slug == name {
			id = m.org.id
		}
	}
	d.mu.Unlock()
	if id != "" {
		s.fapi.mu.Lock()
		client.activeOrg = id
		s.fapi.mu.Unlock()
	}
}

// membership is userID's membership of orgID, or nil.
func (s *Server) membership(userID, orgID string) *fakeMembership {
	d := &s.directory
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range d.memberships[userID] {
		if orgID != "" && m.org.id == orgID {
			return m
		}
	}
	return nil
}

// serveHandshakePayload is the Backend API's nonce redemption; a nonce
// works once.
func (s *Server) serveHandshakePayload(w http.ResponseWriter, r *http.Request) {
	n := r.URL.Query().Get("nonce")
	s.fapi.mu.Lock()
	d, ok := s.fapi.nonces[n]
	delete(s.fapi.nonces, n)
	s.fapi.mu.Unlock()
	if !ok || n == "" {
		WriteError(w, http.StatusNotFound, "resource_not_found", "handshake nonce not found")
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"directives": d})
}

func jsonLen(v any) int {
	b, _ := json.Marshal(v)
	return len(b)
}
