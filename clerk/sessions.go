package clerk

import (
	"context"
	"fmt"
	"net/url"
)

// SessionStatus is GET /v1/sessions/{id}'s status: "active", "pending",
// or how the session ended ("revoked", "ended", "removed", "expired",
// "abandoned", "replaced"). An unknown session is a 404 *APIError
// (IsNotFound).
func (a *API) SessionStatus(ctx context.Context, sessionID string) (string, error) {
	if !IsIdentifier(sessionID) {
		return "", fmt.Errorf("session id %q is not a Clerk id", sessionID)
	}
	var s struct {
		Object string `json:"object"`
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := a.Get(ctx, "/sessions/"+url.PathEscape(sessionID), nil, &s); err != nil {
		return "", fmt.Errorf("session %s: %w", sessionID, err)
	}
	if s.Status == "" {
		return "", fmt.Errorf("session %s: the answer has no status", sessionID)
	}
	return s.Status, nil
}
