package clerktest

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHandshakeClientUATIsTheTokensIat: the __client_uat a handshake sets
// is the session token's own iat, however the clock moves while the
// directives are built (a later second would make the fresh token look
// issued before the last sign-in and hand-shake again).
func TestHandshakeClientUATIsTheTokensIat(t *testing.T) {
	var ticks atomic.Int64
	start := time.Unix(1_800_000_000, 0)
	s, err := New(Options{Production: true, Now: func() time.Time {
		return start.Add(time.Duration(ticks.Add(1)) * time.Second) // a second per reading
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var token, uat string
	for _, d := range s.handshakeDirectives("user_1", "sess_1", "", "", "https://app.example.test", "https://"+s.FAPIHost, nil, false) {
		name, rest, _ := strings.Cut(d, "=")
		value, _, _ := strings.Cut(rest, ";")
		switch name {
		case "__session":
			token = value
		case "__client_uat":
			uat = value
		}
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("session cookie %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Iat json.Number `json:"iat"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if uat != claims.Iat.String() {
		t.Fatalf("__client_uat %s, token iat %s", uat, claims.Iat)
	}
}
