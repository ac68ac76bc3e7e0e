package clerktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNewWebhookSecretIsWhsecAndBase64Of24Bytes(t *testing.T) {
	a, b := NewWebhookSecret(), NewWebhookSecret()
	if a == b {
		t.Fatal("two secrets are equal")
	}
	rest, ok := strings.CutPrefix(a, "whsec_")
	if !ok {
		t.Fatalf("%q lacks whsec_", a)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(key) != 24 {
		t.Fatalf("key %d bytes, err %v", len(key), err)
	}
}

// TestSignWebhookIsSignedAsSvixDoes: the headers carry the fake's clock
// and a v1 HMAC-SHA256 computed here by hand; the body is Clerk's envelope.
func TestSignWebhookIsSignedAsSvixDoes(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	s := Start(t, Options{Now: func() time.Time { return at }})
	secret := NewWebhookSecret()
	data := SessionEventData("sess_1", "user_1", "revoked")
	body, h, err := s.SignWebhook(secret, "session.revoked", data)
	if err != nil {
		t.Fatal(err)
	}
	id := h.Get("svix-id")
	if !strings.HasPrefix(id, "msg_") || h.Get("svix-timestamp") != "1700000000" {
		t.Fatalf("headers %v", h)
	}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(at.Unix(), 10) + "." + string(body)))
	if want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); h.Get("svix-signature") != want {
		t.Fatalf("svix-signature %q, want %q", h.Get("svix-signature"), want)
	}
	var env struct {
		Type      string `json:"type"`
		Object    string `json:"object"`
		Timestamp int64  `json:"timestamp"`
		Data      struct {
			ID     string `json:"id"`
			UserID string `json:"user_id"`
			Object string `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	if env.Type != "session.revoked" || env.Object != "event" || env.Timestamp != at.UnixMilli() ||
		env.Data.ID != "sess_1" || env.Data.UserID != "user_1" || env.Data.Object != "session" {
		t.Fatalf("envelope %+v", env)
	}
	if _, _, err := s.SignWebhook("not-a-secret", "user.updated", nil); err == nil {
		t.Fatal("a secret without whsec_ was accepted")
	}
}

// TestSvixSignatureMatchesSvixsPublishedExample: the example of Svix's
// documentation and library tests.
func TestSvixSignatureMatchesSvixsPublishedExample(t *testing.T) {
	sig, err := SvixSignature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if err != nil || sig != "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("signature %q, err %v", sig, err)
	}
}

func TestEventDataHasClerksIDs(t *testing.T) {
	m := MembershipEventData("user_1", "org_1", "org:admin")
	if m["object"] != "organization_membership" ||
		m["organization"].(map[string]any)["id"] != "org_1" ||
		m["public_user_data"].(map[string]any)["user_id"] != "user_1" {
		t.Fatalf("membership %v", m)
	}
	if u := UserEventData("user_2"); u["id"] != "user_2" || u["object"] != "user" {
		t.Fatalf("user %v", u)
	}
	if o := OrganizationEventData("org_3"); o["id"] != "org_3" || o["object"] != "organization" {
		t.Fatalf("organization %v", o)
	}
	if d := DeletedEventData("user", "user_4"); d["id"] != "user_4" || d["deleted"] != true {
		t.Fatalf("deleted %v", d)
	}
}
