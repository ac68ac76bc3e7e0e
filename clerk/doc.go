// Package clerk holds Clerk's wire formats as the service needs them: the
// publishable key and the cookie suffix derived from it, session-token
// claims (v1 and v2, with the SDK's exact permission-bit decoding), the
// compact JWT reader and RS256 verifier, the JSON Web Key source (networkless
// PEM or the Backend API's /v1/jwks), the Backend API client, and the reason
// strings that @clerk/backend reports.
//
// It knows nothing of HTTP proxies or policy: authz builds decisions on top of
// it. Behaviour follows @clerk/backend (packages/backend/src/tokens, jwt) and
// the numbered errata in docs/clerk-protocol.md ("Where we differ from the
// SDK"), which were checked against the SDK itself.
//
// Verifying a session token:
//
//	keys, _ := clerk.NewStaticKeys(pemFromEnv)
//	v := clerk.NewVerifier(keys, clerk.VerifyOptions{AuthorizedParties: []string{"https://app.example.com"}})
//	claims, err := v.Verify(ctx, token)
//	if err != nil {
//		log.Println(clerk.ReasonOf(err)) // e.g. "token-expired"
//	}
package clerk
