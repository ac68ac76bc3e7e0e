package authz

import "context"

// resolveHandshake completes a handshake whose return carries
// __clerk_handshake or __clerk_handshake_nonce. It reports done=false when
// the request should continue down the cookie path, which is what the SDK
// does when a production handshake cannot be resolved.
//
// Completion (issue #4) is not wired yet: every return continues down the
// cookie path, which fails closed (no cookie is ever set from it).
func (e *Engine) resolveHandshake(ctx context.Context, c *authContext) (authState, bool) {
	return authState{}, false
}
