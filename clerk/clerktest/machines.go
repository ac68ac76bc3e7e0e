package clerktest

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The machine-token verify routes, as Calls names them. Clerk serves them
// without the /v1 segment.
const (
	RouteVerifyAPIKey     = "POST /api_keys/verify"                         //nolint:gosec // a route, not a credential
	RouteVerifyM2MToken   = "POST /m2m_tokens/verify"                       //nolint:gosec // a route, not a credential
	RouteVerifyOAuthToken = "POST /oauth_applications/access_tokens/verify" //nolint:gosec // a route, not a credential
)

// APIKey describes an API key for AddAPIKey.
type APIKey struct {
	// Subject owns the key: user_…, org_… or mch_….
	Subject     string
	Name        string
	Description string
	Scopes      []string
	Claims      map[string]any
	// Expiration is when the key stops working; zero: never.
	Expiration time.Time
}

// machineState holds the fake instance's machine credentials by secret.
type machineState struct {
	mu    sync.Mutex
	creds map[string]*credential
}

// credential is one API key, M2M token or OAuth access token.
type credential struct {
	object              string // the answer's "object"
	id                  string
	subject, name, desc string
	clientID            string
	scopes              []string
	claims              map[string]any
	expiration          time.Time
	revoked             bool
	createdAt, lastUsed int64
}

// machineRoute is one verify route: its body field, the credential kind
// it verifies and the 404 message (the one @clerk/backend reports).
type machineRoute struct {
	field, object, notFound string
}

func (s *Server) machineRoutes() {
	routes := []struct {
		pattern string
		keys    routeKeys
		route   machineRoute
	}{
		{RouteVerifyAPIKey, secretKeyOnly, machineRoute{"secret", "api_key", "API key not found"}},
		{RouteVerifyM2MToken, secretOrMachineKey, machineRoute{"token", "machine_to_machine_token", "Machine token not found"}},
		{RouteVerifyOAuthToken, secretKeyOnly, machineRoute{"access_token", "clerk_idp_oauth_access_token", "OAuth token not found"}},
	}
	for _, r := range routes {
		s.mux.Handle(r.pattern, s.backendAPI(r.pattern, true, r.keys, s.serveMachineVerify(r.route)))
	}
}

// AddAPIKey creates an API key and returns its secret (what a client
// presents) and its id.
func (s *Server) AddAPIKey(k APIKey) (secret, id string) {
	secret, id = "ak_"+randomID(40), NewID("ak")
	s.addCredential(secret, &credential{
		object: "api_key", id: id, subject: k.Subject, name: k.Name, desc: k.Description,
		scopes: k.Scopes, claims: k.Claims, expiration: k.Expiration,
	})
	return secret, id
}

// AddM2MToken creates an opaque M2M token for the machine machineID;
// a zero expiration never expires.
func (s *Server) AddM2MToken(machineID string, scopes []string, expiration time.Time) (token, id string) {
	token, id = "mt_"+randomID(40), NewID("mt")
	s.addCredential(token, &credential{
		object: "machine_to_machine_token", id: id, subject: machineID, scopes: scopes, expiration: expiration,
	})
	return token, id
}

// AddOAuthToken creates an opaque OAuth access token issued to the OAuth
// application clientID for userID; a zero expiration never expires.
func (s *Server) AddOAuthToken(userID, clientID string, scopes []string, expiration time.Time) (token, id string) {
	token, id = "oat_"+randomID(40), NewID("oat")
	s.addCredential(token, &credential{
		object: "clerk_idp_oauth_access_token", id: id, subject: userID, clientID: clientID,
		scopes: scopes, expiration: expiration,
	})
	return token, id
}

func (s *Server) addCredential(secret string, c *credential) {
	c.scopes = append([]string{}, c.scopes...)
	c.createdAt = s.now().UnixMilli()
	m := &s.machines
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.creds == nil {
		m.creds = map[string]*credential{}
	}
	m.creds[secret] = c
}

// RevokeAPIKey revokes the API key with that id: it verifies no more.
func (s *Server) RevokeAPIKey(id string) { s.revoke("api_key", id) }

// RevokeM2MToken revokes the M2M token with that id.
func (s *Server) RevokeM2MToken(id string) { s.revoke("machine_to_machine_token", id) }

// RevokeOAuthToken revokes the OAuth access token with that id.
func (s *Server) RevokeOAuthToken(id string) { s.revoke("clerk_idp_oauth_access_token", id) }

func (s *Server) revoke(object, id string) {
	m := &s.machines
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.creds {
		if c.object == object && c.id == id {
			c.revoked = true
		}
	}
}

// serveMachineVerify is one of the verify routes: body {field: secret}.
// A missing or empty field is 400 form_param_missing, a body that is not
// a JSON object or a field that is not a string 400
// form_param_format_invalid; an unknown, revoked or expired credential
// (of this route's kind) 404 resource_not_found; a valid one 200 with the
// resource.
func (s *Server) serveMachineVerify(route machineRoute) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body map[string]json.RawMessage
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil || body == nil {
			WriteError(w, http.StatusBadRequest, "form_param_format_invalid", "the request body must be a JSON object")
			return
		}
		raw, ok := body[route.field]
		if !ok || string(raw) == "null" {
			WriteError(w, http.StatusBadRequest, "form_param_missing", route.field+" must be included")
			return
		}
		var secret string
		if err := json.Unmarshal(raw, &secret); err != nil {
			WriteError(w, http.StatusBadRequest, "form_param_format_invalid", route.field+" must be a string")
			return
		}
		if secret == "" {
			WriteError(w, http.StatusBadRequest, "form_param_missing", route.field+" must be included")
			return
		}
		now := s.now()
		m := &s.machines
		m.mu.Lock()
		c := m.creds[secret]
		var answer map[string]any
		if c != nil && c.object == route.object && !c.revoked && (c.expiration.IsZero() || now.Before(c.expiration)) {
			c.lastUsed = now.UnixMilli()
			answer = c.json()
		}
		m.mu.Unlock()
		if answer == nil {
			WriteError(w, http.StatusNotFound, "resource_not_found", route.notFound)
			return
		}
		WriteJSON(w, http.StatusOK, answer)
	}
}

// json is the credential as the Backend API answers a verify call; the
// caller holds the lock.
func (c *credential) json() map[string]any {
	var expiration any
	if !c.expiration.IsZero() {
		expiration = c.expiration.UnixMilli()
	}
	out := map[string]any{
		"object": c.object, "id": c.id, "subject": c.subject, "scopes": append([]string{}, c.scopes...),
		"revoked": c.revoked, "revocation_reason": nil, "expired": false, "expiration": expiration,
		"created_at": c.createdAt, "updated_at": c.createdAt,
	}
	switch c.object {
	case "api_key":
		out["type"], out["name"], out["description"] = "api_key", c.name, nullable(c.desc)
		out["claims"], out["created_by"], out["last_used_at"] = c.claims, nil, c.lastUsed
	case "machine_to_machine_token":
		out["claims"] = c.claims
	case "clerk_idp_oauth_access_token":
		out["type"], out["client_id"], out["aud"] = "oauth_token", c.clientID, nil
	}
	return out
}

// SignM2MJWT mints an M2M token in JWT form for machineID, signed with
// the instance key as Clerk mints them: typ JWT, cat cl_B7d4PD333AAA,
// scopes space-separated (absent when there are none).
func (s *Server) SignM2MJWT(machineID string, scopes []string, ttl time.Duration) (token, id string) {
	now := s.now().Unix()
	id = NewID("mt")
	c := Claims{"iss": "https://" + s.FAPIHost, "sub": machineID, "jti": id, "iat": now, "nbf": now - 5, "exp": now + int64(ttl.Seconds())}
	if len(scopes) > 0 {
		c["scopes"] = strings.Join(scopes, " ")
	}
	k := s.Key()
	return SignWith(k, Header{"alg": "RS256", "kid": k.Kid, "typ": "JWT", "cat": "cl_B7d4PD333AAA"}, c), id
}

// SignOAuthJWT mints an OAuth access token in JWT form (typ at+jwt) for
// userID, issued to clientID, signed with the instance key; scopes go in
// "scope", space-separated (absent when there are none).
func (s *Server) SignOAuthJWT(userID, clientID string, scopes []string, ttl time.Duration) (token, id string) {
	now := s.now().Unix()
	id = NewID("oat")
	c := Claims{
		"iss": "https://" + s.FAPIHost, "sub": userID, "client_id": clientID, "jti": id,
		"iat": now, "nbf": now - 5, "exp": now + int64(ttl.Seconds()),
	}
	if len(scopes) > 0 {
		c["scope"] = strings.Join(scopes, " ")
	}
	k := s.Key()
	return SignWith(k, Header{"alg": "RS256", "kid": k.Kid, "typ": "at+jwt"}, c), id
}
