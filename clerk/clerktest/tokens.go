package clerktest

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
)

// Claims is a token payload; any JSON value goes.
type Claims map[string]any

// Header is a token header; any JSON value goes.
type Header map[string]any

// SessionClaims returns the claims of a fresh 60-second session token for
// userID, as Clerk's Frontend API mints them (v2 shape, no organization).
func (s *Server) SessionClaims(userID string) Claims {
	now := s.now().Unix()
	return Claims{
		"iss": "https://" + s.FAPIHost,
		"sub": userID,
		"sid": NewID("sess"),
		"azp": "https://app.example.test",
		"iat": now,
		"nbf": now - 5,
		"exp": now + 60,
		"jti": randomID(20),
		"v":   2,
		"sts": "active",
		"fva": []int{0, -1},
	}
}

// WithOrg adds a v2 active organization to claims: role without the "org:"
// prefix, features as "o:name" entries, permission names and the decimal
// feature-permission masks.
func (c Claims) WithOrg(id, slug, role, features, perms, masks string) Claims {
	c["o"] = map[string]any{"id": id, "slg": slug, "rol": role, "per": perms, "fpm": masks}
	if features != "" {
		c["fea"] = features
	}
	return c
}

// Sign signs claims with the current key and the header Clerk uses.
func (s *Server) Sign(c Claims) string {
	k := s.Key()
	return SignWith(k, Header{"alg": "RS256", "kid": k.Kid, "typ": "JWT", "cat": "cl_B7d4PD111AAA"}, c)
}

// SignWith encodes header and claims and signs them with key according to
// header["alg"]: RS256 (RSA PKCS#1 v1.5), HS256 (HMAC keyed with the public
// key's PEM, the classic algorithm-confusion attack), and anything else
// ("none") with an empty signature.
func SignWith(key *SigningKey, h Header, c Claims) string {
	hj, _ := json.Marshal(h)
	cj, _ := json.Marshal(c)
	return SignRaw(key, h["alg"], hj, cj)
}

// SignRaw signs raw header and payload bytes (which need not be JSON).
func SignRaw(key *SigningKey, alg any, header, payload []byte) string {
	input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	var sig []byte
	switch alg {
	case "RS256":
		d := sha256.Sum256([]byte(input))
		sig, _ = rsa.SignPKCS1v15(rand.Reader, key.Private, crypto.SHA256, d[:])
	case "HS256":
		m := hmac.New(sha256.New, []byte(key.PublicKeyPEM()))
		m.Write([]byte(input))
		sig = m.Sum(nil)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}
