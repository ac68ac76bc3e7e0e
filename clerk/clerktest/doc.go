// Package clerktest is an in-process fake of Clerk for tests and the local
// demo: it mints session tokens signed with its own RSA keys and serves the
// parts of the Backend API the service calls (GET /v1/jwks, users and
// memberships, handshake payloads, session refresh, and the machine-token
// verify routes, which Clerk serves without /v1), and mints machine
// credentials (API keys, M2M and OAuth tokens, opaque or JWT), with
// Clerk's JSON error shapes, per-instance rate limits
// (100 requests / 10 s for development instances, 1000 / 10 s for production;
// /v1/jwks is not limited), failure injection and call counters.
//
//	fake, _ := clerktest.New(clerktest.Options{})
//	defer fake.Close()
//	token := fake.Sign(fake.SessionClaims("user_123"))
//	// point the service at fake.URL with fake.SecretKey and fake.PublishableKey
package clerktest
