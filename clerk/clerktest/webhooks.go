package clerktest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// This file sends Clerk's webhooks as Svix delivers them: the event
// envelope of @clerk/backend's Webhooks.ts, signed with the endpoint's
// "whsec_" secret in the svix-id, svix-timestamp and svix-signature
// headers.

// NewWebhookSecret makes an endpoint signing secret as the Clerk Dashboard
// shows one: "whsec_" and the standard base64 of 24 random bytes.
func NewWebhookSecret() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("crypto/rand failed"))
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// WebhookBody is the JSON of a Clerk webhook of eventType carrying data,
// stamped at (milliseconds, as Clerk's "timestamp" is).
func (s *Server) WebhookBody(eventType string, data any, at time.Time) ([]byte, error) {
	return json.Marshal(map[string]any{
		"type":        eventType,
		"object":      "event",
		"data":        data,
		"timestamp":   at.UnixMilli(),
		"instance_id": s.Key().Kid,
		"event_attributes": map[string]any{
			"http_request": map[string]any{"client_ip": "", "user_agent": ""},
		},
	})
}

// SignWebhook builds a Clerk webhook of eventType carrying data (see the
// *EventData helpers) and signs it as Svix does at the fake's clock
// (Options.Now), with a fresh svix-id. Send body with headers as a POST.
func (s *Server) SignWebhook(secret, eventType string, data any) (body []byte, headers http.Header, err error) {
	now := s.now()
	body, err = s.WebhookBody(eventType, data, now)
	if err != nil {
		return nil, nil, err
	}
	headers, err = SvixHeaders(secret, NewID("msg"), now, body)
	if err != nil {
		return nil, nil, err
	}
	return body, headers, nil
}

// SendWebhook signs a webhook (SignWebhook) and POSTs it to url.
func (s *Server) SendWebhook(ctx context.Context, url, secret, eventType string, data any) (*http.Response, error) {
	body, headers, err := s.SignWebhook(secret, eventType, data)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	return http.DefaultClient.Do(req)
}

// SvixHeaders signs body as Svix does: svix-signature is
// "v1," + base64(HMAC-SHA256(key, msgID + "." + unix seconds + "." + body)),
// the key being the base64 after "whsec_" in secret.
func SvixHeaders(secret, msgID string, at time.Time, body []byte) (http.Header, error) {
	sig, err := SvixSignature(secret, msgID, at.Unix(), body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("svix-id", msgID)
	h.Set("svix-timestamp", strconv.FormatInt(at.Unix(), 10))
	h.Set("svix-signature", "v1,"+sig)
	return h, nil
}

// SvixSignature is the base64 of a message's v1 signature, without "v1,".
func SvixSignature(secret, msgID string, unix int64, body []byte) (string, error) {
	rest, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return "", errors.New("clerktest: webhook secret without whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return "", errors.New("clerktest: webhook secret is not base64 after whsec_")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID + "." + strconv.FormatInt(unix, 10) + "."))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// MembershipEventData is the data of an organizationMembership.* webhook
// (OrganizationMembershipJSON): userID's membership of orgID with role.
func MembershipEventData(userID, orgID, role string) map[string]any {
	u := &fakeUser{id: userID}
	m := &fakeMembership{id: NewID("orgmem"), org: &fakeOrg{id: orgID, slug: orgID, name: orgID}, role: role, permissions: []string{}}
	return m.json(u)
}

// OrganizationEventData is the data of an organization.created/updated
// webhook (OrganizationJSON).
func OrganizationEventData(orgID string) map[string]any {
	return map[string]any{
		"object": "organization", "id": orgID, "name": orgID, "slug": orgID,
		"image_url": "", "has_image": false, "max_allowed_memberships": 0, "admin_delete_enabled": true,
		"public_metadata": map[string]any{}, "private_metadata": map[string]any{},
		"created_by": "", "created_at": 0, "updated_at": 0,
	}
}

// UserEventData is the data of a user.created/updated webhook (UserJSON).
func UserEventData(userID string) map[string]any {
	return (&fakeUser{id: userID}).json()
}

// DeletedEventData is the data of a user.deleted or organization.deleted
// webhook (DeletedObjectJSON): object is "user" or "organization".
func DeletedEventData(object, id string) map[string]any {
	return map[string]any{"object": object, "id": id, "deleted": true}
}

// SessionEventData is the data of a session.* webhook
// (SessionWebhookEventJSON) for sessionID of userID; status is e.g.
// "revoked", "ended" or "removed".
func SessionEventData(sessionID, userID, status string) map[string]any {
	return map[string]any{
		"object": "session", "id": sessionID, "user_id": userID, "client_id": NewID("client"),
		"status": status, "last_active_organization_id": nil, "actor": nil,
		"last_active_at": 0, "expire_at": 0, "abandon_at": 0, "created_at": 0, "updated_at": 0,
		"user": (&fakeUser{id: userID}).json(),
	}
}
