package clerktest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
)

// RouteRefreshSession is the Backend API's session refresh, for Calls.
const RouteRefreshSession = "POST /v1/sessions/{id}/refresh"

// RouteGetSession is the Backend API's session lookup, for Calls.
const RouteGetSession = "GET /v1/sessions/{id}"

// RefreshCall is one refresh request the fake received.
type RefreshCall struct {
	SessionID string
	// SuffixedCookies is the raw suffixed_cookies query value ("" when
	// absent: the SDK only sends "true").
	SuffixedCookies string
	Format          string              `json:"format"`
	ExpiredToken    string              `json:"expired_token"`
	RefreshToken    string              `json:"refresh_token"`
	RequestOrigin   string              `json:"request_origin"`
	RequestHeaders  map[string][]string `json:"request_headers"`
}

type refreshState struct {
	mu          sync.Mutex
	calls       []RefreshCall
	status      int // answer every refresh with this (0 = normal)
	contentType string
	body        string
	perSession  map[string]cannedAnswer
	repeat      bool              // answer a repeated request as the first time
	answers     map[string]string // repeat: request → JSON answer
}

type cannedAnswer struct {
	status            int
	contentType, body string
}

func (s *Server) refreshRoutes() {
	s.Handle(RouteRefreshSession, s.serveRefresh)
	s.Handle(RouteGetSession, s.serveSession)
}

// serveSession is GET /v1/sessions/{id}: a live session (NewSession) is
// "active", one RevokeSession ended is "revoked", any other id 404.
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	userID, _ := s.sessionByID(id)
	status := "active"
	if userID == "" {
		s.fapi.mu.Lock()
		status = s.fapi.ended[id]
		s.fapi.mu.Unlock()
	}
	if status == "" {
		WriteError(w, http.StatusNotFound, "resource_not_found", "not found")
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"object": "session", "id": id, "user_id": nullable(userID), "status": status})
}

// RefreshCalls returns every refresh request so far.
func (s *Server) RefreshCalls() []RefreshCall {
	s.refresh.mu.Lock()
	defer s.refresh.mu.Unlock()
	return append([]RefreshCall(nil), s.refresh.calls...)
}

// SetRefreshResponse makes the refresh route answer status with body and
// contentType ("" means application/json); status 0 restores the normal
// behaviour. The secret-key check, rate limit and FailWith still come
// first.
func (s *Server) SetRefreshResponse(status int, contentType, body string) {
	if contentType == "" {
		contentType = "application/json"
	}
	s.refresh.mu.Lock()
	defer s.refresh.mu.Unlock()
	s.refresh.status, s.refresh.contentType, s.refresh.body = status, contentType, body
}

// SetSessionRefreshResponse is SetRefreshResponse for one session only.
func (s *Server) SetSessionRefreshResponse(sessionID string, status int, contentType, body string) {
	if contentType == "" {
		contentType = "application/json"
	}
	s.refresh.mu.Lock()
	defer s.refresh.mu.Unlock()
	if s.refresh.perSession == nil {
		s.refresh.perSession = map[string]cannedAnswer{}
	}
	s.refresh.perSession[sessionID] = cannedAnswer{status, contentType, body}
}

// RepeatRefreshAnswers makes the fake answer a refresh request it has
// answered before (same session, tokens, origin, format and cookie family)
// with the very same cookies, so that two clients of the fake (our engine
// and Clerk's SDK in the differential test) see identical answers. Clerk
// mints a new token every time.
func (s *Server) RepeatRefreshAnswers(on bool) {
	s.refresh.mu.Lock()
	defer s.refresh.mu.Unlock()
	s.refresh.repeat = on
}

// RevokeSession ends a session: its refresh token stops working and
// GET /v1/sessions/{id} says "revoked".
func (s *Server) RevokeSession(sessionID string) {
	s.fapi.mu.Lock()
	defer s.fapi.mu.Unlock()
	for _, c := range s.fapi.clients {
		if c.sessionID == sessionID {
			c.userID, c.sessionID, c.refreshToken = "", "", ""
		}
	}
	if s.fapi.ended == nil {
		s.fapi.ended = map[string]string{}
	}
	s.fapi.ended[sessionID] = "revoked"
}

// serveRefresh is POST /v1/sessions/{id}/refresh as @clerk/backend calls
// it: body {format, expired_token, refresh_token, request_origin,
// request_headers}, query suffixed_cookies=true when the app uses the
// suffixed cookie family. The refresh token must be the one issued for
// that session (by the handshake), and the expired token must be this
// instance's, for that session and user; expiry is not checked, as a
// refresh is what an expired token asks for. Validation failures answer
// 401, which makes the SDK fall back to the handshake (Clerk's API
// reference); an unknown or ended session answers 404. The error codes are
// the fake's choice: Clerk does not document which it sends.
//
// The answer for format "cookie" is {"object":"cookies","cookies":[…]}:
// __session (and __session_<suffix> when asked) holding a fresh 60-second
// token whose azp is request_origin; for format "token"
// {"object":"token","jwt":…}.
func (s *Server) serveRefresh(w http.ResponseWriter, r *http.Request) {
	var call RefreshCall
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&call); err != nil {
		WriteError(w, http.StatusBadRequest, "request_body_invalid", "The request body is invalid.")
		return
	}
	call.SessionID = r.PathValue("id")
	call.SuffixedCookies = r.URL.Query().Get("suffixed_cookies")
	s.refresh.mu.Lock()
	s.refresh.calls = append(s.refresh.calls, call)
	status, contentType, body := s.refresh.status, s.refresh.contentType, s.refresh.body
	if a, ok := s.refresh.perSession[call.SessionID]; ok && status == 0 {
		status, contentType, body = a.status, a.contentType, a.body
	}
	memoKey := strings.Join([]string{call.SessionID, call.ExpiredToken, call.RefreshToken, call.RequestOrigin, call.Format, call.SuffixedCookies}, "\x00")
	memo, repeated := s.refresh.answers[memoKey]
	s.refresh.mu.Unlock()
	if status == 0 && repeated {
		status, contentType, body = http.StatusOK, "application/json", memo
	}
	if status != 0 {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
		return
	}

	userID, refreshToken := s.sessionByID(call.SessionID)
	switch {
	case userID == "":
		WriteError(w, http.StatusNotFound, "resource_not_found", "Session not found")
		return
	case call.RefreshToken == "" || call.RefreshToken != refreshToken:
		WriteError(w, http.StatusUnauthorized, "authentication_invalid", "The refresh token is invalid for this session.")
		return
	}
	claims, ok := s.verifiedClaims(call.ExpiredToken)
	if !ok || claims["sid"] != call.SessionID || claims["sub"] != userID {
		WriteError(w, http.StatusUnauthorized, "authentication_invalid", "The expired session token is invalid for this session.")
		return
	}

	c := s.SessionClaims(userID)
	c["sid"] = call.SessionID
	if call.RequestOrigin != "" {
		c["azp"] = call.RequestOrigin
	}
	token := s.Sign(c)
	var answer any
	switch call.Format {
	case "token":
		answer = map[string]any{"object": "token", "jwt": token}
	case "cookie":
		attrs := "; Path=/; SameSite=Lax"
		if strings.HasPrefix(call.RequestOrigin, "https://") {
			attrs += "; Secure"
		}
		cookies := []string{"__session=" + token + attrs}
		if call.SuffixedCookies == "true" {
			cookies = append(cookies, "__session_"+s.CookieSuffix()+"="+token+attrs)
		}
		answer = map[string]any{"object": "cookies", "cookies": cookies}
	default:
		WriteError(w, http.StatusUnprocessableEntity, "form_param_value_invalid", "format must be cookie or token")
		return
	}
	b, _ := json.Marshal(answer)
	s.refresh.mu.Lock()
	if s.refresh.repeat {
		if s.refresh.answers == nil {
			s.refresh.answers = map[string]string{}
		}
		s.refresh.answers[memoKey] = string(b)
	}
	s.refresh.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// sessionByID returns the user and refresh token of a live session.
func (s *Server) sessionByID(id string) (userID, refreshToken string) {
	if id == "" {
		return "", ""
	}
	s.fapi.mu.Lock()
	defer s.fapi.mu.Unlock()
	for _, c := range s.fapi.clients {
		if c.sessionID == id {
			return c.userID, c.refreshToken
		}
	}
	return "", ""
}

// verifiedClaims returns the claims of a token signed (RS256) by one of the
// instance's keys.
func (s *Server) verifiedClaims(token string) (Claims, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, false
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	hj, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	pj, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hj, &header) != nil || header.Alg != "RS256" {
		return nil, false
	}
	s.mu.Lock()
	keys := append([]*SigningKey(nil), s.keys...)
	s.mu.Unlock()
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	for _, k := range keys {
		if k.Kid != header.Kid || rsa.VerifyPKCS1v15(&k.Private.PublicKey, crypto.SHA256, digest[:], sig) != nil {
			continue
		}
		var c Claims
		if json.Unmarshal(pj, &c) != nil {
			return nil, false
		}
		return c, true
	}
	return nil, false
}
